// The monitor reconciler: finalizer, PodMonitor, and status of one SidecarMonitor. The
// injections themselves are the workload reconciler's job; deleting a monitor makes it
// select nothing, so each workload reconcile removes (or hands over) its injection, and
// the finalizer goes once no workload carries it any more.
import type { Logger } from 'pino';
import { API_VERSION, FIELD_MANAGER, KIND } from '../api/constants.ts';
import type { SidecarMonitor, WorkloadKind } from '../api/v1alpha1.ts';
import { formatFieldErrors } from '../api/field-error.ts';
import type { MonitorValidator } from '../api/validate.ts';
import type { Clock } from '../runtime/clock.ts';
import type { EventRecorder } from './events.ts';
import type { KubeApi } from '../kube/api.ts';
import { isApiError, KubeApiError } from '../kube/errors.ts';
import type { InformerGroup } from '../kube/informer-group.ts';
import { type KubeObject, objectPath, PODMONITORS, type ResourceType } from '../kube/resources.ts';
import type { ReconcileResult } from '../runtime/queue.ts';
import type { ClusterFacts } from './facts.ts';
import type { NamespaceStatus } from './namespaces.ts';
import { currentInjection } from './injection.ts';
import { describeKey, monitorKey, parseMonitorKey, workloadKey } from './keys.ts';
import { desiredPodMonitor, podMonitorName } from './podmonitor.ts';
import { selectOwner, selects } from './selection.ts';
import type { ControllerState } from './state.ts';
import type { Removal } from './state.ts';
import { buildStatus, deletionSummary, sameStatus, type WorkloadRecord } from './status.ts';

export const MONITOR_RESOURCE: ResourceType = {
  group: 'sidecarmonitor.io',
  version: 'v1alpha1',
  kind: KIND,
  plural: 'sidecarmonitors',
  namespaced: true,
};

export type Monitor = SidecarMonitor & KubeObject;

export interface MonitorReconcilerDeps {
  client: KubeApi;
  monitors: InformerGroup<Monitor>;
  workloads: Record<WorkloadKind, InformerGroup>;
  facts: ClusterFacts;
  state: ControllerState;
  validator: MonitorValidator;
  clock: Clock;
  logger: Logger;
  finalizer: string;
  namespaces: NamespaceStatus;
  recorder: EventRecorder;
  enqueueWorkload: (key: string) => void;
}

const KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];
const FINALIZE_REQUEUE_MS = 30_000;
/**
 * A status write of a monitor with a thousand workloads is a large server-side apply;
 * during a big rollout the operator would send one per --status-delay-ms and spend the
 * API server on them. The next write waits at least this many times the last one's
 * duration, which keeps status writes to about a tenth of the time.
 */
const STATUS_COST_FACTOR = 10;
/** However slow the API server, a status is never more than this much behind. */
const STATUS_MAX_WAIT_MS = 5_000;

export class MonitorReconciler {
  readonly #d: MonitorReconcilerDeps;
  /** PodMonitor bodies last applied, by monitor key (skip identical writes). */
  readonly #podMonitors = new Map<string, string>();
  /**
   * When a deleted monitor last enqueued the workloads still carrying it. Every workload
   * reconcile enqueues its monitor, so kicking them on each pass would spin while they wait
   * for rollout slots; the limiter wakes them when a slot frees, this only bounds a miss.
   */
  readonly #kicked = new Map<string, number>();
  /** When each monitor's status was last written and how long the write took. */
  readonly #statusWrites = new Map<string, { at: number; tookMs: number }>();

  constructor(deps: MonitorReconcilerDeps) {
    this.#d = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const d = this.#d;
    const ref = parseMonitorKey(key);
    if (!ref) return undefined;
    const monitor = d.monitors.get(ref.namespace, ref.name);
    if (!monitor) {
      // Its PodMonitor goes with it (owner reference); forget what we knew.
      this.#podMonitors.delete(key);
      this.#kicked.delete(key);
      this.#statusWrites.delete(key);
      return undefined;
    }
    const log = d.logger.child({ kind: KIND, namespace: ref.namespace, name: ref.name });
    const path = objectPath(MONITOR_RESOURCE, ref.namespace, ref.name);
    const hasFinalizer = monitor.metadata.finalizers?.includes(d.finalizer) === true;

    if (monitor.metadata.deletionTimestamp !== undefined) {
      if (!hasFinalizer) return undefined;
      return this.#finalize(key, monitor, path, log);
    }
    if (!hasFinalizer) {
      // Before any injection: a monitor deleted right after creation must still clean up.
      await d.client.apply(
        path,
        {
          apiVersion: API_VERSION,
          kind: KIND,
          metadata: { name: ref.name, namespace: ref.namespace, finalizers: [d.finalizer] },
        },
        // Forced, like the status: this entry is ours alone, whoever touched the list.
        { fieldManager: FIELD_MANAGER, force: true },
      );
      log.debug('finalizer added');
      return undefined;
    }

    const validation = d.validator.validate(monitor);
    const invalid = validation.valid ? undefined : formatFieldErrors(validation.errors);
    if (invalid !== undefined)
      log.warn({ invalid }, 'monitor spec is invalid; its workloads are left as they are');
    const podMonitorError =
      invalid === undefined ? await this.#syncPodMonitor(key, monitor, log) : undefined;
    const wait = await this.#writeStatus(key, monitor, path, { invalid, podMonitorError }, log);
    return wait === undefined ? undefined : { requeueAfterMs: wait };
  }

  #records(monitor: Monitor): WorkloadRecord[] {
    const d = this.#d;
    const ns = monitor.metadata.namespace ?? '';
    const name = monitor.metadata.name;
    const key = monitorKey(ns, name);
    const monitors = d.monitors
      .list(ns)
      .filter((m) => m.metadata.finalizers?.includes(d.finalizer) === true);
    const out: WorkloadRecord[] = [];
    for (const kind of KINDS) {
      for (const w of d.workloads[kind].list(ns)) {
        if (!selects(monitor, w)) continue;
        const wKey = workloadKey(kind, ns, w.metadata.name);
        const { winner } = selectOwner(monitors, w);
        if (winner && winner.metadata?.name !== name) {
          out.push({
            kind,
            name: w.metadata.name,
            state: 'Conflict',
            reason: 'MonitorConflict',
            message: `also selected by the older SidecarMonitor ${winner.metadata?.name ?? ''}, which owns it`,
            injected: false,
          });
          continue;
        }
        const rec = d.state.records.get(wKey);
        if (rec?.monitor === key) {
          out.push(rec);
        } else {
          out.push({
            kind,
            name: w.metadata.name,
            state: 'Pending',
            reason: 'NotReconciledYet',
            injected: false,
          });
        }
      }
    }
    return out;
  }

  /** Writes the status unless it is unchanged; returns how long to wait when throttled. */
  async #writeStatus(
    key: string,
    monitor: Monitor,
    path: string,
    about:
      | { invalid: string | undefined; podMonitorError: string | undefined }
      | { deleting: string; workloads: WorkloadRecord[] },
    log: Logger,
  ): Promise<number | undefined> {
    const d = this.#d;
    const last = this.#statusWrites.get(key);
    if (last !== undefined) {
      const due = last.at + Math.min(STATUS_COST_FACTOR * last.tookMs, STATUS_MAX_WAIT_MS);
      const remaining = due - d.clock.monotonic();
      if (remaining > 0) return remaining;
    }
    const input: Parameters<typeof buildStatus>[0] = {
      generation: monitor.metadata.generation,
      previous: monitor.status,
      workloads: 'deleting' in about ? about.workloads : this.#records(monitor),
      now: new Date(d.clock.now()),
    };
    if ('deleting' in about) input.deleting = about.deleting;
    else {
      if (about.invalid !== undefined) input.invalid = about.invalid;
      if (about.podMonitorError !== undefined) input.podMonitorError = about.podMonitorError;
    }
    const status = buildStatus(input);
    if (sameStatus(status, monitor.status)) return undefined;
    const started = d.clock.monotonic();
    await d.client.apply(
      `${path}/status`,
      {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: monitor.metadata.name, namespace: monitor.metadata.namespace },
        status,
      },
      // The status is the operator's alone: a hand edit (kubectl edit --subresource=status)
      // makes its fields another manager's, and an unforced apply would then be refused
      // with a 409 on every write, for good.
      { fieldManager: FIELD_MANAGER, force: true },
    );
    const now = d.clock.monotonic();
    this.#statusWrites.set(key, { at: now, tookMs: now - started });
    log.debug(
      { matched: status.matchedWorkloads, injected: status.injectedWorkloads },
      'status updated',
    );
    return undefined;
  }

  async #syncPodMonitor(key: string, monitor: Monitor, log: Logger): Promise<string | undefined> {
    const d = this.#d;
    const mode = monitor.spec.prometheus?.podMonitor ?? 'Auto';
    const present = d.facts.podMonitors();
    const ns = monitor.metadata.namespace ?? '';
    const name = podMonitorName(monitor.metadata.name);
    const path = objectPath(PODMONITORS, ns, name);
    if (mode === 'Enabled' && !present) {
      return 'spec.prometheus.podMonitor is Enabled but the PodMonitor CRD (monitoring.coreos.com/v1) is not installed';
    }
    try {
      if (mode === 'Enabled' || (mode === 'Auto' && present)) {
        const body = desiredPodMonitor(monitor);
        const text = JSON.stringify(body);
        if (this.#podMonitors.get(key) === text) return undefined;
        await d.client.apply(path, body, { fieldManager: FIELD_MANAGER });
        this.#podMonitors.set(key, text);
        log.info({ podMonitor: name }, 'PodMonitor applied');
      } else if (present && this.#podMonitors.get(key) !== 'absent') {
        try {
          await d.client.delete(path);
          log.info({ podMonitor: name }, 'PodMonitor deleted');
        } catch (err) {
          if (!isApiError(err, 'not-found')) throw err;
        }
        this.#podMonitors.set(key, 'absent');
      }
    } catch (err) {
      const e = err instanceof KubeApiError ? err : undefined;
      if (e && !e.retryable) {
        log.warn({ err: e.message }, 'PodMonitor could not be written');
        return `PodMonitor ${name}: ${e.message}`;
      }
      throw err;
    }
    return undefined;
  }

  async #finalize(
    key: string,
    monitor: Monitor,
    path: string,
    log: Logger,
  ): Promise<ReconcileResult | undefined> {
    const d = this.#d;
    const ns = monitor.metadata.namespace ?? '';
    if (await d.namespaces.terminating(ns)) {
      // The namespace controller deletes the workloads anyway; patching them would only
      // slow (or, with our finalizer, block) the namespace's deletion.
      await this.#removeFinalizer(path, monitor);
      log.info('namespace terminating: finalizer removed without touching workloads');
      return undefined;
    }
    // What is left: every workload whose template still carries this monitor's
    // injection, but not those going away anyway (being deleted) nor those whose
    // injection another field manager applied (not ours to remove).
    const name = monitor.metadata.name;
    const carrying: string[] = [];
    const remaining: WorkloadRecord[] = [];
    const held: string[] = [];
    for (const kind of KINDS) {
      for (const w of d.workloads[kind].list(ns)) {
        if (currentInjection(w).monitor !== name) continue;
        if (w.metadata.deletionTimestamp !== undefined) continue;
        const wKey = workloadKey(kind, ns, w.metadata.name);
        const removal = d.state.removals.get(wKey);
        if (removal?.monitor === key && removal.phase === 'HeldByAnotherManager') {
          held.push(describeKey(wKey));
          continue;
        }
        carrying.push(wKey);
        remaining.push(
          removalRecord(kind, w.metadata.name, removal?.monitor === key ? removal : undefined),
        );
      }
    }
    if (carrying.length > 0) {
      const now = d.clock.monotonic();
      const last = this.#kicked.get(key);
      if (last === undefined || now - last >= FINALIZE_REQUEUE_MS) {
        this.#kicked.set(key, now);
        for (const wKey of carrying) d.enqueueWorkload(wKey);
      }
      const rolling = d.state
        .removalsOf(key)
        .filter(([, r]) => r.phase === 'RollingOut')
        .map(([, r]) => removalRecord(r.kind, r.name, r));
      const summary = deletionSummary(remaining, rolling);
      d.recorder.record(monitor, 'Normal', 'WaitingForInjectionRemoval', summary);
      log.debug({ remaining: carrying.length, summary }, 'waiting for injections to be removed');
      const wait = await this.#writeStatus(
        key,
        monitor,
        path,
        { deleting: summary, workloads: [...remaining, ...rolling] },
        log,
      );
      // Workload events bring us back; the requeue bounds the wait if one is missed.
      return { requeueAfterMs: Math.min(wait ?? FINALIZE_REQUEUE_MS, FINALIZE_REQUEUE_MS) };
    }
    this.#kicked.delete(key);
    await this.#removeFinalizer(path, monitor);
    this.#podMonitors.delete(key);
    const left =
      held.length > 0
        ? `; left in place, applied by another field manager: ${held.join(', ')}`
        : '';
    d.recorder.record(
      monitor,
      'Normal',
      'InjectionsRemoved',
      `every injection of this monitor removed; finalizer removed${left}`,
    );
    log.info({ held }, 'every injection removed; finalizer removed');
    return undefined;
  }

  async #removeFinalizer(path: string, monitor: Monitor): Promise<void> {
    const d = this.#d;
    let after: Monitor;
    try {
      // Applying without the finalizer gives up our ownership of it, which removes it.
      after = await d.client.apply<Monitor>(
        path,
        {
          apiVersion: API_VERSION,
          kind: KIND,
          metadata: { name: monitor.metadata.name, namespace: monitor.metadata.namespace },
        },
        { fieldManager: FIELD_MANAGER, force: true },
      );
    } catch (err) {
      if (isApiError(err, 'not-found')) return;
      throw err;
    }
    const finalizers = after.metadata.finalizers ?? [];
    if (!finalizers.includes(d.finalizer)) return;
    // Another manager co-owns the entry (e.g. someone applied a copy of the live object):
    // remove it explicitly, guarded by a test so a concurrent change is not lost.
    await d.client.jsonPatch(path, [
      { op: 'test', path: '/metadata/finalizers', value: finalizers },
      {
        op: 'replace',
        path: '/metadata/finalizers',
        value: finalizers.filter((f) => f !== d.finalizer),
      },
    ]);
  }
}

/** A workload still carrying a deleting monitor's injection, for its status. */
function removalRecord(
  kind: WorkloadKind,
  name: string,
  removal: Removal | undefined,
): WorkloadRecord {
  if (!removal) {
    return {
      kind,
      name,
      state: 'Pending',
      reason: 'NotReconciledYet',
      message: 'the removal has not been tried yet',
      injected: true,
    };
  }
  if (removal.phase === 'RollingOut') {
    return {
      kind,
      name,
      state: 'RollingOut',
      reason: 'InjectionRemoved',
      message: removal.message,
      injected: false,
    };
  }
  return {
    kind,
    name,
    state: 'Pending',
    reason: removal.phase,
    message: removal.message,
    injected: true,
  };
}
