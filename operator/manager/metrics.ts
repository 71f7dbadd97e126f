// The operator's own metrics, on a private registry (never prom-client's global one).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface OperatorMetrics {
  registry: Registry;
  /** Read at scrape time; the manager plugs its queues and state in once they exist. */
  sources: MetricsSources;
  reconciles: Counter<'controller' | 'result'>;
  reconcileDuration: Histogram<'controller'>;
  queueDepth: Gauge<'controller'>;
  workloadWrites: Counter<'kind' | 'action'>;
  workloads: Gauge<'state'>;
  rollouts: Gauge<'state'>;
  apiRequests: Counter<'method' | 'code'>;
  apiRequestDuration: Histogram<'method'>;
  informerFailures: Counter<'resource' | 'reason'>;
  leader: Gauge;
  buildInfo: Gauge<'version'>;
}

/** prom-client's *_total gauges break `promtool check metrics` (a gauge named like a counter). */
const DROPPED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export interface MetricsSources {
  queueDepth?: () => Record<string, number>;
  workloadStates?: () => Record<string, number>;
  rolloutStates?: () => Record<string, number>;
}

export function createMetrics(version: string, sources: MetricsSources = {}): OperatorMetrics {
  const live: MetricsSources = { ...sources };
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  for (const name of DROPPED_DEFAULTS) registry.removeSingleMetric(name);
  const p = 'sidecar_monitor_operator_';
  const fromSource = (gauge: Gauge, label: string, read?: () => Record<string, number>) => {
    if (!read) return;
    gauge.reset();
    for (const [value, n] of Object.entries(read())) gauge.set({ [label]: value }, n);
  };
  const metrics: OperatorMetrics = {
    registry,
    sources: live,
    reconciles: new Counter({
      name: `${p}reconcile_total`,
      help: 'Reconciles by controller and result (success or error).',
      labelNames: ['controller', 'result'],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: `${p}reconcile_duration_seconds`,
      help: 'Time spent in one reconcile.',
      labelNames: ['controller'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: `${p}queue_depth`,
      help: 'Keys waiting in the work queue.',
      labelNames: ['controller'],
      registers: [registry],
      collect(this: Gauge<'controller'>) {
        fromSource(this, 'controller', live.queueDepth);
      },
    }),
    workloadWrites: new Counter({
      name: `${p}workload_writes_total`,
      help: 'Server-side-apply writes to workloads, by kind and action (inject, update, remove).',
      labelNames: ['kind', 'action'],
      registers: [registry],
    }),
    workloads: new Gauge({
      name: `${p}workloads`,
      help: 'Workloads selected by a SidecarMonitor, by state (Injected, Pending, RollingOut, RolloutFailed, Skipped, Conflict).',
      labelNames: ['state'],
      registers: [registry],
      collect(this: Gauge<'state'>) {
        fromSource(this, 'state', live.workloadStates);
      },
    }),
    rollouts: new Gauge({
      name: `${p}rollouts`,
      help: 'Rollouts started by the operator: in progress (holding a slot) or waiting for a slot.',
      labelNames: ['state'],
      registers: [registry],
      collect(this: Gauge<'state'>) {
        fromSource(this, 'state', live.rolloutStates);
      },
    }),
    apiRequests: new Counter({
      name: `${p}api_requests_total`,
      help: 'Requests to the Kubernetes API server by method and status code ("error": no response).',
      labelNames: ['method', 'code'],
      registers: [registry],
    }),
    apiRequestDuration: new Histogram({
      name: `${p}api_request_duration_seconds`,
      help: 'Latency of requests to the Kubernetes API server (watches excluded).',
      labelNames: ['method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    informerFailures: new Counter({
      name: `${p}informer_failures_total`,
      help: 'List or watch failures of the informers (each is retried with backoff).',
      labelNames: ['resource', 'reason'],
      registers: [registry],
    }),
    leader: new Gauge({
      name: `${p}leader`,
      help: '1 while this replica holds the leader lease.',
      registers: [registry],
    }),
    buildInfo: new Gauge({
      name: `${p}build_info`,
      help: 'Always 1; the version label says which operator runs.',
      labelNames: ['version'],
      registers: [registry],
    }),
  };
  metrics.buildInfo.set({ version }, 1);
  metrics.leader.set(0);
  return metrics;
}
