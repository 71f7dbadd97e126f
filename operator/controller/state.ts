// What the workload reconciles learned, shared with the monitor reconciles that turn it
// into status. In memory only: everything here is recomputed from the cluster after a
// restart (level-based), except a rollout failure, which is found again when the
// rollout is still stuck.
import type { WorkloadKind } from '../api/v1alpha1.ts';
import type { WorkloadRecord } from './status.ts';

export interface OwnedRecord extends WorkloadRecord {
  /** Key of the monitor whose view this is (the workload's owner). */
  monitor: string;
}

export interface Failure {
  monitor: string;
  hash: string | undefined;
  message: string;
}

/** An apply refused by a field-manager conflict, and what it was made from. */
export interface ApplyConflict {
  /** The injection hash the refused apply carried. */
  hash: string;
  /** The workload's generation then: a spec change may have settled the conflict. */
  generation: number | undefined;
  record: OwnedRecord;
}

/**
 * An injection being removed (monitor deleted, selector or labels changed, opt-out): what
 * it waits for, so a deleting monitor's status and Events can say what is left.
 */
export interface Removal {
  /** Key of the monitor whose injection it was. */
  monitor: string;
  kind: WorkloadKind;
  name: string;
  /**
   * WaitingForRolloutSlot, RemovalFailed (the write fails: message says why), RollingOut
   * (template restored, pods rolling; holds its slot until done or past the deadline),
   * HeldByAnotherManager (another field manager applied the same injection: not ours to
   * remove).
   */
  phase: 'WaitingForRolloutSlot' | 'RemovalFailed' | 'RollingOut' | 'HeldByAnotherManager';
  message: string;
  /** The progress deadline that bounds how long a rolling removal holds its slot. */
  deadlineMs: number;
}

export class ControllerState {
  /** By workload key: injections being removed. */
  readonly removals = new Map<string, Removal>();
  /** By workload key: the owning monitor's view of the workload. */
  readonly records = new Map<string, OwnedRecord>();
  /** Workloads whose rollout failed, by workload key. */
  readonly failures = new Map<string, Failure>();
  /** Applies refused by another field manager, by workload key: not sent again as is. */
  readonly conflicts = new Map<string, ApplyConflict>();

  /** A monitor with a failed rollout starts no new ones (the failed workload excepted). */
  halted(monitor: string): Failure | undefined {
    for (const f of this.failures.values()) if (f.monitor === monitor) return f;
    return undefined;
  }

  /** The removals of one monitor's injections. */
  removalsOf(monitor: string): [string, Removal][] {
    return [...this.removals].filter(([, r]) => r.monitor === monitor);
  }

  /** Counts by state over every record, for metrics. */
  countByState(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.records.values()) out[r.state] = (out[r.state] ?? 0) + 1;
    return out;
  }
}
