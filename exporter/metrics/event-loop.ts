// Event-loop lag of the exporter itself, with the names prom-client uses (dashboards read them)
// but figures that mean what the names say under any scrape pattern. prom-client's version
// reported Node's monitorEventLoopDelay histogram, whose samples are the whole timer period
// (~1.0 s at the 1 s resolution the exporter runs with, idle), and reset it at every scrape:
// two scrapes less than a second apart (an HA Prometheus pair) read an empty histogram
// (min 9223372036.85, mean NaN, max 0), and each replica saw only the samples since the other's.
//
// Here a timer samples once a second how late it fired (the delay beyond its period), into a
// window of two histograms rotated every minute: a scrape reads the last one to two minutes,
// whoever else scrapes, and never resets anything.

import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

export interface LagStats {
  /** The latest sample. */
  last: number;
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
}

/** Lags in seconds over the current and the previous window. Pure (no timers). */
export class LagWindow {
  private current: RecordableHistogram = createHistogram();
  private previous: RecordableHistogram = createHistogram();
  private samples = 0;
  private lastNs = 0;
  private readonly windowSamples: number;

  constructor(windowSamples: number) {
    this.windowSamples = windowSamples;
  }

  /** One sample: how late the timer fired, in nanoseconds (0 when on time). */
  record(lagNs: number): void {
    this.lastNs = Math.max(0, lagNs);
    // The histogram's lowest trackable value is 1 ns.
    this.current.record(Math.max(1, Math.round(lagNs)));
    if (++this.samples >= this.windowSamples) {
      this.previous = this.current;
      this.current = createHistogram();
      this.samples = 0;
    }
  }

  /** Zeros until the first sample: no lag recorded, never the histogram's empty sentinels. */
  stats(): LagStats {
    const all = createHistogram();
    all.add(this.previous);
    all.add(this.current);
    if (all.count === 0)
      return { last: 0, min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };
    const s = (ns: number) => (ns <= 1 ? 0 : ns / 1e9);
    return {
      last: this.lastNs / 1e9,
      min: s(all.min),
      max: s(all.max),
      mean: s(all.mean),
      stddev: all.stddev / 1e9,
      p50: s(all.percentile(50)),
      p90: s(all.percentile(90)),
      p99: s(all.percentile(99)),
    };
  }
}

/** Samples the loop's lag every `periodMs` into a window; the timer never keeps the process up. */
export function sampleEventLoopLag(
  window: LagWindow,
  periodMs: number,
  now: () => number,
): NodeJS.Timeout {
  let expected = now() + periodMs;
  const timer = setInterval(() => {
    const t = now();
    window.record(Math.max(0, t - expected) * 1e6);
    expected = t + periodMs;
  }, periodMs);
  timer.unref();
  return timer;
}
