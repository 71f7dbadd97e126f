// Where a workload's rollout stands, read from its status the way `kubectl rollout
// status` does. Pure: the caller passes the clock reading and the deadline.

export type RolloutPhase =
  /** Every replica runs the current template. */
  | 'Complete'
  /** Pods are being replaced (or the controller has not seen the new generation yet). */
  | 'Progressing'
  /** Deployment with spec.paused: a template change does not roll; holds no slot. */
  | 'Paused'
  /** updateStrategy OnDelete: pods change only when someone deletes them; holds no slot. */
  | 'OnDelete'
  /** Past its progress deadline. */
  | 'Failed';

export interface RolloutState {
  phase: RolloutPhase;
  /** For people: what is still missing, or why it failed. */
  message: string;
}

interface Cond {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

export interface WorkloadLike {
  kind?: string;
  metadata: { generation?: number };
  spec?: unknown;
  status?: unknown;
}

type Rec = Record<string, unknown>;

function rec(v: unknown): Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : {};
}

function int(v: unknown, fallback = 0): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

export interface DeadlineInput {
  /** When the operator last changed this workload's template (epoch ms), if known. */
  changedAt?: number;
  /** How long a rollout may take; undefined: no operator-side deadline. */
  deadlineMs?: number;
  now: number;
}

function progressing(message: string, d: DeadlineInput): RolloutState {
  if (
    d.changedAt !== undefined &&
    d.deadlineMs !== undefined &&
    d.now - d.changedAt > d.deadlineMs
  ) {
    return {
      phase: 'Failed',
      message: `rollout not finished ${Math.round(d.deadlineMs / 1000)}s after the change: ${message}`,
    };
  }
  return { phase: 'Progressing', message };
}

function notObserved(metadata: { generation?: number }, status: Rec): boolean {
  return (
    metadata.generation !== undefined && int(status.observedGeneration, -1) < metadata.generation
  );
}

export function rolloutState(workload: WorkloadLike, d: DeadlineInput): RolloutState {
  const spec = rec(workload.spec);
  const status = rec(workload.status);
  switch (workload.kind) {
    case 'Deployment': {
      if (spec.paused === true) return { phase: 'Paused', message: 'deployment is paused' };
      const conditions = (Array.isArray(status.conditions) ? status.conditions : []) as Cond[];
      const stalled = conditions.find(
        (c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded',
      );
      if (stalled && !notObserved(workload.metadata, status)) {
        return { phase: 'Failed', message: stalled.message ?? 'progress deadline exceeded' };
      }
      if (notObserved(workload.metadata, status))
        return progressing('waiting for the deployment controller', d);
      const want = int(spec.replicas, 1);
      const updated = int(status.updatedReplicas);
      const total = int(status.replicas);
      const available = int(status.availableReplicas);
      if (updated < want) return progressing(`${updated} of ${want} replicas updated`, d);
      if (total > updated)
        return progressing(`${total - updated} old replicas pending termination`, d);
      if (available < updated)
        return progressing(`${available} of ${updated} updated replicas available`, d);
      return { phase: 'Complete', message: `${available} replicas available` };
    }
    case 'StatefulSet': {
      if (rec(spec.updateStrategy).type === 'OnDelete')
        return { phase: 'OnDelete', message: 'updateStrategy is OnDelete' };
      if (notObserved(workload.metadata, status))
        return progressing('waiting for the statefulset controller', d);
      const want = int(spec.replicas, 1);
      const partition = int(rec(rec(spec.updateStrategy).rollingUpdate).partition);
      const updated = int(status.updatedReplicas);
      const ready = int(status.readyReplicas);
      if (partition > 0) {
        if (updated < want - partition)
          return progressing(`${updated} of ${want - partition} replicas updated`, d);
      } else if (status.updateRevision !== status.currentRevision) {
        return progressing(`${updated} of ${want} replicas updated`, d);
      }
      if (ready < want) return progressing(`${ready} of ${want} replicas ready`, d);
      return { phase: 'Complete', message: `${ready} replicas ready` };
    }
    case 'DaemonSet': {
      if (rec(spec.updateStrategy).type === 'OnDelete')
        return { phase: 'OnDelete', message: 'updateStrategy is OnDelete' };
      if (notObserved(workload.metadata, status))
        return progressing('waiting for the daemonset controller', d);
      const want = int(status.desiredNumberScheduled);
      const updated = int(status.updatedNumberScheduled);
      const available = int(status.numberAvailable);
      if (updated < want) return progressing(`${updated} of ${want} pods updated`, d);
      if (available < want) return progressing(`${available} of ${want} pods available`, d);
      return { phase: 'Complete', message: `${available} pods available` };
    }
    default:
      return { phase: 'Complete', message: `kind ${workload.kind ?? 'unknown'} has no rollout` };
  }
}

/** Whether a change to this workload's template occupies a rollout slot. */
export function holdsSlot(phase: RolloutPhase): boolean {
  return phase === 'Progressing';
}
