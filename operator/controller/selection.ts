// Which monitor owns a workload. Pure: the caller passes the monitors of the workload's
// namespace. Two monitors selecting one workload: the oldest wins (creationTimestamp,
// then name, so the choice is stable), the others report Conflict naming it. Whether a
// monitor selects a workload at all is the injection core's monitorSelects.
import type { SidecarMonitor } from '../api/v1alpha1.ts';
import { monitorSelects } from '../inject/index.ts';
import type { KubeObject } from '../kube/resources.ts';

function age(m: SidecarMonitor): string {
  return m.metadata?.creationTimestamp ?? '';
}

/** Oldest first; RFC 3339 timestamps of one API server sort as strings. */
export function byAge(a: SidecarMonitor, b: SidecarMonitor): number {
  const ta = age(a);
  const tb = age(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const na = a.metadata?.name ?? '';
  const nb = b.metadata?.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

export function selects(monitor: SidecarMonitor, workload: KubeObject): boolean {
  return monitorSelects(monitor, workload);
}

export interface Selection {
  winner: SidecarMonitor | undefined;
  /** Monitors that also select the workload but are younger than the winner. */
  losers: SidecarMonitor[];
}

/** Monitors being deleted select nothing: their workloads are released (or handed over). */
export function selectOwner(monitors: readonly SidecarMonitor[], workload: KubeObject): Selection {
  const candidates = monitors
    .filter((m) => m.metadata?.deletionTimestamp === undefined && selects(m, workload))
    .sort(byAge);
  return { winner: candidates[0], losers: candidates.slice(1) };
}
