// Scenario 8: faults. A killed operator, an API server restart, an optimistic-concurrency
// conflict, an invalid monitor, and an installed CRD older than the operator.
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { DEFAULT_EXPORTER_RESOURCES } from '../../operator/api/constants.ts';
import type { WorkloadKind } from '../../operator/api/v1alpha1.ts';
import { KeyedBackoff } from '../../operator/runtime/backoff.ts';
import { systemClock } from '../../operator/runtime/clock.ts';
import { ClusterFacts } from '../../operator/controller/facts.ts';
import { workloadKey } from '../../operator/controller/keys.ts';
import { type Monitor, MONITOR_RESOURCE } from '../../operator/controller/monitors.ts';
import { NamespaceStatus } from '../../operator/controller/namespaces.ts';
import { ControllerState } from '../../operator/controller/state.ts';
import { RESOURCE_OF_KIND, WorkloadReconciler } from '../../operator/controller/workloads.ts';
import { createEventRecorder } from '../../operator/controller/events.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadAccess } from '../../operator/kube/kubeconfig.ts';
import { KubeApiError } from '../../operator/kube/errors.ts';
import { InformerGroup } from '../../operator/kube/informer-group.ts';
import { stripForCache } from '../../operator/kube/informer.ts';
import { FINALIZER } from '../../operator/manager/manager.ts';
import { createMetrics } from '../../operator/manager/metrics.ts';
import { runWorkers, WorkQueue } from '../../operator/runtime/queue.ts';
import { RolloutLimiter } from '../../operator/rollout/limiter.ts';
import { testCluster } from '../cluster/harness.ts';
import {
  condition,
  countExporters,
  CRD_FILE,
  deployment,
  EXPORTER_IMAGE,
  injected,
  monitor,
  ref,
  rolling,
  scoped,
  startOperator,
  statusOf,
  useOperatorInstall,
} from './support.ts';

const cluster = testCluster();
const install = useOperatorInstall(cluster);

describe('a killed operator', () => {
  test('restarted, converges with no duplicate container and no lost injection', async () => {
    await using ns = await cluster.namespace('killed');
    const names = Array.from({ length: 8 }, (_, i) => `w${i}`);
    await cluster.apply(names.map((n) => deployment(ns.name, n, { monitored: 'true' })));
    await cluster.apply(monitor(ns.name, 'mon', { rollout: { maxConcurrent: 2 } }));
    {
      await using first = await startOperator({ install: install(), namespaces: [ns.name] });
      await first.waitForLog(
        'a first injection',
        (l) => typeof l.msg === 'string' && l.msg.startsWith('exporter injected'),
      );
      // Mid-way: some workloads injected, some rolling, most waiting for a slot.
      await first.kill('SIGKILL');
    }
    const partial = await Promise.all(names.map((n) => cluster.get(ref('Deployment', ns.name, n))));
    expect(partial.filter(injected).length).toBeLessThan(names.length);
    await using second = await startOperator({ install: install(), namespaces: [ns.name] });
    await cluster.waitForObject(
      ref('SidecarMonitor', ns.name, 'mon'),
      (o) =>
        statusOf(o).injectedWorkloads === names.length && condition(o, 'Ready')?.status === 'True',
      { timeoutMs: 180_000 },
    );
    for (const n of names) {
      expect(countExporters(await cluster.get(ref('Deployment', ns.name, n))), n).toBe(1);
    }
    // The restarted operator wrote only what was missing.
    const written = await second.metric('sidecar_monitor_operator_workload_writes_total');
    expect(written).toBe(names.length - partial.filter(injected).length);
  });
});

describe('an API server restart', () => {
  test('watches recover on their own (API server down for 10 s)', async () => {
    // A lease longer than the outage: this test is about the informers, not a failover.
    await using s = await scoped(cluster, install(), 'apirestart', {
      args: ['--lease-duration', '60', '--renew-deadline', '40', '--retry-period', '2'],
    });
    const ns = s.ns.name;
    // No rollout limit in the way: the test is about the watches, and a rollout caught
    // by the outage would otherwise hold the monitor's only slot.
    await cluster.apply([
      deployment(ns, 'before', { monitored: 'true' }),
      monitor(ns, 'mon', { rollout: { maxConcurrent: 10 } }),
    ]);
    await cluster.waitForObject(ref('Deployment', ns, 'before'), injected);
    await cluster.apiServer.restart({ downForMs: 10_000 });
    // The informers noticed, and are back: a workload created now is injected by the
    // same process, which never restarted.
    await cluster.apply(deployment(ns, 'after', { monitored: 'true' }));
    await cluster.waitForObject(ref('Deployment', ns, 'after'), injected, { timeoutMs: 90_000 });
    expect(
      await s.operator.metric('sidecar_monitor_operator_informer_failures_total'),
    ).toBeGreaterThan(0);
    expect(
      s.operator.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('failed; retrying')),
    ).toBe(true);
    expect(await s.operator.metric('sidecar_monitor_operator_leader')).toBe(1);
  });
});

describe('an optimistic-concurrency conflict', () => {
  test('is retried with backoff, then succeeds', async () => {
    await using ns = await cluster.namespace('occ');
    await cluster.apply(deployment(ns.name, 'web', { monitored: 'true' }));
    // The finalizer is what makes a monitor active for the workload reconciler.
    const mon = monitor(ns.name, 'mon');
    mon.metadata.finalizers = [FINALIZER];
    await cluster.apply(mon);

    // The operator's own pieces, in process, under the chart's RBAC.
    const client = KubeClient.fromAccess(await loadAccess(install().kubeconfigPath));
    const logger = pino({ level: 'silent' });
    const common = { client, clock: systemClock, logger };
    const kinds: WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];
    const workloads = Object.fromEntries(
      kinds.map((k) => [
        k,
        new InformerGroup([ns.name], {
          ...common,
          resource: RESOURCE_OF_KIND[k],
          transform: stripForCache,
        }),
      ]),
    ) as Record<WorkloadKind, InformerGroup>;
    const monitors = new InformerGroup<Monitor>([ns.name], {
      ...common,
      resource: MONITOR_RESOURCE,
      transform: (o) => o as Monitor,
    });
    const informers = [monitors, ...kinds.map((k) => workloads[k])];
    const stop = new AbortController();
    const running = Promise.all(informers.map((i) => i.run(stop.signal)));
    try {
      await Promise.all(informers.map((i) => i.waitForSync()));
      // A cache one change behind: the workload changes after we snapshot it.
      const cached = structuredClone(workloads.Deployment.get(ns.name, 'web')!);
      await cluster.kubectl(['label', 'deployment', 'web', '-n', ns.name, 'touched=yes']);
      let served = false;
      const stale = new Proxy(workloads.Deployment, {
        get(target, prop, receiver) {
          if (prop === 'get') {
            return (namespace: string, name: string) => {
              if (!served) {
                served = true;
                return cached;
              }
              return target.get(namespace, name);
            };
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function'
            ? (value as (...a: unknown[]) => unknown).bind(target)
            : value;
        },
      });
      const reconciler = new WorkloadReconciler(
        {
          client,
          workloads: { ...workloads, Deployment: stale },
          monitors,
          facts: new ClusterFacts({
            client,
            serverVersion: { major: 1, minor: 35 },
            clock: systemClock,
            logger,
            discoveryIntervalMs: 60_000,
          }),
          defaults: {
            exporterImage: EXPORTER_IMAGE,
            allowedExporterImages: [EXPORTER_IMAGE],
            exporterResources: {
              requests: { ...DEFAULT_EXPORTER_RESOURCES.requests },
              limits: { ...DEFAULT_EXPORTER_RESOURCES.limits },
            },
          },
          limiter: new RolloutLimiter({ now: () => Date.now() }),
          state: new ControllerState(),
          recorder: createEventRecorder({
            client,
            clock: systemClock,
            logger,
            component: 'test',
            instance: 'test',
          }),
          metrics: createMetrics('test'),
          clock: systemClock,
          logger,
          namespaces: new NamespaceStatus(client, systemClock),
          enqueueMonitor: () => undefined,
          enqueueWorkload: () => undefined,
        },
        FINALIZER,
      );
      const queue = new WorkQueue({
        clock: systemClock,
        backoff: new KeyedBackoff({ baseMs: 300, maxMs: 5000, jitter: 0.5 }),
      });
      const attempts: { at: number; outcome: string; error?: unknown }[] = [];
      const workers = runWorkers(queue, 1, (key) => reconciler.reconcile(key), {
        onResult: (_key, outcome, error) => attempts.push({ at: Date.now(), outcome, error }),
      });
      queue.add(workloadKey('Deployment', ns.name, 'web'));
      await cluster.waitForObject(ref('Deployment', ns.name, 'web'), injected, {
        timeoutMs: 30_000,
      });
      queue.shutDown();
      await workers;
      expect(attempts.map((a) => a.outcome)).toEqual(['error', 'success']);
      const error = attempts[0]!.error as KubeApiError;
      expect(error).toBeInstanceOf(KubeApiError);
      expect(error.kind).toBe('conflict');
      expect(error.retryable).toBe(true);
      // Backoff with jitter: between half the base delay and the base delay.
      expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(150);
      client.close();
    } finally {
      stop.abort();
      await running;
    }
  });
});

describe('an invalid monitor that slipped past the schema', () => {
  test('is reported Degraded with the reason, touches nothing, and does not hot-loop', async () => {
    await using s = await scoped(cluster, install(), 'invalid');
    const ns = s.ns.name;
    await cluster.apply(deployment(ns, 'web', { monitored: 'true' }));
    // Settled first: the Deployment's own rollout must not count as the operator's activity.
    await cluster.waitForObject(
      ref('Deployment', ns, 'web'),
      (o) => !rolling(o as Parameters<typeof rolling>[0]),
    );
    // Requests above limits: the API server's schema and CEL cannot compare quantities.
    await cluster.apply(
      monitor(ns, 'mon', {
        exporter: { resources: { requests: { memory: '512Mi' }, limits: { memory: '128Mi' } } },
      }),
    );
    const m = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) => condition(o, 'Degraded')?.status === 'True',
    );
    expect(condition(m, 'Degraded')).toMatchObject({ reason: 'InvalidSpec' });
    expect(condition(m, 'Degraded')?.message).toContain('spec.exporter.resources.requests.memory');
    expect(condition(m, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    const reconciles = (): Promise<number> =>
      s.operator.metric('sidecar_monitor_operator_reconcile_total');
    await new Promise((r) => setTimeout(r, 1000));
    const settled = await reconciles();
    await new Promise((r) => setTimeout(r, 5000));
    expect(await reconciles()).toBe(settled);
    expect(injected(await cluster.get(ref('Deployment', ns, 'web')))).toBe(false);
    expect(await s.operator.metric('sidecar_monitor_operator_workload_writes_total')).toBe(0);
  });
});

describe('an installed CRD older than the operator', () => {
  test('makes the operator refuse to start, saying how to upgrade it', async () => {
    const crdRef = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name: 'sidecarmonitors.sidecarmonitor.io',
    };
    await cluster.kubectl([
      'annotate',
      'crd',
      crdRef.name,
      'sidecarmonitor.io/crd-revision=0',
      '--overwrite',
    ]);
    try {
      const operator = await startOperator({ install: install(), wait: 'listening' });
      const exit = await operator.exited;
      expect(exit.code).toBe(1);
      expect(operator.stderr()).toMatch(
        /is revision 0 but this operator needs revision \d+ or newer/,
      );
      expect(operator.stderr()).toContain('kubectl apply --server-side');
    } finally {
      await cluster.applyFile(CRD_FILE);
    }
  });
});
