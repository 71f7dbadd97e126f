// The workload reconciler: one Deployment, StatefulSet or DaemonSet per call. It finds
// the monitor that owns the workload (oldest selecting one), asks the pure injection
// core what the pod template should carry, and when that differs from what the template
// carries, takes a rollout slot and writes only the fields sidecar-monitor owns with
// server-side apply. Everything is recomputed from the caches on every call.
import type { Logger } from 'pino';
import { FIELD_MANAGER } from '../api/constants.ts';
import type { SidecarMonitor, WorkloadKind } from '../api/v1alpha1.ts';
import type { Clock } from '../runtime/clock.ts';
import type { EventRecorder } from './events.ts';
import type { KubeApi } from '../kube/api.ts';
import { isApiError, KubeApiError } from '../kube/errors.ts';
import type { InformerGroup } from '../kube/informer-group.ts';
import {
  DAEMONSETS,
  DEPLOYMENTS,
  type KubeObject,
  objectPath,
  type ResourceType,
  STATEFULSETS,
} from '../kube/resources.ts';
import type { OperatorMetrics } from '../manager/metrics.ts';
import type { ReconcileResult } from '../runtime/queue.ts';
import type { RolloutLimiter } from '../rollout/limiter.ts';
import { rolloutState } from '../rollout/state.ts';
import type { ClusterFacts } from './facts.ts';
import type { NamespaceStatus } from './namespaces.ts';
import {
  type CurrentInjection,
  currentInjection,
  type DesiredInjection,
  desiredInjection,
  type InjectionDefaults,
  type LiveFacts,
  removalBody,
} from './injection.ts';
import { describeKey, monitorKey, parseWorkloadKey, workloadKey } from './keys.ts';
import { selectOwner } from './selection.ts';
import type { ControllerState, OwnedRecord, Removal } from './state.ts';

export const RESOURCE_OF_KIND: Record<WorkloadKind, ResourceType> = {
  Deployment: DEPLOYMENTS,
  StatefulSet: STATEFULSETS,
  DaemonSet: DAEMONSETS,
};

export interface WorkloadReconcilerDeps {
  client: KubeApi;
  workloads: Record<WorkloadKind, InformerGroup>;
  monitors: InformerGroup<SidecarMonitor & KubeObject>;
  facts: ClusterFacts;
  defaults: InjectionDefaults;
  limiter: RolloutLimiter;
  state: ControllerState;
  recorder: EventRecorder;
  metrics: OperatorMetrics;
  clock: Clock;
  logger: Logger;
  namespaces: NamespaceStatus;
  /** Asks for a status update of a monitor (batched). */
  enqueueMonitor: (key: string) => void;
  /** Asks for a workload to be reconciled again. */
  enqueueWorkload: (key: string) => void;
}

type Plan =
  | { type: 'none' }
  | { type: 'apply'; desired: Injection; monitor: SidecarMonitor }
  | { type: 'remove'; responsible: string; reason: string; body: Record<string, unknown> };

type Injection = Extract<DesiredInjection, { outcome: 'Injected' }>;

const DEFAULT_PROGRESS_DEADLINE_S = 600;

/** The monitors that must own a workload's finalizer-protected injection: ours only. */
function active(
  monitors: readonly (SidecarMonitor & KubeObject)[],
  finalizer: string,
): SidecarMonitor[] {
  return monitors.filter((m) => m.metadata.finalizers?.includes(finalizer) === true);
}

export class WorkloadReconciler {
  readonly #d: WorkloadReconcilerDeps;
  readonly #finalizer: string;

  constructor(deps: WorkloadReconcilerDeps, finalizer: string) {
    this.#d = deps;
    this.#finalizer = finalizer;
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const d = this.#d;
    const ref = parseWorkloadKey(key);
    if (!ref) return undefined;
    const workload = d.workloads[ref.kind].get(ref.namespace, ref.name);
    const log = d.logger.child({ kind: ref.kind, namespace: ref.namespace, name: ref.name });
    if (!workload) {
      this.#forget(key);
      return undefined;
    }
    if (workload.metadata.deletionTimestamp !== undefined) {
      // Its pods go with it: nothing rolls out that a slot would have to pace.
      d.limiter.release(key);
      d.state.removals.delete(key);
      return undefined;
    }
    const monitors = active(d.monitors.list(ref.namespace), this.#finalizer);
    const { winner, losers } = selectOwner(monitors, workload);
    const current = currentInjection(workload);
    const previousOwner =
      current.monitor !== undefined ? monitorKey(ref.namespace, current.monitor) : undefined;
    for (const m of losers) d.enqueueMonitor(monitorKey(ref.namespace, m.metadata?.name ?? ''));
    if (previousOwner) d.enqueueMonitor(previousOwner);

    const plan = this.#plan(workload, winner, current, previousOwner);
    const winnerKey = winner ? monitorKey(ref.namespace, winner.metadata?.name ?? '') : undefined;
    if (winnerKey) d.enqueueMonitor(winnerKey);

    if (plan.type === 'none') {
      return this.#observe(key, workload, winner, winnerKey, current);
    }
    if (plan.type === 'remove' && (await d.namespaces.terminating(ref.namespace))) {
      // The namespace goes, and the workload with it: nothing to restore.
      return undefined;
    }
    const responsible = plan.type === 'apply' ? (winnerKey ?? '') : plan.responsible;
    const respMonitor = d.monitors.get(ref.namespace, responsible.slice(ref.namespace.length + 1));
    const base = { kind: ref.kind, name: ref.name } as const;

    if (plan.type === 'apply') {
      const refused = d.state.conflicts.get(key);
      if (
        refused &&
        refused.hash === plan.desired.hash &&
        refused.generation === workload.metadata.generation
      ) {
        // The same apply would meet the same conflict: wait for the workload's spec or
        // the injection to change instead of sending it again.
        d.state.records.set(key, refused.record);
        return undefined;
      }
      const halt = d.state.halted(responsible);
      if (halt && !d.state.failures.has(key)) {
        this.#record(key, winnerKey, {
          ...base,
          state: 'Pending',
          reason: 'RolloutsHalted',
          message: `rollouts of this monitor are halted after a failed rollout: ${halt.message}`,
          injected: false,
        });
        return undefined;
      }
    }
    const phase = rolloutState(workload, { now: d.clock.monotonic() }).phase;
    const needsSlot = phase !== 'Paused' && phase !== 'OnDelete';
    const maxConcurrent = respMonitor?.spec.rollout?.maxConcurrent ?? 1;
    // A slot held from an earlier write stays held if this write fails: that rollout (say a
    // removal the cache has not caught up with) may still be under way.
    const heldBefore = d.limiter.holds(key);
    if (needsSlot && !d.limiter.tryAcquire(key, responsible, maxConcurrent)) {
      if (plan.type === 'apply') {
        this.#record(key, winnerKey, {
          ...base,
          state: 'Pending',
          reason: 'WaitingForRolloutSlot',
          message: `waiting for a rollout slot (at most ${maxConcurrent} of this monitor's workloads, and the operator's global limit, roll out at once)`,
          injected: false,
        });
      }
      if (plan.type === 'remove') {
        this.#removal(key, base, responsible, respMonitor, {
          phase: 'WaitingForRolloutSlot',
          message: this.#slotMessage(responsible, maxConcurrent),
        });
      }
      log.debug({ responsible }, 'no rollout slot free; waiting');
      return undefined;
    }

    const resource = RESOURCE_OF_KIND[ref.kind];
    const path = objectPath(resource, ref.namespace, ref.name);
    const body = plan.type === 'apply' ? plan.desired.applyBody : plan.body;
    let written: KubeObject;
    try {
      written = await d.client.apply<KubeObject>(path, body, { fieldManager: FIELD_MANAGER });
    } catch (err) {
      if (!heldBefore) d.limiter.release(key);
      if (isApiError(err, 'apply-conflict') && plan.type === 'apply') {
        return this.#conflict(key, workload, winnerKey, plan.desired.hash, err, log);
      }
      if (isApiError(err, 'not-found')) return undefined;
      // A stale cache (409) or a network error is retried soon: only a refusal that
      // will last is worth reporting as what the removal waits for.
      if (plan.type === 'remove' && !(err instanceof KubeApiError && err.retryable)) {
        this.#removal(key, base, responsible, respMonitor, {
          phase: 'RemovalFailed',
          message: `the removal was refused: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
      throw err;
    }
    if (plan.type === 'remove' && currentInjection(written).monitor === current.monitor) {
      // Applying without our fields left the injection in place: another field manager
      // holds it (a workload rendered by `sidecar-monitor inject` and applied by GitOps).
      // It is not ours to remove, and waiting for it would hold the monitor forever.
      d.limiter.release(key);
      this.#removal(key, base, responsible, respMonitor, {
        phase: 'HeldByAnotherManager',
        message:
          'another field manager applied this injection (e.g. a GitOps tool applying `sidecar-monitor inject` output): remove it where it was rendered',
      });
      d.recorder.record(
        workload,
        'Warning',
        'InjectionNotOurs',
        `SidecarMonitor ${current.monitor ?? ''} no longer selects this workload, but its injection was applied by another field manager and stays: remove it where it was rendered`,
      );
      log.warn({ monitor: current.monitor }, 'injection held by another field manager; left');
      return undefined;
    }
    if (needsSlot) d.limiter.written(key, written.metadata.generation);
    else d.limiter.release(key);
    this.#clearFailure(key);
    d.state.conflicts.delete(key);

    if (plan.type === 'apply') {
      d.state.removals.delete(key);
      const action = current.present ? 'update' : 'inject';
      d.metrics.workloadWrites.inc({ kind: ref.kind, action });
      const monitorName = plan.monitor.metadata?.name ?? '';
      const what = current.present
        ? current.monitor !== undefined && current.monitor !== monitorName
          ? `handed over from SidecarMonitor ${current.monitor} to ${monitorName}`
          : `updated for SidecarMonitor ${monitorName}`
        : `injected for SidecarMonitor ${monitorName}`;
      d.recorder.record(
        workload,
        'Normal',
        current.present ? 'InjectionUpdated' : 'Injected',
        `sidecar-monitor exporter ${what} (hash ${plan.desired.hash})`,
      );
      log.info(
        {
          monitor: monitorName,
          hash: plan.desired.hash,
          action,
          generation: written.metadata.generation,
        },
        `exporter ${what}`,
      );
      this.#record(key, winnerKey, {
        ...base,
        state: needsSlot ? 'RollingOut' : 'Injected',
        ...this.#notes(plan.desired),
        hash: plan.desired.hash,
        nativeSidecar: plan.desired.nativeSidecar,
        injected: true,
      });
    } else {
      d.metrics.workloadWrites.inc({ kind: ref.kind, action: 'remove' });
      d.recorder.record(
        workload,
        'Normal',
        'InjectionRemoved',
        `sidecar-monitor exporter removed: ${plan.reason}`,
      );
      log.info({ monitor: current.monitor, reason: plan.reason }, 'exporter removed');
      this.#afterRemoval(key, winnerKey, base, winner, workload);
      if (!needsSlot) {
        d.state.removals.delete(key);
        return undefined;
      }
      const removal = this.#removal(key, base, responsible, respMonitor, {
        phase: 'RollingOut',
        message: 'template restored; the pods without the exporter are rolling out',
      });
      // Nothing else may wake us if the rollout sticks: look again at its deadline.
      return { requeueAfterMs: removal.deadlineMs + 1000 };
    }
    return undefined;
  }

  /** Records what a removal waits for (status and Events of its monitor use it). */
  #removal(
    key: string,
    base: { kind: WorkloadKind; name: string },
    monitor: string,
    respMonitor: SidecarMonitor | undefined,
    what: Pick<Removal, 'phase' | 'message'>,
  ): Removal {
    const removal: Removal = {
      ...base,
      ...what,
      monitor,
      deadlineMs:
        1000 * (respMonitor?.spec.rollout?.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_S),
    };
    this.#d.state.removals.set(key, removal);
    this.#d.enqueueMonitor(monitor);
    return removal;
  }

  #slotMessage(monitor: string, maxConcurrent: number): string {
    const blocked = this.#d.limiter.blockedBy(monitor, maxConcurrent);
    if (!blocked) return 'waiting for a rollout slot';
    const names = blocked.holders.slice(0, 3).map(describeKey);
    const more = blocked.holders.length > 3 ? ` and ${blocked.holders.length - 3} more` : '';
    const limit =
      blocked.limit === 'monitor'
        ? `this monitor rolls at most ${blocked.max} workload(s) at once`
        : `the operator rolls at most ${blocked.max} workload(s) at once (--max-concurrent-rollouts)`;
    return `waiting for a rollout slot: ${limit}; held by ${names.join(', ')}${more}, each until its rollout completes or its progress deadline passes`;
  }

  #plan(
    workload: KubeObject,
    winner: SidecarMonitor | undefined,
    current: CurrentInjection,
    previousOwner: string | undefined,
  ): Plan {
    if (winner) {
      const desired = desiredInjection(workload, winner, this.#facts(current), this.#d.defaults);
      if (desired.outcome === 'Injected') {
        const sameOwner = current.monitor === winner.metadata?.name;
        if (sameOwner && current.hash === desired.hash) return { type: 'none' };
        return { type: 'apply', desired, monitor: winner };
      }
      // Skipped: remove an existing injection only when the core says the template
      // should lose it (opt-out, a clash that appeared...); an invalid monitor keeps
      // what is there rather than churning every workload.
      if (current.present && desired.removeInjection && desired.applyBody) {
        return {
          type: 'remove',
          responsible:
            previousOwner ??
            monitorKey(workload.metadata.namespace ?? '', winner.metadata?.name ?? ''),
          reason: `${desired.reason}: ${desired.message}`,
          body: desired.applyBody,
        };
      }
      return { type: 'none' };
    }
    if (current.present) {
      const ns = workload.metadata.namespace ?? '';
      const owner =
        current.monitor === undefined ? undefined : this.#d.monitors.get(ns, current.monitor);
      if (
        current.monitor !== undefined &&
        owner?.metadata.finalizers?.includes(this.#finalizer) !== true
      ) {
        // Its monitor is not ours yet (unseen, or not yet carrying our finalizer): a
        // GitOps sync may apply a workload rendered by `inject` before its monitor.
        // Removing now would fight that sync; a true leftover is `cleanup`'s to remove.
        return { type: 'none' };
      }
      return {
        type: 'remove',
        responsible: previousOwner ?? '',
        reason:
          current.monitor === undefined
            ? 'no SidecarMonitor selects this workload'
            : `SidecarMonitor ${current.monitor} no longer selects this workload (deleted, or its selector or the workload's labels changed)`,
        body: removalBody(workload),
      };
    }
    return { type: 'none' };
  }

  #facts(current: CurrentInjection): LiveFacts {
    const f = this.#d.facts;
    // The native/regular choice sticks once made for a workload: a node with an old
    // kubelet joining later must not flip (and restart) injected workloads.
    const native =
      current.present && current.nativeSidecar !== undefined
        ? current.nativeSidecar
        : f.nativeSidecars().supported;
    return { nativeSidecars: native, podMonitors: f.podMonitors() };
  }

  #notes(desired: DesiredInjection): { reason?: string; message?: string } {
    if (desired.outcome !== 'Injected') return {};
    const out: { reason?: string; message?: string } = {};
    if (desired.securityReason !== undefined) out.reason = desired.securityReason;
    if (desired.message !== undefined) out.message = desired.message;
    return out;
  }

  /** No write needed: follow the rollout, record the state, requeue for deadlines. */
  #observe(
    key: string,
    workload: KubeObject,
    winner: SidecarMonitor | undefined,
    winnerKey: string | undefined,
    current: CurrentInjection,
  ): ReconcileResult | undefined {
    const d = this.#d;
    const ref = parseWorkloadKey(key);
    if (!ref) return undefined;
    const base = { kind: ref.kind, name: ref.name } as const;
    if (!winner || !winnerKey) {
      d.state.records.delete(key);
      this.#clearFailure(key);
      return this.#followRemoval(key, workload);
    }
    const desired = desiredInjection(workload, winner, this.#facts(current), d.defaults);
    if (desired.outcome !== 'Injected') {
      this.#clearFailure(key);
      this.#record(key, winnerKey, {
        ...base,
        state: 'Skipped',
        reason: desired.reason,
        message: desired.message,
        injected: false,
      });
      return this.#followRemoval(key, workload);
    }
    const now = d.clock.monotonic();
    const deadlineMs =
      1000 * (winner.spec.rollout?.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_S);
    const firstSight = !d.state.records.has(key);
    let rollout = rolloutState(workload, { now, changedAt: d.limiter.since(key), deadlineMs });
    if (firstSight && rollout.phase === 'Progressing' && !d.limiter.holds(key)) {
      // After a restart: an injected workload still rolling takes its slot back.
      d.limiter.adopt(key, winnerKey, workload.metadata.generation);
      rollout = rolloutState(workload, { now, changedAt: d.limiter.since(key), deadlineMs });
    }
    d.limiter.observe(key, rollout.phase, workload.metadata.generation);
    const common = {
      ...base,
      hash: desired.hash,
      nativeSidecar: desired.nativeSidecar,
      injected: true,
    };
    const known = d.state.failures.get(key);
    if (
      rollout.phase === 'Failed' ||
      (known && known.hash === desired.hash && rollout.phase !== 'Complete')
    ) {
      const message =
        rollout.phase === 'Failed' ? rollout.message : (known?.message ?? rollout.message);
      if (!known) {
        d.state.failures.set(key, { monitor: winnerKey, hash: desired.hash, message });
        d.recorder.record(
          workload,
          'Warning',
          'RolloutFailed',
          `rollout of the injected exporter failed: ${message}`,
        );
        d.logger.warn(
          { kind: ref.kind, namespace: ref.namespace, name: ref.name, monitor: winnerKey, message },
          'rollout failed; halting this monitor',
        );
      }
      this.#record(key, winnerKey, {
        ...common,
        state: 'RolloutFailed',
        reason: 'ProgressDeadlineExceeded',
        message,
      });
      return undefined;
    }
    this.#clearFailure(key);
    if (rollout.phase === 'Progressing') {
      this.#record(key, winnerKey, {
        ...common,
        state: 'RollingOut',
        ...this.#notes(desired),
        message: rollout.message,
      });
      const since = d.limiter.since(key);
      return since === undefined
        ? undefined
        : { requeueAfterMs: Math.max(1000, since + deadlineMs - now + 1000) };
    }
    this.#record(key, winnerKey, { ...common, state: 'Injected', ...this.#notes(desired) });
    return undefined;
  }

  /**
   * A removal holds its slot until the pods without the exporter are rolled out, but no
   * longer than its progress deadline, whatever the kind (StatefulSets and DaemonSets have
   * no deadline of their own): a removal that cannot roll out (a PVC that never binds, a
   * quota) must not hold every other removal, and so a monitor's deletion, forever. The
   * template stays restored; only the slot is given back.
   */
  #followRemoval(key: string, workload: KubeObject): ReconcileResult | undefined {
    const d = this.#d;
    const removal = d.state.removals.get(key);
    if (removal?.phase === 'HeldByAnotherManager') {
      if (!currentInjection(workload).present) d.state.removals.delete(key);
      return undefined;
    }
    if (!d.limiter.holds(key)) {
      if (removal) d.state.removals.delete(key);
      return undefined;
    }
    if (removal && removal.phase !== 'RollingOut') {
      // The template no longer carries the injection (a write the cache had not seen
      // when a retry failed): it is rolling out.
      removal.phase = 'RollingOut';
      removal.message = 'template restored; the pods without the exporter are rolling out';
      d.enqueueMonitor(removal.monitor);
    }
    const deadlineMs = removal?.deadlineMs ?? 1000 * DEFAULT_PROGRESS_DEADLINE_S;
    const now = d.clock.monotonic();
    const since = d.limiter.since(key);
    const rollout = rolloutState(workload, { now, changedAt: since, deadlineMs });
    d.limiter.observe(key, rollout.phase, workload.metadata.generation);
    if (d.limiter.holds(key)) {
      return since === undefined
        ? undefined
        : { requeueAfterMs: Math.max(1000, since + deadlineMs - now + 1000) };
    }
    if (rollout.phase === 'Failed') {
      d.recorder.record(
        workload,
        'Warning',
        'RemovalRolloutStuck',
        `the pod template no longer carries the exporter, but its rollout did not finish: ${rollout.message}; its rollout slot is given back so other workloads are not held up`,
      );
      d.logger.warn(
        {
          kind: workload.kind,
          namespace: workload.metadata.namespace,
          name: workload.metadata.name,
          monitor: removal?.monitor,
          message: rollout.message,
        },
        'removal rollout past its progress deadline; slot released',
      );
    }
    if (removal) {
      d.state.removals.delete(key);
      d.enqueueMonitor(removal.monitor);
    }
    return undefined;
  }

  /**
   * Forgets a workload's failed rollout. When that lifts its monitor's halt, the workloads
   * the halt held back are reconciled again: nothing else would wake them.
   */
  #clearFailure(key: string): void {
    const d = this.#d;
    const failure = d.state.failures.get(key);
    if (!failure) return;
    d.state.failures.delete(key);
    if (d.state.halted(failure.monitor)) return;
    for (const [other, record] of d.state.records) {
      if (record.monitor === failure.monitor && record.reason === 'RolloutsHalted') {
        d.enqueueWorkload(other);
      }
    }
  }

  #afterRemoval(
    key: string,
    winnerKey: string | undefined,
    base: { kind: WorkloadKind; name: string },
    winner: SidecarMonitor | undefined,
    workload: KubeObject,
  ): void {
    if (!winner || !winnerKey) {
      this.#d.state.records.delete(key);
      return;
    }
    const desired = desiredInjection(
      workload,
      winner,
      this.#facts({ present: false }),
      this.#d.defaults,
    );
    this.#record(key, winnerKey, {
      ...base,
      state: 'Skipped',
      reason: desired.outcome === 'Injected' ? 'Removed' : desired.reason,
      message: desired.outcome === 'Injected' ? 'injection removed' : desired.message,
      injected: false,
    });
  }

  #conflict(
    key: string,
    workload: KubeObject,
    winnerKey: string | undefined,
    hash: string,
    err: KubeApiError,
    log: Logger,
  ): ReconcileResult | undefined {
    const ref = parseWorkloadKey(key);
    if (!ref) return undefined;
    const managers = err.conflictingManagers;
    const fields = err.conflicts.map((c) => c.field).slice(0, 3);
    const message = `field manager ${managers.map((m) => `"${m}"`).join(', ')} holds ${fields.join(', ')} with a different value; sidecar-monitor never overrides another manager's fields (change or remove that value to allow the injection)`;
    this.#d.recorder.record(workload, 'Warning', 'InjectionConflict', message);
    log.warn({ managers, fields }, 'server-side apply conflict; not forcing');
    if (winnerKey) {
      const record = {
        kind: ref.kind,
        name: ref.name,
        state: 'Conflict' as const,
        reason: 'FieldManagerConflict',
        message,
        injected: false,
        monitor: winnerKey,
      };
      this.#d.state.records.set(key, record);
      // Not sent again as is: the same request would fail the same way. A change of the
      // workload's spec (the other manager giving the field up) or of the injection
      // (the monitor changed) brings a new attempt.
      this.#d.state.conflicts.set(key, { hash, generation: workload.metadata.generation, record });
    }
    return undefined;
  }

  #record(key: string, monitor: string | undefined, record: Omit<OwnedRecord, 'monitor'>): void {
    if (!monitor) {
      this.#d.state.records.delete(key);
      return;
    }
    this.#d.state.records.set(key, { ...record, monitor });
  }

  #forget(key: string): void {
    const d = this.#d;
    const old = d.state.records.get(key);
    d.state.records.delete(key);
    this.#clearFailure(key);
    d.state.conflicts.delete(key);
    d.limiter.release(key);
    d.limiter.forget(key);
    if (old) d.enqueueMonitor(old.monitor);
    const removal = d.state.removals.get(key);
    d.state.removals.delete(key);
    if (removal) d.enqueueMonitor(removal.monitor);
  }
}

export { workloadKey };
