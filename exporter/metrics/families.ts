// Registers every catalog family in a private prom-client Registry. Container, process and
// collector families are filled in collect() from the scrape's shared snapshot; probe
// families are updated by the probe runners; exporter families are set once at start.

import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { WorkloadIdentity } from '../config.ts';
import { SNAPSHOT_FAMILIES, type Samples } from '../scrape/samples.ts';
import {
  METRICS,
  PROBE_DURATION_BUCKETS,
  RUNTIME_PREFIX,
  type MetricKey,
  type MetricSpec,
} from './catalog.ts';
import { LagWindow, sampleEventLoopLag, type LagStats } from './event-loop.ts';

export interface ProbeFamilies {
  info: Gauge;
  duration: Histogram;
  phase: Gauge;
  success: Gauge;
  statusCode: Gauge;
  failures: Counter;
}

export interface FamiliesDeps {
  registry: Registry;
  logger: Logger;
  /** This scrape's samples; shared by every family's collect(). Never rejects. */
  samples: () => Promise<Samples>;
  version: string;
  workload?: WorkloadIdentity;
  seriesLimit: number;
  /** Monotonic milliseconds (the event-loop lag sampler). */
  now?: () => number;
}

export interface Families {
  probes: ProbeFamilies;
  seriesDropped: Counter;
}

/** prom-client's "*_total" gauges break the counter naming rule promtool checks. */
const RUNTIME_GAUGES_NAMED_TOTAL = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** The event-loop families prom-client would fill with timer periods and empty histograms. */
const LAG_FAMILIES: readonly [MetricKey, keyof LagStats][] = [
  ['runtimeEventLoopLagSeconds', 'last'],
  ['runtimeEventLoopLagMinSeconds', 'min'],
  ['runtimeEventLoopLagMaxSeconds', 'max'],
  ['runtimeEventLoopLagMeanSeconds', 'mean'],
  ['runtimeEventLoopLagStddevSeconds', 'stddev'],
  ['runtimeEventLoopLagP50Seconds', 'p50'],
  ['runtimeEventLoopLagP90Seconds', 'p90'],
  ['runtimeEventLoopLagP99Seconds', 'p99'],
];
const LAG_SAMPLE_MS = 1000;
const LAG_WINDOW_SAMPLES = 60;

function eventLoopFamilies(registry: Registry, now: () => number): void {
  for (const [key] of LAG_FAMILIES) registry.removeSingleMetric(METRICS[key].name);
  const window = new LagWindow(LAG_WINDOW_SAMPLES);
  sampleEventLoopLag(window, LAG_SAMPLE_MS, now);
  const gauges = new Map<keyof LagStats, Gauge>();
  for (const [key, stat] of LAG_FAMILIES) {
    if (stat !== 'last') {
      gauges.set(stat, new Gauge(base(METRICS[key], registry)));
      continue;
    }
    new Gauge({
      ...base(METRICS[key], registry),
      // One collect sets them all, from one reading of the window.
      collect: function (this: Gauge) {
        const stats = window.stats();
        this.set(stats.last);
        for (const [name, gauge] of gauges) gauge.set(stats[name]);
      },
    });
  }
}

function base(spec: MetricSpec, registry: Registry) {
  return { name: spec.name, help: spec.help, labelNames: [...spec.labels], registers: [registry] };
}

function snapshotFamily(key: MetricKey, deps: FamiliesDeps): void {
  const spec = METRICS[key];
  const { logger, samples } = deps;
  // `function`, not an arrow: prom-client calls collect with the metric as `this`.
  if (spec.type === 'counter') {
    new Counter({
      ...base(spec, deps.registry),
      collect: async function (this: Counter) {
        try {
          const all = await samples();
          this.reset();
          for (const s of all.get(key) ?? []) this.inc(s.labels, s.value);
        } catch (err) {
          this.reset();
          logger.error({ err, metric: spec.name }, 'collect failed');
        }
      },
    });
  } else {
    new Gauge({
      ...base(spec, deps.registry),
      collect: async function (this: Gauge) {
        try {
          const all = await samples();
          this.reset();
          for (const s of all.get(key) ?? []) this.set(s.labels, s.value);
        } catch (err) {
          this.reset();
          logger.error({ err, metric: spec.name }, 'collect failed');
        }
      },
    });
  }
}

export function registerFamilies(deps: FamiliesDeps): Families {
  const { registry } = deps;
  const buildInfo = new Gauge(base(METRICS.buildInfo, registry));
  buildInfo.set({ version: deps.version, nodejs_version: process.versions.node }, 1);
  const workloadInfo = new Gauge(base(METRICS.workloadInfo, registry));
  if (deps.workload) {
    workloadInfo.set(
      {
        workload_kind: deps.workload.kind,
        workload_namespace: deps.workload.namespace,
        workload_name: deps.workload.name,
        monitor: deps.workload.monitor,
      },
      1,
    );
  }
  new Gauge(base(METRICS.seriesLimit, registry)).set(deps.seriesLimit);
  const seriesDropped = new Counter(base(METRICS.seriesDropped, registry));
  for (const key of SNAPSHOT_FAMILIES) snapshotFamily(key, deps);

  const probes: ProbeFamilies = {
    info: new Gauge(base(METRICS.probeInfo, registry)),
    duration: new Histogram({
      ...base(METRICS.probeDurationSeconds, registry),
      buckets: [...PROBE_DURATION_BUCKETS],
    }),
    phase: new Gauge(base(METRICS.probePhaseDurationSeconds, registry)),
    success: new Gauge(base(METRICS.probeSuccess, registry)),
    statusCode: new Gauge(base(METRICS.probeStatusCode, registry)),
    failures: new Counter(base(METRICS.probeFailures, registry)),
  };

  collectDefaultMetrics({
    register: registry,
    prefix: RUNTIME_PREFIX,
    // Its event-loop histogram is replaced below: let its timer practically never fire.
    eventLoopMonitoringPrecision: 2 ** 31 - 1,
  });
  for (const name of RUNTIME_GAUGES_NAMED_TOTAL) registry.removeSingleMetric(RUNTIME_PREFIX + name);
  eventLoopFamilies(registry, deps.now ?? (() => performance.now()));
  return { probes, seriesDropped };
}
