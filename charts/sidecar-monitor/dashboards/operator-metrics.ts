// The operator's metric family names, taken from the operator's own registry rather than
// spelled here: a renamed family changes the dashboards and alerts on the next generate,
// and a removed one fails the generator (and the drift test) instead of leaving a panel
// that queries nothing.
import { createMetrics, type OperatorMetrics } from '../../../operator/manager/metrics.ts';
import { METRICS, RUNTIME_PREFIX } from '../../../exporter/metrics/catalog.ts';

type Family = Exclude<keyof OperatorMetrics, 'registry'>;

export interface OperatorMetricNames {
  readonly families: Readonly<Record<Family, string>>;
  /** Each family's type as the registry reports it (counter, gauge, histogram, summary). */
  readonly types: ReadonlyMap<string, string>;
  /** prom-client's default process metrics, unprefixed in the operator. */
  readonly processCpuSeconds: string;
  readonly processResidentMemoryBytes: string;
}

const FAMILIES: readonly Family[] = [
  'reconciles',
  'reconcileDuration',
  'queueDepth',
  'workloadWrites',
  'workloads',
  'rollouts',
  'apiRequests',
  'apiRequestDuration',
  'informerFailures',
  'leader',
  'buildInfo',
];

export function operatorMetricNames(): OperatorMetricNames {
  const metrics = createMetrics('generator');
  // The registry hands back the metric objects themselves, each with its family name.
  const registered = metrics.registry.getMetricsAsArray();
  const nameOf = (family: Family): string => {
    const found = registered.find((m) => m === metrics[family]);
    if (!found) throw new Error(`operator metric ${family} is not in the operator's registry`);
    return found.name;
  };
  const runtime = (exporterName: string): string => {
    const name = exporterName.slice(RUNTIME_PREFIX.length);
    if (!registered.some((m) => m.name === name)) {
      throw new Error(`the operator's registry has no ${name}`);
    }
    return name;
  };
  const families = Object.fromEntries(FAMILIES.map((f) => [f, nameOf(f)])) as Record<
    Family,
    string
  >;
  return {
    families,
    types: new Map(registered.map((m) => [m.name, String(m.type)])),
    processCpuSeconds: runtime(METRICS.runtimeProcessCpuSeconds.name),
    processResidentMemoryBytes: runtime(METRICS.runtimeProcessResidentMemoryBytes.name),
  };
}
