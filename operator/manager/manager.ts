// Wires the operator together: startup checks, leader election, informers, queues and
// the two reconcilers. Only the Lease holder watches and writes; a standby replica just
// campaigns. Everything is injected (client, clock, logger, metrics): no module state.
import type { Logger } from 'pino';
import { CRD_NAME, FIELD_MANAGER, GROUP } from '../api/constants.ts';
import { createMonitorValidator } from '../api/validate.ts';
import { CRD_REVISION } from '../api/v1alpha1.ts';
import type { WorkloadKind } from '../api/v1alpha1.ts';
import { KeyedBackoff } from '../runtime/backoff.ts';
import { aborted, type Clock, sleep, untilAborted } from '../runtime/clock.ts';
import { parseKubeVersion } from '../controller/cluster-facts.ts';
import { ClusterFacts, type NodeInfo } from '../controller/facts.ts';
import type { InjectionDefaults } from '../controller/injection.ts';
import { NodeVersionTables, watchKubeletVersions } from '../controller/kubelet-versions.ts';
import { monitorKey, workloadKey } from '../controller/keys.ts';
import { NamespaceStatus } from '../controller/namespaces.ts';
import { type Monitor, MONITOR_RESOURCE, MonitorReconciler } from '../controller/monitors.ts';
import { ControllerState } from '../controller/state.ts';
import { RESOURCE_OF_KIND, WorkloadReconciler } from '../controller/workloads.ts';
import { checkCrd } from '../controller/crd-check.ts';
import { createEventRecorder } from '../controller/events.ts';
import type { OperatorFlags } from '../cli/flags.ts';
import type { KubeClient } from '../kube/client.ts';
import { isApiError, KubeApiError } from '../kube/errors.ts';
import { InformerGroup } from '../kube/informer-group.ts';
import { stripForCache } from '../kube/informer.ts';
import { CRDS, type KubeObject, NODES, objectPath } from '../kube/resources.ts';
import { type Leadership, LeaderElector, type LeadResult, unelected } from '../leader/elector.ts';
import { FencedClient } from '../leader/fenced-client.ts';
import type { OperatorMetrics } from './metrics.ts';
import { runWorkers, WorkQueue } from '../runtime/queue.ts';
import { RolloutLimiter } from '../rollout/limiter.ts';
import type { Check } from './server.ts';

export const FINALIZER = `${GROUP}/cleanup`;
const KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];

export interface ManagerOptions {
  flags: OperatorFlags;
  client: KubeClient;
  /** Events' own client (its own rate limit, as controller-runtime's recorder); default: client. */
  eventClient?: KubeClient;
  clock: Clock;
  logger: Logger;
  metrics: OperatorMetrics;
  identity: string;
  defaults: InjectionDefaults;
}

/** A reason the operator must not start, meant for the person running it. */
export class StartupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StartupError';
  }
}

export type RunResult = LeadResult | 'stopped';

export class Manager {
  readonly #o: ManagerOptions;
  #checked = false;
  #leading = false;
  #synced = false;

  constructor(options: ManagerOptions) {
    this.#o = options;
  }

  ready(): Check {
    if (!this.#checked) return { ok: false, message: 'startup checks not done' };
    if (!this.#o.flags.leaderElect || this.#leading) {
      return this.#synced
        ? { ok: true, message: 'leading; caches synced' }
        : { ok: false, message: 'leading; caches not synced yet' };
    }
    return { ok: true, message: 'standby: waiting for the leader lease' };
  }

  /** Startup checks: the API server answers and the installed CRD is recent enough. */
  async check(): Promise<{ serverVersion: string }> {
    const { client } = this.#o;
    let version: { gitVersion?: string };
    try {
      version = await client.get<{ gitVersion?: string }>('/version');
    } catch (err) {
      throw new StartupError(
        `cannot reach the Kubernetes API server at ${client.server.origin}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    let crd: Parameters<typeof checkCrd>[0];
    try {
      crd = await client.get(objectPath(CRDS, undefined, CRD_NAME));
    } catch (err) {
      if (!isApiError(err, 'not-found')) {
        throw new StartupError(
          `cannot read the ${CRD_NAME} CustomResourceDefinition: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
    }
    const verdict = checkCrd(crd, CRD_REVISION);
    if (!verdict.ok) throw new StartupError(verdict.message);
    this.#checked = true;
    return { serverVersion: version.gitVersion ?? 'unknown' };
  }

  /** Runs until signal aborts (or the lease is lost). Throws StartupError before starting. */
  async run(signal: AbortSignal): Promise<RunResult> {
    const { serverVersion } = await this.check();
    const o = this.#o;
    o.logger.info(
      {
        serverVersion,
        identity: o.identity,
        namespaces: o.flags.namespaces,
        fieldManager: FIELD_MANAGER,
      },
      'startup checks passed',
    );
    if (!o.flags.leaderElect) {
      await this.#lead(unelected(signal), serverVersion);
      return 'stopped';
    }
    const namespace = o.flags.leaderElectionNamespace;
    if (!namespace) {
      throw new StartupError(
        'leader election needs a namespace for its Lease: pass --leader-election-namespace (or set POD_NAMESPACE), or --leader-elect=false',
      );
    }
    const elector = new LeaderElector({
      client: o.client,
      namespace,
      name: o.flags.leaderElectionId,
      identity: o.identity,
      clock: o.clock,
      logger: o.logger,
      timing: {
        leaseDurationMs: o.flags.leaseDurationMs,
        renewDeadlineMs: o.flags.renewDeadlineMs,
        retryPeriodMs: o.flags.retryPeriodMs,
      },
      onLeadingChange: (leading) => {
        this.#leading = leading;
        o.metrics.leader.set(leading ? 1 : 0);
      },
    });
    return elector.run(signal, (leadership) => this.#lead(leadership, serverVersion));
  }

  async #lead(leadership: Leadership, serverVersionText: string): Promise<void> {
    const o = this.#o;
    const { flags, clock, logger, metrics } = o;
    const signal = leadership.signal;
    // Every request of the leader's work carries its leadership: none is sent once it ends.
    const client = new FencedClient(o.client, leadership);
    const onFailure = (resource: string) => (reason: string) => {
      metrics.informerFailures.inc({ resource, reason });
    };
    const common = { client, clock, logger };
    const monitors = new InformerGroup<Monitor>(flags.namespaces, {
      ...common,
      resource: MONITOR_RESOURCE,
      transform: (obj) => stripForCache(obj) as Monitor,
      onFailure: onFailure(MONITOR_RESOURCE.plural),
    });
    const workloads = Object.fromEntries(
      KINDS.map((kind) => {
        const resource = RESOURCE_OF_KIND[kind];
        return [
          kind,
          new InformerGroup(flags.namespaces, {
            ...common,
            resource,
            transform: stripForCache,
            onFailure: onFailure(resource.plural),
          }),
        ];
      }),
    ) as Record<WorkloadKind, InformerGroup>;
    const serverVersion = parseKubeVersion(serverVersionText);
    const kubelets = watchKubeletVersions(serverVersion, flags.watchKubeletVersions);
    logger.info(
      { watchKubeletVersions: kubelets.watch, why: kubelets.reason },
      kubelets.watch ? 'watching kubelet versions' : 'not watching Nodes',
    );
    const nodes = kubelets.watch
      ? new InformerGroup<NodeInfo>([], {
          ...common,
          client: new NodeVersionTables(client),
          resource: NODES,
          onFailure: onFailure(NODES.plural),
        })
      : undefined;

    const workloadQueue = new WorkQueue({
      clock,
      backoff: new KeyedBackoff({ baseMs: 250, maxMs: 5 * 60_000, jitter: 0.5 }),
    });
    const monitorQueue = new WorkQueue({
      clock,
      backoff: new KeyedBackoff({ baseMs: 500, maxMs: 5 * 60_000, jitter: 0.5 }),
    });
    const enqueueMonitor = (key: string): void => {
      monitorQueue.addAfter(key, flags.statusDelayMs);
    };
    const enqueueNamespaceWorkloads = (ns: string): void => {
      for (const kind of KINDS) {
        for (const w of workloads[kind].list(ns))
          workloadQueue.add(workloadKey(kind, ns, w.metadata.name));
      }
    };
    const enqueueNamespaceMonitors = (ns: string): void => {
      for (const m of monitors.list(ns)) enqueueMonitor(monitorKey(ns, m.metadata.name));
    };
    const enqueueEverything = (): void => {
      for (const m of monitors.list())
        monitorQueue.add(monitorKey(m.metadata.namespace ?? '', m.metadata.name));
      for (const kind of KINDS) {
        for (const w of workloads[kind].list()) {
          workloadQueue.add(workloadKey(kind, w.metadata.namespace ?? '', w.metadata.name));
        }
      }
    };

    const facts = new ClusterFacts({
      client,
      nodes,
      serverVersion,
      clock,
      logger,
      discoveryIntervalMs: flags.discoveryIntervalMs,
      onPodMonitorsChange: enqueueEverything,
    });
    const state = new ControllerState();
    const namespaceStatus = new NamespaceStatus(client, clock);
    const limiter = new RolloutLimiter({
      globalMax: flags.maxConcurrentRollouts,
      now: () => clock.monotonic(),
      onSlotFreed: (waiting) => {
        for (const key of waiting) workloadQueue.add(key);
      },
    });
    const recorder = createEventRecorder({
      client: o.eventClient ?? client,
      clock,
      logger,
      component: 'sidecar-monitor',
      instance: o.identity,
    });
    const workloadReconciler = new WorkloadReconciler(
      {
        client,
        workloads,
        monitors,
        facts,
        defaults: o.defaults,
        limiter,
        state,
        recorder,
        metrics,
        clock,
        logger,
        namespaces: namespaceStatus,
        enqueueMonitor,
        enqueueWorkload: (key) => {
          workloadQueue.add(key);
        },
      },
      FINALIZER,
    );
    const monitorReconciler = new MonitorReconciler({
      client,
      monitors,
      workloads,
      facts,
      state,
      validator: createMonitorValidator(),
      clock,
      logger,
      finalizer: FINALIZER,
      namespaces: namespaceStatus,
      recorder,
      enqueueWorkload: (key) => {
        workloadQueue.add(key);
      },
    });

    monitors.addHandlers({
      upsert: (m, old) => {
        const ns = m.metadata.namespace ?? '';
        monitorQueue.add(monitorKey(ns, m.metadata.name));
        const specChanged =
          !old ||
          old.metadata.generation !== m.metadata.generation ||
          old.metadata.deletionTimestamp !== m.metadata.deletionTimestamp ||
          (old.metadata.finalizers ?? []).join() !== (m.metadata.finalizers ?? []).join();
        if (specChanged) enqueueNamespaceWorkloads(ns);
      },
      delete: (m) => {
        const ns = m.metadata.namespace ?? '';
        monitorQueue.add(monitorKey(ns, m.metadata.name));
        enqueueNamespaceWorkloads(ns);
      },
    });
    for (const kind of KINDS) {
      workloads[kind].addHandlers({
        upsert: (w, old) => {
          const ns = w.metadata.namespace ?? '';
          workloadQueue.add(workloadKey(kind, ns, w.metadata.name));
          if (!old || labelsDiffer(old, w)) enqueueNamespaceMonitors(ns);
        },
        delete: (w) => {
          const ns = w.metadata.namespace ?? '';
          workloadQueue.add(workloadKey(kind, ns, w.metadata.name));
          enqueueNamespaceMonitors(ns);
        },
      });
    }

    const informers = [monitors, ...(nodes ? [nodes] : []), ...KINDS.map((k) => workloads[k])];
    const informersDone = Promise.all(informers.map((i) => i.run(signal)));
    const started = clock.monotonic();
    await Promise.race([Promise.all(informers.map((i) => i.waitForSync())), untilAborted(signal)]);
    if (aborted(signal)) {
      await informersDone;
      return;
    }
    await facts.refreshDiscovery(signal);
    logger.info(
      {
        ms: Math.round(clock.monotonic() - started),
        monitors: monitors.size,
        workloads: KINDS.reduce((n, k) => n + workloads[k].size, 0),
        nodes: nodes?.size,
        nativeSidecars: facts.nativeSidecars(),
        podMonitorCrd: facts.podMonitors(),
      },
      'caches synced; reconciling',
    );
    this.#synced = true;

    const observe =
      (
        controller: string,
        reconcile: (key: string) => Promise<{ requeueAfterMs?: number } | undefined>,
      ) =>
      async (key: string) => {
        const end = metrics.reconcileDuration.startTimer({ controller });
        try {
          return await reconcile(key);
        } finally {
          end();
        }
      };
    const hooks = (controller: string) => ({
      onResult: (key: string, outcome: 'success' | 'error', error?: unknown) => {
        metrics.reconciles.inc({ controller, result: outcome });
        if (outcome === 'error') {
          const e = error instanceof KubeApiError ? error : undefined;
          logger.warn(
            { controller, key, err: e?.message ?? String(error), reason: e?.kind },
            'reconcile failed; retrying with backoff',
          );
        }
      },
    });
    metrics.sources.queueDepth = () => ({
      workloads: workloadQueue.length,
      monitors: monitorQueue.length,
    });
    metrics.sources.workloadStates = () => state.countByState();
    metrics.sources.rolloutStates = () => ({
      in_progress: limiter.holding(),
      waiting: limiter.waiting,
    });

    const workers = Promise.all([
      runWorkers(
        workloadQueue,
        flags.workers,
        observe('workloads', (k) => workloadReconciler.reconcile(k)),
        hooks('workloads'),
      ),
      runWorkers(
        monitorQueue,
        2,
        observe('monitors', (k) => monitorReconciler.reconcile(k)),
        hooks('monitors'),
      ),
    ]);
    const background = facts.run(signal);
    const resync = resyncLoop(clock, flags.resyncMs, signal, enqueueEverything);

    await untilAborted(signal);
    workloadQueue.shutDown();
    monitorQueue.shutDown();
    await Promise.all([workers, informersDone, background, resync]);
    this.#synced = false;
    logger.info('stopped reconciling');
  }
}

/**
 * Every --resync, every cached object is reconciled again: from the informers' caches,
 * never by listing (the watches keep them current). The period is jittered like
 * controller-runtime's (±12.5%), so replicas and restarts do not fall into step.
 */
export async function resyncLoop(
  clock: Clock,
  periodMs: number,
  signal: AbortSignal,
  enqueueEverything: () => void,
  random: () => number = Math.random,
): Promise<void> {
  while (!aborted(signal)) {
    await sleep(clock, periodMs * (0.875 + random() / 4), signal);
    if (!aborted(signal)) enqueueEverything();
  }
}

function labelsDiffer(a: KubeObject, b: KubeObject): boolean {
  const la = a.metadata.labels ?? {};
  const lb = b.metadata.labels ?? {};
  const ka = Object.keys(la);
  if (ka.length !== Object.keys(lb).length) return true;
  return ka.some((k) => la[k] !== lb[k]);
}
