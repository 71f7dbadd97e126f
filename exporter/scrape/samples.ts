// Snapshot → metric samples, per catalog family. Pure: the registry's collect() functions
// only copy these into prom-client metrics.

import type { TargetContainer } from '../config.ts';
import { METRICS, type MetricKey } from '../metrics/catalog.ts';
import type { Snapshot } from './snapshot.ts';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export type Samples = Map<MetricKey, Sample[]>;

/** Families filled from a snapshot (the others are updated by probes or set at start). */
export const SNAPSHOT_FAMILIES: readonly MetricKey[] = (Object.keys(METRICS) as MetricKey[]).filter(
  (key) =>
    METRICS[key].group === 'container' ||
    METRICS[key].group === 'process' ||
    key === 'scrapeCollectorDurationSeconds' ||
    key === 'scrapeCollectorSuccess' ||
    key === 'collectorDegraded',
);

function push(out: Samples, key: MetricKey, labels: Record<string, string>, value: number): void {
  const list = out.get(key);
  if (list) list.push({ labels, value });
  else out.set(key, [{ labels, value }]);
}

function specValues(target: TargetContainer): Partial<Record<MetricKey, number>> {
  const v: Partial<Record<MetricKey, number>> = {};
  if (target.requests?.cpuCores !== undefined)
    v.containerRequestsCpuCores = target.requests.cpuCores;
  if (target.requests?.memoryBytes !== undefined)
    v.containerRequestsMemoryBytes = target.requests.memoryBytes;
  if (target.limits?.cpuCores !== undefined) v.containerLimitsCpuCores = target.limits.cpuCores;
  if (target.limits?.memoryBytes !== undefined)
    v.containerLimitsMemoryBytes = target.limits.memoryBytes;
  return v;
}

export function snapshotSamples(snapshot: Snapshot, targets: readonly TargetContainer[]): Samples {
  const out: Samples = new Map();
  const seen = new Set<string>();
  const add = (container: string, values: Partial<Record<MetricKey, number>>) => {
    for (const [key, value] of Object.entries(values) as [MetricKey, number][])
      push(out, key, { container }, value);
  };
  for (const c of snapshot.containers) {
    seen.add(c.name);
    push(out, 'containerProcesses', { container: c.name }, c.processCount);
    if (c.cgroup?.stats) add(c.name, c.cgroup.stats.values);
    if (c.process) {
      add(c.name, c.process.values);
      const { cpuUser, cpuSystem, ctxVoluntary, ctxInvoluntary } = c.process.counters;
      if (cpuUser !== undefined)
        push(out, 'processCpuSeconds', { container: c.name, mode: 'user' }, cpuUser);
      if (cpuSystem !== undefined)
        push(out, 'processCpuSeconds', { container: c.name, mode: 'system' }, cpuSystem);
      if (ctxVoluntary !== undefined)
        push(out, 'processContextSwitches', { container: c.name, type: 'voluntary' }, ctxVoluntary);
      if (ctxInvoluntary !== undefined)
        push(
          out,
          'processContextSwitches',
          { container: c.name, type: 'involuntary' },
          ctxInvoluntary,
        );
    }
    const target = targets.find((t) => t.name === c.name);
    if (target) add(c.name, specValues(target));
  }
  // The pod spec is known even while the container is down (crash loop): keep it visible.
  for (const t of targets) if (!seen.has(t.name)) add(t.name, specValues(t));
  for (const r of snapshot.collectors) {
    push(out, 'scrapeCollectorDurationSeconds', { collector: r.name }, r.seconds);
    push(out, 'scrapeCollectorSuccess', { collector: r.name }, r.success ? 1 : 0);
  }
  for (const d of snapshot.degraded)
    push(
      out,
      'collectorDegraded',
      { collector: d.collector, container: d.container, reason: d.reason },
      1,
    );
  return out;
}

/** Container names in the order they keep their series under the cap. */
export function containerPriority(
  snapshot: Snapshot,
  targets: readonly TargetContainer[],
): string[] {
  const names = snapshot.containers.map((c) => c.name);
  for (const t of targets) if (!names.includes(t.name)) names.push(t.name);
  return names;
}
