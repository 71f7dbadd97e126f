// A monitor's status, built purely from what the workload reconciles recorded. The
// conditions keep their lastTransitionTime while their status holds.
import type { SidecarMonitorStatus, WorkloadState, WorkloadStatus } from '../api/v1alpha1.ts';
import { type Condition, type ConditionUpdate, setCondition } from './conditions.ts';

export const MAX_LISTED_WORKLOADS = 1000;

export interface WorkloadRecord extends WorkloadStatus {
  /** The pod template carries this monitor's current injection. */
  injected: boolean;
}

export interface StatusInput {
  generation: number | undefined;
  previous: SidecarMonitorStatus | undefined;
  /** Every workload the monitor's selector matches, as this monitor sees it. */
  workloads: readonly WorkloadRecord[];
  /** Why the spec cannot be used (field: message; ...), if so. */
  invalid?: string;
  /** A PodMonitor that could not be created or removed. */
  podMonitorError?: string;
  /**
   * The monitor is being deleted: what is left (deletionSummary). `workloads` then lists
   * the workloads still carrying its injection and the restored ones still rolling out.
   */
  deleting?: string;
  now: Date;
}

const ATTENTION: Record<WorkloadState, number> = {
  RolloutFailed: 0,
  Conflict: 1,
  Pending: 2,
  RollingOut: 3,
  Skipped: 4,
  Injected: 5,
};

function summary(records: readonly WorkloadRecord[], state: WorkloadState): string {
  const names = records.filter((r) => r.state === state).map((r) => `${r.kind}/${r.name}`);
  const shown = names.slice(0, 5).join(', ');
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}

function count(records: readonly WorkloadRecord[], state: WorkloadState): number {
  return records.reduce((n, r) => n + (r.state === state ? 1 : 0), 0);
}

export function buildStatus(input: StatusInput): SidecarMonitorStatus {
  const records = input.workloads;
  const g = input.generation;
  const withGen = (c: Omit<ConditionUpdate, 'observedGeneration'>): ConditionUpdate =>
    g === undefined ? c : { ...c, observedGeneration: g };
  const matched = records.length;
  const injected = records.reduce((n, r) => n + (r.injected ? 1 : 0), 0);
  const skipped = count(records, 'Skipped');
  const failed = count(records, 'RolloutFailed');
  const conflicts = count(records, 'Conflict');
  const pending = count(records, 'Pending');
  const rolling = count(records, 'RollingOut');

  let ready: ConditionUpdate;
  if (input.deleting !== undefined) {
    ready = withGen({
      type: 'Ready',
      status: 'False',
      reason: 'Deleting',
      message: input.deleting,
    });
  } else if (input.invalid !== undefined) {
    ready = withGen({
      type: 'Ready',
      status: 'False',
      reason: 'InvalidSpec',
      message: input.invalid,
    });
  } else if (failed > 0) {
    ready = withGen({
      type: 'Ready',
      status: 'False',
      reason: 'RolloutFailed',
      message: `rollout failed: ${summary(records, 'RolloutFailed')}`,
    });
  } else if (conflicts > 0) {
    ready = withGen({
      type: 'Ready',
      status: 'False',
      reason: 'Conflict',
      message: `not injected because of a conflict: ${summary(records, 'Conflict')}`,
    });
  } else if (pending + rolling > 0) {
    ready = withGen({
      type: 'Ready',
      status: 'False',
      reason: 'RollingOut',
      message: `${injected} of ${matched - skipped} workloads injected; ${rolling} rolling out, ${pending} waiting for a rollout slot`,
    });
  } else {
    ready = withGen({
      type: 'Ready',
      status: 'True',
      reason: matched === 0 ? 'NoWorkloads' : 'Injected',
      message:
        matched === 0
          ? 'the selector matches no workload'
          : `${injected} of ${matched} matched workloads injected and rolled out${skipped > 0 ? `, ${skipped} skipped (see status.workloads)` : ''}`,
    });
  }

  let degraded: ConditionUpdate;
  if (input.invalid !== undefined) {
    degraded = withGen({
      type: 'Degraded',
      status: 'True',
      reason: 'InvalidSpec',
      message: input.invalid,
    });
  } else if (failed > 0) {
    degraded = withGen({
      type: 'Degraded',
      status: 'True',
      reason: 'RolloutFailed',
      message: `rollouts halted for this monitor until ${summary(records, 'RolloutFailed')} recovers (or the spec changes)`,
    });
  } else if (input.podMonitorError !== undefined) {
    degraded = withGen({
      type: 'Degraded',
      status: 'True',
      reason: 'PodMonitorFailed',
      message: input.podMonitorError,
    });
  } else {
    degraded = withGen({ type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' });
  }

  const conflict: ConditionUpdate =
    conflicts > 0
      ? withGen({
          type: 'Conflict',
          status: 'True',
          reason: 'WorkloadConflict',
          message: records
            .filter((r) => r.state === 'Conflict')
            .slice(0, 5)
            .map((r) => `${r.kind}/${r.name}: ${r.message ?? r.reason ?? 'conflict'}`)
            .join('; '),
        })
      : withGen({ type: 'Conflict', status: 'False', reason: 'NoConflict', message: '' });

  const now = input.now;
  let conditions: Condition[] = input.previous?.conditions ?? [];
  const updates = [ready, degraded, conflict];
  if (input.deleting !== undefined) {
    updates.push(
      withGen({
        type: 'Deleting',
        status: 'True',
        reason: 'RemovingInjections',
        message: input.deleting,
      }),
    );
  }
  for (const c of updates) conditions = setCondition(conditions, c, now);

  const listed = [...records]
    .sort(
      (a, b) =>
        ATTENTION[a.state] - ATTENTION[b.state] ||
        a.kind.localeCompare(b.kind) ||
        a.name.localeCompare(b.name),
    )
    .slice(0, MAX_LISTED_WORKLOADS)
    .map((r) => {
      const entry: WorkloadStatus = { kind: r.kind, name: r.name, state: r.state };
      if (r.reason !== undefined) entry.reason = r.reason;
      if (r.message !== undefined) entry.message = r.message;
      if (r.hash !== undefined) entry.hash = r.hash;
      if (r.nativeSidecar !== undefined) entry.nativeSidecar = r.nativeSidecar;
      return entry;
    });

  const status: SidecarMonitorStatus = {
    conditions,
    matchedWorkloads: matched,
    injectedWorkloads: injected,
    skippedWorkloads: skipped,
    workloads: listed,
  };
  if (g !== undefined) status.observedGeneration = g;
  return status;
}

/** Stable comparison of two statuses, so unchanged status is never written. */
export function sameStatus(
  a: SidecarMonitorStatus | undefined,
  b: SidecarMonitorStatus | undefined,
): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}

/**
 * What a deleting monitor waits for, for its Deleting condition and its Events: which
 * workloads still carry its injection and why each one is not restored yet, and which
 * restored ones still roll out (they hold the rollout slots the others wait for). Stable
 * while nothing changes, so repeated Events are deduplicated.
 */
export function deletionSummary(
  remaining: readonly WorkloadRecord[],
  rolling: readonly WorkloadRecord[],
): string {
  const byWhy = new Map<string, string[]>();
  for (const r of remaining) {
    const why = r.message ?? r.reason ?? 'not reconciled yet';
    byWhy.set(why, [...(byWhy.get(why) ?? []), `${r.kind}/${r.name}`]);
  }
  const list = (names: readonly string[]): string =>
    names.length > 5
      ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`
      : names.join(', ');
  const parts = [...byWhy].map(([why, names]) => `${list(names)}: ${why}`);
  let text = `${remaining.length} workload(s) still carry the exporter; the finalizer is removed once every pod template is restored. ${parts.join('; ')}`;
  if (rolling.length > 0) {
    text += `. Restored, still rolling out: ${list(rolling.map((r) => `${r.kind}/${r.name}`))}`;
  }
  return text.slice(0, 4096);
}
