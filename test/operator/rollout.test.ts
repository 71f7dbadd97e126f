// Scenario 7: rate-limited rollouts. Pods become Ready through kwok, so rollouts are
// real (new ReplicaSet, new Pods, old ones go); minReadySeconds stretches each one so
// overlapping rollouts would be seen. Concurrency is measured from a watch of every
// Deployment change, not by sampling.
import { describe, expect, test } from 'vitest';
import { testCluster } from '../cluster/harness.ts';
import {
  condition,
  deployment,
  injected,
  monitor,
  ref,
  rolling,
  scoped,
  startOperator,
  statusOf,
  trackRollouts,
  useOperatorInstall,
} from './support.ts';

const cluster = testCluster();
const install = useOperatorInstall(cluster);

const slow = { replicas: 2, spec: { minReadySeconds: 2 } };

async function settled(ns: string, names: readonly string[]): Promise<void> {
  await cluster.waitFor(
    `deployments of ${ns} rolled out`,
    async () => {
      const list = await cluster.list({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns });
      return (
        list.length === names.length &&
        list.every((d) => !rolling(d as Parameters<typeof rolling>[0]))
      );
    },
    { timeoutMs: 120_000 },
  );
}

describe('rollout rate limits', () => {
  test('a monitor never has more than rollout.maxConcurrent workloads rolling at once', async () => {
    await using s = await scoped(cluster, install(), 'maxconc');
    const ns = s.ns.name;
    const names = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'];
    await cluster.apply(names.map((n) => deployment(ns, n, { monitored: 'true' }, slow)));
    await settled(ns, names);
    await using tracker = await trackRollouts(cluster, [ns]);
    await cluster.apply(monitor(ns, 'mon', { rollout: { maxConcurrent: 2 } }));
    const m = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) => statusOf(o).injectedWorkloads === 6 && condition(o, 'Ready')?.status === 'True',
      { timeoutMs: 180_000 },
    );
    expect(tracker.max, tracker.timeline()).toBe(2);
    // Waiting workloads were reported as such while they waited.
    expect(s.operator.logs.some((l) => l.msg === 'no rollout slot free; waiting')).toBe(true);
    expect(statusOf(m).workloads?.every((w) => w.state === 'Injected')).toBe(true);
  });

  test('--max-concurrent-rollouts holds across monitors, for an operator upgrade and for removals', async () => {
    await using a = await cluster.namespace('global-a');
    await using b = await cluster.namespace('global-b');
    const names = ['w1', 'w2', 'w3'];
    for (const ns of [a.name, b.name]) {
      await cluster.apply(names.map((n) => deployment(ns, n, { monitored: 'true' }, slow)));
      await settled(ns, names);
    }
    await using tracker = await trackRollouts(cluster, [a.name, b.name]);
    const limits = ['--max-concurrent-rollouts', '2'];
    {
      await using op = await startOperator({
        install: install(),
        namespaces: [a.name, b.name],
        args: limits,
      });
      for (const ns of [a.name, b.name]) {
        await cluster.apply(monitor(ns, 'mon', { rollout: { maxConcurrent: 10 } }));
      }
      for (const ns of [a.name, b.name]) {
        await cluster.waitForObject(
          ref('SidecarMonitor', ns, 'mon'),
          (o) => statusOf(o).injectedWorkloads === 3 && condition(o, 'Ready')?.status === 'True',
          { timeoutMs: 180_000 },
        );
      }
      expect(tracker.max, tracker.timeline()).toBe(2);
      expect(
        await op.metric('sidecar_monitor_operator_workload_writes_total', { action: 'inject' }),
      ).toBe(6);
    }

    // An operator upgrade with a new exporter image changes every injection.
    tracker.reset();
    {
      await using op = await startOperator({
        install: install(),
        namespaces: [a.name, b.name],
        args: [...limits, '--exporter-image', 'ghcr.io/sidecar-monitor/sidecar-monitor:0.2.0-test'],
      });
      await cluster.waitFor(
        'every workload to run the new exporter image',
        async () => {
          for (const ns of [a.name, b.name]) {
            const m = await cluster.get(ref('SidecarMonitor', ns, 'mon'));
            if (condition(m, 'Ready')?.status !== 'True') return false;
            for (const n of names) {
              const d = await cluster.get(ref('Deployment', ns, n));
              const images = JSON.stringify((d.spec as { template: unknown }).template);
              if (!images.includes('0.2.0-test') || rolling(d as Parameters<typeof rolling>[0]))
                return false;
            }
          }
          return true;
        },
        { timeoutMs: 180_000 },
      );
      expect(tracker.max, tracker.timeline()).toBe(2);
      expect(
        await op.metric('sidecar_monitor_operator_workload_writes_total', { action: 'update' }),
      ).toBe(6);

      // Removals take slots too: deleting both monitors restarts at most 2 at once.
      tracker.reset();
      for (const ns of [a.name, b.name]) await cluster.remove(ref('SidecarMonitor', ns, 'mon'));
      for (const ns of [a.name, b.name]) {
        await cluster.waitForDeletion(ref('SidecarMonitor', ns, 'mon'), { timeoutMs: 180_000 });
      }
      await settled(a.name, names);
      await settled(b.name, names);
      expect(tracker.max, tracker.timeline()).toBe(2);
      for (const ns of [a.name, b.name]) {
        for (const n of names)
          expect(injected(await cluster.get(ref('Deployment', ns, n)))).toBe(false);
      }
    }
  });
});

describe('a rollout stuck past its progress deadline', () => {
  test('a ResourceQuota rejecting the new pods: RolloutFailed, Degraded, the monitor halts until it recovers', async () => {
    await using s = await scoped(cluster, install(), 'quota');
    const ns = s.ns.name;
    const stuck = { spec: { progressDeadlineSeconds: 10 } };
    await cluster.apply([
      deployment(ns, 'a', { monitored: 'true' }, stuck),
      deployment(ns, 'b', { monitored: 'true' }, stuck),
    ]);
    await settled(ns, ['a', 'b']);
    // A quota on memory requests: every new pod must then declare them for every
    // container, which these apps do not, so whichever rollout starts first is stuck.
    // (Admission-time validation: deterministic, unlike a usage count on a busy machine.)
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'memory', namespace: ns },
      spec: { hard: { 'requests.memory': '10Gi' } },
    });
    await cluster.waitFor('the quota to be in force', async () => {
      const q = await cluster.get({
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        namespace: ns,
        name: 'memory',
      });
      return (
        (q.status as { hard?: Record<string, string> } | undefined)?.hard?.['requests.memory'] ===
        '10Gi'
      );
    });
    await cluster.apply(monitor(ns, 'mon', { rollout: { maxConcurrent: 1 } }));
    const m = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) => condition(o, 'Degraded')?.status === 'True',
      { timeoutMs: 120_000 },
    );
    expect(condition(m, 'Degraded')?.reason).toBe('RolloutFailed');
    expect(condition(m, 'Ready')?.status).toBe('False');
    const states = Object.fromEntries((statusOf(m).workloads ?? []).map((w) => [w.name, w]));
    const failed = Object.values(states).filter((w) => w.state === 'RolloutFailed');
    expect(failed).toHaveLength(1);
    const other = Object.values(states).find((w) => w.state !== 'RolloutFailed');
    // Halted: the other workload is not touched while the failure stands.
    expect(other).toMatchObject({ state: 'Pending', reason: 'RolloutsHalted' });
    expect(injected(await cluster.get(ref('Deployment', ns, other!.name)))).toBe(false);
    const events = await cluster.list({ apiVersion: 'v1', kind: 'Event', namespace: ns });
    expect(events.some((e) => (e as { reason?: string }).reason === 'RolloutFailed')).toBe(true);

    // The quota goes and the person restarts the stuck rollout (the ReplicaSet controller
    // would retry by itself, but after minutes of backoff): it completes, the halt lifts,
    // the other one follows.
    await cluster.remove({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      namespace: ns,
      name: 'memory',
    });
    const restarted = await cluster.kubectl([
      'rollout',
      'restart',
      '-n',
      ns,
      `deployment/${failed[0]!.name}`,
    ]);
    expect(restarted.code, restarted.stderr).toBe(0);
    const recovered = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) => statusOf(o).injectedWorkloads === 2 && condition(o, 'Ready')?.status === 'True',
      { timeoutMs: 180_000 },
    );
    expect(condition(recovered, 'Degraded')?.status).toBe('False');
  }, 360_000);

  test('Pod Security "restricted" rejecting the pods: RolloutFailed and Degraded', async () => {
    await using s = await scoped(cluster, install(), 'psa');
    const ns = s.ns.name;
    await cluster.apply(
      deployment(ns, 'web', { monitored: 'true' }, { spec: { progressDeadlineSeconds: 10 } }),
    );
    await settled(ns, ['web']);
    // The running pods stay; new ones must meet `restricted`, which this app does not.
    await cluster.kubectl([
      'label',
      'namespace',
      ns,
      'pod-security.kubernetes.io/enforce=restricted',
    ]);
    await cluster.apply(monitor(ns, 'mon'));
    const m = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) => condition(o, 'Degraded')?.status === 'True',
      { timeoutMs: 120_000 },
    );
    expect(statusOf(m).workloads?.[0]).toMatchObject({
      name: 'web',
      state: 'RolloutFailed',
      reason: 'ProgressDeadlineExceeded',
    });
    expect(condition(m, 'Degraded')?.message).toContain('Deployment/web');
  });
});
