// The probe schedule (timing logic: fake timers, a scripted attempt) and what a result does to
// the probe families.

import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ProbeConfig } from '../../../exporter/config.ts';
import { registerFamilies } from '../../../exporter/metrics/families.ts';
import { METRICS } from '../../../exporter/metrics/catalog.ts';
import type { ProbeOutcome } from '../../../exporter/probes/outcome.ts';
import { ProbeRunner, resolveHeaders } from '../../../exporter/probes/runner.ts';

const logger = pino({ level: 'silent' });
const probe = (name: string, intervalSeconds: number): ProbeConfig => ({
  type: 'tcp',
  name,
  source: 'monitor',
  port: 1,
  intervalSeconds,
  timeoutSeconds: 1,
});

function setup(
  probes: ProbeConfig[],
  attempt: (p: ProbeConfig, s: AbortSignal) => Promise<ProbeOutcome>,
  random = () => 0.5,
) {
  const registry = new Registry();
  const families = registerFamilies({
    registry,
    logger,
    samples: () => Promise.resolve(new Map()),
    version: 'test',
    seriesLimit: 100,
  });
  const runner = new ProbeRunner({
    probes,
    families: families.probes,
    logger,
    now: () => Date.now(),
    random,
    userAgent: 'test',
    env: {},
    attempt,
  });
  return { registry, runner };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('probe schedule', () => {
  it('first attempt within 2 s, then every interval ±10%, never two at once for one probe', async () => {
    vi.useFakeTimers();
    const starts: number[] = [];
    let inFlight = 0;
    let overlap = false;
    const { runner } = setup([probe('p', 10)], async () => {
      starts.push(Date.now());
      overlap ||= inFlight > 0;
      inFlight++;
      await new Promise((r) => setTimeout(r, 3000));
      inFlight--;
      return { success: true, statusCode: 0, phases: { total: 3 } };
    });
    const t0 = Date.now();
    runner.start();
    await vi.advanceTimersByTimeAsync(45_000);
    await runner.stop();
    expect(starts[0]! - t0).toBe(1000); // random 0.5 × min(10 s, 2 s)
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(3);
    for (const gap of gaps) expect(gap).toBe(10_000); // random 0.5 → exactly the interval
    expect(overlap).toBe(false);
  });

  it('jitter stays within ±10% of the interval', async () => {
    vi.useFakeTimers();
    const starts: number[] = [];
    let r = 0;
    const { runner } = setup(
      [probe('p', 10)],
      () => {
        starts.push(Date.now());
        return Promise.resolve({ success: true, statusCode: 0, phases: { total: 0 } });
      },
      () => [0, 0.999][r++ % 2]!,
    );
    runner.start();
    await vi.advanceTimersByTimeAsync(60_000);
    await runner.stop();
    for (const gap of starts.slice(1).map((t, i) => t - starts[i]!)) {
      expect(gap).toBeGreaterThanOrEqual(9000);
      expect(gap).toBeLessThanOrEqual(11_000);
    }
  });

  it('stop() aborts attempts in flight and schedules nothing more', async () => {
    let aborted = false;
    let calls = 0;
    const { runner } = setup(
      [probe('p', 1)],
      (_p, signal) => {
        calls++;
        return new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve({ success: false, statusCode: 0, reason: 'timeout', phases: {} });
          });
        });
      },
      () => 0,
    );
    runner.start();
    await new Promise((r) => setTimeout(r, 50));
    await runner.stop();
    expect(aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 1200));
    expect(calls).toBe(1);
  });
});

describe('probe results in metrics', () => {
  it('records success, status, phases, the histogram and failures by reason', async () => {
    const outcomes: ProbeOutcome[] = [
      {
        success: true,
        statusCode: 200,
        phases: { connect: 0.001, first_byte: 0.002, total: 0.003 },
      },
      { success: false, statusCode: 0, reason: 'refused', phases: { total: 0.0005 } },
    ];
    vi.useFakeTimers();
    const http: ProbeConfig = {
      type: 'http',
      name: 'h',
      source: 'monitor',
      port: 1,
      path: '/',
      scheme: 'HTTP',
      headers: [],
      intervalSeconds: 1,
      timeoutSeconds: 1,
      insecureSkipVerify: false,
    };
    const { registry, runner } = setup(
      [http],
      () =>
        Promise.resolve(
          outcomes.shift() ?? { success: true, statusCode: 200, phases: { total: 0.001 } },
        ),
      () => 0,
    );
    runner.start();
    await vi.advanceTimersByTimeAsync(1);
    const first = await registry.getSingleMetricAsString(METRICS.probePhaseDurationSeconds.name);
    expect(first).toContain('phase="first_byte"} 0.002');
    await vi.advanceTimersByTimeAsync(1000);
    await runner.stop();
    const json = await registry.getMetricsAsJSON();
    const family = (name: string) => json.find((f) => f.name === name)?.values ?? [];
    expect(family(METRICS.probeSuccess.name)).toEqual([{ labels: { probe: 'h' }, value: 0 }]);
    expect(family(METRICS.probeStatusCode.name)).toEqual([{ labels: { probe: 'h' }, value: 0 }]);
    expect(family(METRICS.probeFailures.name)).toEqual([
      { labels: { probe: 'h', reason: 'refused' }, value: 1 },
    ]);
    // Phases not reached by the failed attempt are gone, not stale.
    expect(family(METRICS.probePhaseDurationSeconds.name).map((v) => v.labels.phase)).toEqual([
      'total',
    ]);
    const count = family(METRICS.probeDurationSeconds.name).find((v) =>
      (v as { metricName?: string }).metricName?.endsWith('_count'),
    );
    expect(count?.value).toBe(2);
  });

  it('resolves header values from the environment and rejects line breaks (RFC 9110)', () => {
    const http = (
      headers: { name: string; value?: string; valueFromEnv?: string }[],
    ): ProbeConfig => ({
      type: 'http',
      name: 'h',
      source: 'monitor',
      port: 1,
      path: '/',
      scheme: 'HTTP',
      headers,
      intervalSeconds: 1,
      timeoutSeconds: 1,
      insecureSkipVerify: false,
    });
    expect(
      resolveHeaders(
        [
          http([
            { name: 'Authorization', valueFromEnv: 'TOKEN' },
            { name: 'Host', value: 'app' },
          ]),
        ],
        { TOKEN: 'Bearer x' },
      ).get('h'),
    ).toEqual({
      authorization: 'Bearer x',
      host: 'app',
    });
    expect(() =>
      resolveHeaders([http([{ name: 'A', valueFromEnv: 'T' }])], { T: 'a\r\nInjected: 1' }),
    ).toThrow(/value of [A-Z_]*: U\+000[AD]/);
    expect(() => resolveHeaders([http([{ name: 'A', valueFromEnv: 'T' }])], {})).toThrow(
      /T is not set/,
    );
  });
});
