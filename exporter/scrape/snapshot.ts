// One scrape's worth of readings. Concurrent scrapes share the snapshot in flight, so a burst
// of scrapes costs one pass over procfs. Each collector (discovery, cgroup, process) runs with
// its own timeout and error capture: a failure is a metric, never a failed scrape.

import type { CollectorName, DegradedReason } from '../metrics/catalog.ts';
import type { CgroupCollector, CgroupResult } from '../cgroup/collector.ts';
import type { ContainerGroup, Discoverer } from '../discovery/discover.ts';
import type { ProcessCollector } from '../process/collector.ts';
import type { ProcessTotals } from '../process/totals.ts';
import { TimeoutError, withTimeout } from '../util/concurrency.ts';

export interface ContainerSnapshot {
  name: string;
  processCount: number;
  cgroup?: CgroupResult;
  process?: ProcessTotals;
}

export interface CollectorRun {
  name: CollectorName;
  success: boolean;
  seconds: number;
  error?: Error;
}

export interface Degraded {
  collector: CollectorName;
  container: string;
  reason: DegradedReason;
  error: Error;
}

export interface Snapshot {
  containers: ContainerSnapshot[];
  collectors: CollectorRun[];
  degraded: Degraded[];
}

export interface SnapshotDeps {
  discoverer: Discoverer;
  cgroups: CgroupCollector;
  processes: ProcessCollector;
  /** Monotonic milliseconds (performance.now). */
  now: () => number;
  timeoutMs: number;
  bootTimeSeconds: number | undefined;
}

type Outcome<T> = { run: CollectorRun; value?: T };

async function run<T>(
  name: CollectorName,
  deps: SnapshotDeps,
  work: () => Promise<T>,
): Promise<Outcome<T>> {
  const start = deps.now();
  try {
    const value = await withTimeout(work(), deps.timeoutMs, `collector ${name}`);
    return { run: { name, success: true, seconds: (deps.now() - start) / 1000 }, value };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return { run: { name, success: false, seconds: (deps.now() - start) / 1000, error } };
  }
}

export async function takeSnapshot(deps: SnapshotDeps): Promise<Snapshot> {
  const discovery = await run('discovery', deps, () => deps.discoverer.discover());
  const groups: ContainerGroup[] = discovery.value?.groups ?? [];
  const degraded: Degraded[] = (discovery.value?.problems ?? []).map((p) => ({
    collector: 'discovery',
    ...p,
  }));
  deps.cgroups.retain(groups);
  const [cgroup, process] = await Promise.all([
    run('cgroup', deps, async () => {
      const results = [];
      // One container at a time: each is a handful of synchronous reads.
      for (const g of groups) results.push(await deps.cgroups.collect(g));
      return results;
    }),
    run('process', deps, () => deps.processes.collect(groups, deps.bootTimeSeconds)),
  ]);
  const containers = groups.map((g, i): ContainerSnapshot => {
    const c: ContainerSnapshot = { name: g.name, processCount: g.processes.length };
    const cg = cgroup.value?.[i];
    const pr = process.value?.get(g.name);
    if (cg) c.cgroup = cg;
    if (pr) c.process = pr;
    for (const [collector, problems] of [
      ['cgroup', cg?.problems ?? []],
      ['process', pr?.problems ?? []],
    ] as const) {
      const reasons = new Map<DegradedReason, Error>();
      for (const p of problems) if (!reasons.has(p.reason)) reasons.set(p.reason, p.error);
      for (const [reason, error] of reasons)
        degraded.push({ collector, container: g.name, reason, error });
    }
    return c;
  });
  // A collector that timed out leaves every container without its data.
  for (const outcome of [cgroup, process]) {
    if (outcome.run.error instanceof TimeoutError) {
      for (const g of groups)
        degraded.push({
          collector: outcome.run.name,
          container: g.name,
          reason: 'timeout',
          error: outcome.run.error,
        });
    }
  }
  return { containers, collectors: [discovery.run, cgroup.run, process.run], degraded };
}
