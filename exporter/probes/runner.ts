// Runs each configured probe on its own schedule (never per scrape: a scrape must not wait for
// the app, and a burst of scrapes must not become a burst of requests). Timers are unref'd and
// jittered so many pods started together do not probe in lockstep.

import type { Logger } from 'pino';
import { headerValueProblem, type ProbeConfig } from '../config.ts';
import type { ProbeFamilies } from '../metrics/families.ts';
import { PROBE_PHASES } from '../metrics/catalog.ts';
import { httpAttempt } from './http-probe.ts';
import type { ProbeOutcome } from './outcome.ts';
import { tcpAttempt } from './tcp-probe.ts';

export interface ProbeRunnerDeps {
  probes: readonly ProbeConfig[];
  families: ProbeFamilies;
  logger: Logger;
  now: () => number;
  /** Random number in [0, 1): injected so tests can pin the jitter. */
  random: () => number;
  userAgent: string;
  env: Readonly<Record<string, string | undefined>>;
  /** One attempt; defaults to the real probes (tests of the schedule replace it). */
  attempt?: (probe: ProbeConfig, signal: AbortSignal) => Promise<ProbeOutcome>;
}

/** Header values by probe name; a header from a missing env var is a config error at start. */
export function resolveHeaders(
  probes: readonly ProbeConfig[],
  env: Readonly<Record<string, string | undefined>>,
): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const [i, p] of probes.entries()) {
    if (p.type !== 'http') continue;
    const headers: Record<string, string> = {};
    for (const [j, h] of p.headers.entries()) {
      const value = h.value ?? env[h.valueFromEnv ?? ''];
      if (value === undefined)
        throw new Error(
          `probes[${i}].headers[${j}]: environment variable ${h.valueFromEnv} is not set`,
        );
      const problem = headerValueProblem(value);
      if (problem !== undefined)
        throw new Error(
          `probes[${i}].headers[${j}]: ${h.valueFromEnv ? `value of ${h.valueFromEnv}: ` : ''}${problem}`,
        );
      headers[h.name.toLowerCase()] = value;
    }
    out.set(p.name, headers);
  }
  return out;
}

const FIRST_ATTEMPT_WINDOW_S = 2;

/** node:http2 costs ~1 MB of RSS: loaded only by an exporter that has a gRPC probe. */
const loadGrpcProbe = () => import('./grpc-probe.ts');

export class ProbeRunner {
  private readonly deps: ProbeRunnerDeps;
  private readonly headers: Map<string, Record<string, string>>;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly controller = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private readonly lastReason = new Map<string, string | undefined>();

  constructor(deps: ProbeRunnerDeps) {
    this.deps = deps;
    this.headers = resolveHeaders(deps.probes, deps.env);
    for (const p of deps.probes) {
      deps.families.info.set(
        { probe: p.name, type: p.type, container: p.container ?? '', source: p.source },
        1,
      );
    }
  }

  /**
   * First attempts within two seconds (or the interval, if shorter), spread at random so pods
   * started together do not probe in step; later ones every interval ±10%.
   */
  start(): void {
    for (const p of this.deps.probes) {
      const window = Math.min(p.intervalSeconds, FIRST_ATTEMPT_WINDOW_S);
      this.schedule(p, this.deps.random() * window * 1000);
    }
  }

  private schedule(probe: ProbeConfig, delayMs: number): void {
    if (this.controller.signal.aborted) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const started = this.deps.now();
      const attempt = this.attempt(probe).finally(() => {
        this.running.delete(attempt);
        const spent = this.deps.now() - started;
        // ±10% jitter around the interval, counted from the attempt's start.
        const interval = probe.intervalSeconds * 1000 * (0.9 + 0.2 * this.deps.random());
        this.schedule(probe, Math.max(0, interval - spent));
      });
      this.running.add(attempt);
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  private async attempt(probe: ProbeConfig): Promise<void> {
    const { now } = this.deps;
    const signal = this.controller.signal;
    let outcome: ProbeOutcome;
    try {
      outcome = this.deps.attempt
        ? await this.deps.attempt(probe, signal)
        : probe.type === 'http'
          ? await httpAttempt({
              probe,
              headers: this.headers.get(probe.name) ?? {},
              userAgent: this.deps.userAgent,
              now,
              signal,
            })
          : probe.type === 'grpc'
            ? await (
                await loadGrpcProbe()
              ).grpcAttempt({ probe, userAgent: this.deps.userAgent, now, signal })
            : await tcpAttempt(probe, now, signal);
    } catch (err) {
      // Attempts return outcomes; this is a bug guard, not a path we expect.
      this.deps.logger.error({ err, probe: probe.name }, 'probe attempt threw');
      return;
    }
    if (signal.aborted) return;
    this.record(probe, outcome);
  }

  private record(probe: ProbeConfig, outcome: ProbeOutcome): void {
    const { families } = this.deps;
    const labels = { probe: probe.name };
    families.duration.observe(labels, outcome.phases.total ?? 0);
    for (const phase of PROBE_PHASES) {
      const value = outcome.phases[phase];
      if (value === undefined) families.phase.remove({ probe: probe.name, phase });
      else families.phase.set({ probe: probe.name, phase }, value);
    }
    families.success.set(labels, outcome.success ? 1 : 0);
    if (probe.type === 'http') families.statusCode.set(labels, outcome.statusCode);
    if (outcome.reason) families.failures.inc({ probe: probe.name, reason: outcome.reason });
    // Log transitions only: a failing probe every 10 s must not flood the log.
    const previous = this.lastReason.get(probe.name);
    if (outcome.reason !== previous) {
      if (outcome.reason)
        this.deps.logger.warn(
          { probe: probe.name, reason: outcome.reason, detail: outcome.error?.message },
          'probe failing',
        );
      else if (this.lastReason.has(probe.name))
        this.deps.logger.info({ probe: probe.name }, 'probe recovered');
      this.lastReason.set(probe.name, outcome.reason);
    }
  }

  /** Stops scheduling, aborts attempts in flight and waits for them to settle. */
  async stop(): Promise<void> {
    this.controller.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
  }
}
