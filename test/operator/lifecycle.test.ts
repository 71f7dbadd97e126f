// Scenarios 4 and 5: deleting a monitor (finalizer), a terminating namespace, the
// `cleanup` command, and two monitors selecting one workload.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { testCluster } from '../cluster/harness.ts';
import { type KubeObject } from '../cluster/harness.ts';
import {
  condition,
  deployment,
  injected,
  monitor,
  ref,
  scoped,
  startOperator,
  statefulSet,
  statusOf,
  templateOf,
  useOperatorInstall,
} from './support.ts';

const cluster = testCluster();
const install = useOperatorInstall(cluster);

const managers = (o: { metadata: { managedFields?: { manager?: string }[] } }): string[] =>
  (o.metadata.managedFields ?? []).map((f) => f.manager ?? '');
const FINALIZER = 'sidecarmonitor.io/cleanup';

/**
 * A StatefulSet whose pod can never start: its claim names a StorageClass nothing
 * provisions, so the PVC stays Pending and so does the pod. Every rollout of it is stuck.
 */
function stuckStatefulSet(namespace: string, name: string): KubeObject {
  const sts = statefulSet(namespace, name, { monitored: 'true' });
  (sts.spec as Record<string, unknown>).volumeClaimTemplates = [
    {
      metadata: { name: 'data' },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'nothing-provisions-this',
        resources: { requests: { storage: '1Gi' } },
      },
    },
  ];
  return sts;
}

const workloadState = (o: KubeObject, name: string): string | undefined =>
  statusOf(o).workloads?.find((w) => w.name === name)?.state;

async function eventsOf(ns: string, kind: string, name: string): Promise<string[]> {
  const events = await cluster.list({ apiVersion: 'v1', kind: 'Event', namespace: ns });
  return events
    .filter((e) => {
      const about = (e as { involvedObject?: { kind?: string; name?: string } }).involvedObject;
      return about?.kind === kind && about.name === name;
    })
    .map(
      (e) =>
        `${String((e as { reason?: string }).reason)}: ${String((e as { message?: string }).message)}`,
    );
}

describe('deleting a monitor', () => {
  test('its finalizer removes every injection, then lets the monitor go', async () => {
    await using s = await scoped(cluster, install(), 'delete');
    const ns = s.ns.name;
    const created = await cluster.apply([
      deployment(ns, 'a', { monitored: 'true' }),
      deployment(ns, 'b', { monitored: 'true' }),
    ]);
    const originals = new Map(created.map((d) => [d.metadata.name, templateOf(d)]));
    await cluster.apply(monitor(ns, 'mon', { rollout: { maxConcurrent: 2 } }));
    const monRef = ref('SidecarMonitor', ns, 'mon');
    const m = await cluster.waitForObject(monRef, (o) => statusOf(o).injectedWorkloads === 2);
    expect(m.metadata.finalizers).toContain(FINALIZER);

    await cluster.remove(monRef);
    // The finalizer waits for both removals to roll out (real pods through kwok).
    await cluster.waitForDeletion(monRef, { timeoutMs: 120_000 });
    for (const name of ['a', 'b']) {
      const d = await cluster.get(ref('Deployment', ns, name));
      expect(injected(d), name).toBe(false);
      expect(templateOf(d)).toEqual(originals.get(name));
      expect(managers(d)).not.toContain('sidecar-monitor');
    }
    expect(
      s.operator.logs.some((l) => l.msg === 'every injection removed; finalizer removed'),
    ).toBe(true);
  });

  test('always finishes: a removal that cannot roll out holds the others for at most its progress deadline, and status and Events say what is left', async () => {
    await using s = await scoped(cluster, install(), 'delete-stuck');
    const ns = s.ns.name;
    const created = await cluster.apply([
      deployment(ns, 'a', { monitored: 'true' }),
      deployment(ns, 'b', { monitored: 'true' }),
    ]);
    const originals = new Map(created.map((d) => [d.metadata.name, templateOf(d)]));
    const monRef = ref('SidecarMonitor', ns, 'mon');
    await cluster.apply(
      monitor(ns, 'mon', { rollout: { maxConcurrent: 1, progressDeadlineSeconds: 60 } }),
    );
    await cluster.waitForObject(
      monRef,
      (o) => statusOf(o).injectedWorkloads === 2 && condition(o, 'Ready')?.status === 'True',
      { timeoutMs: 120_000 },
    );
    // The StatefulSet is injected and its rollout, stuck, holds the monitor's only slot.
    const [db] = await cluster.apply(stuckStatefulSet(ns, 'db'));
    originals.set('db', templateOf(db!));
    await cluster.waitForObject(monRef, (o) => workloadState(o, 'db') === 'RollingOut');

    await cluster.remove(monRef);
    // While it waits, the status and an Event on the monitor say what is left and why.
    const deleting = await cluster.waitForObject(monRef, (o) => {
      const c = condition(o, 'Deleting');
      return (
        c?.status === 'True' &&
        c.message.includes('Deployment/a') &&
        c.message.includes('waiting for a rollout slot') &&
        workloadState(o, 'db') === 'RollingOut'
      );
    });
    expect(condition(deleting, 'Deleting')?.message).toContain(
      'Restored, still rolling out: StatefulSet/db',
    );
    expect(condition(deleting, 'Ready')).toMatchObject({ status: 'False', reason: 'Deleting' });
    expect(statusOf(deleting).workloads).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'a', state: 'Pending', reason: 'WaitingForRolloutSlot' }),
        expect.objectContaining({ name: 'db', state: 'RollingOut' }),
      ]),
    );
    const waiting = await cluster.waitFor('an Event saying what the deletion waits for', async () =>
      (await eventsOf(ns, 'SidecarMonitor', 'mon')).find((e) =>
        e.startsWith('WaitingForInjectionRemoval: '),
      ),
    );
    expect(waiting).toContain('Deployment/b');

    // The StatefulSet's removal passes its 60 s deadline, gives its slot back, and the
    // Deployments follow: the monitor goes, every template restored exactly.
    await cluster.waitForDeletion(monRef, { timeoutMs: 180_000 });
    for (const [kind, name] of [
      ['Deployment', 'a'],
      ['Deployment', 'b'],
      ['StatefulSet', 'db'],
    ] as const) {
      const w = await cluster.get(ref(kind, ns, name));
      expect(injected(w), name).toBe(false);
      expect(templateOf(w), name).toEqual(originals.get(name));
      expect(managers(w), name).not.toContain('sidecar-monitor');
    }
    expect(await eventsOf(ns, 'StatefulSet', 'db')).toEqual(
      expect.arrayContaining([expect.stringMatching(/^RemovalRolloutStuck: /)]),
    );
    expect(await eventsOf(ns, 'SidecarMonitor', 'mon')).toEqual(
      expect.arrayContaining([expect.stringMatching(/^InjectionsRemoved: /)]),
    );
  }, 300_000);

  test('an opt-out of a workload whose rollout is stuck follows the same rule: the others wait at most its deadline', async () => {
    await using s = await scoped(cluster, install(), 'optout-stuck');
    const ns = s.ns.name;
    const monRef = ref('SidecarMonitor', ns, 'mon');
    await cluster.apply(
      monitor(ns, 'mon', { rollout: { maxConcurrent: 1, progressDeadlineSeconds: 60 } }),
    );
    await cluster.apply(stuckStatefulSet(ns, 'db'));
    await cluster.waitForObject(monRef, (o) => workloadState(o, 'db') === 'RollingOut');
    await cluster.apply(deployment(ns, 'web', { monitored: 'true' }));
    await cluster.waitForObject(monRef, (o) => workloadState(o, 'web') === 'Pending');
    // The stuck one opts out: its removal takes over the slot, and is stuck as well.
    await cluster.kubectl([
      'label',
      'statefulset',
      'db',
      '-n',
      ns,
      'sidecarmonitor.io/inject=false',
    ]);
    await cluster.waitForObject(ref('StatefulSet', ns, 'db'), (o) => !injected(o));
    const m = await cluster.waitForObject(
      monRef,
      (o) => workloadState(o, 'web') === 'Injected' && condition(o, 'Ready')?.status === 'True',
      { timeoutMs: 180_000 },
    );
    expect(statusOf(m).workloads?.find((w) => w.name === 'db')).toMatchObject({
      state: 'Skipped',
      reason: 'OptedOut',
    });
    expect(await eventsOf(ns, 'StatefulSet', 'db')).toEqual(
      expect.arrayContaining([expect.stringMatching(/^RemovalRolloutStuck: /)]),
    );
  }, 300_000);

  test('in a terminating namespace the finalizer goes without patching workloads', async () => {
    await using s = await scoped(cluster, install(), 'terminating');
    const ns = s.ns.name;
    // A finalizer of the test's own keeps the Deployment around while the namespace
    // terminates, so the test can see whether anything patched it.
    await cluster.apply(deployment(ns, 'web', { monitored: 'true' }));
    await cluster.apply(monitor(ns, 'mon'));
    const monRef = ref('SidecarMonitor', ns, 'mon');
    await cluster.waitForObject(monRef, (o) => statusOf(o).injectedWorkloads === 1);
    const webRef = ref('Deployment', ns, 'web');
    await cluster.rest.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/web`, {
      body: { metadata: { finalizers: ['test.sidecar-monitor.io/hold'] } },
      contentType: 'application/merge-patch+json',
    });
    const before = await cluster.get(webRef);
    try {
      await s.ns.delete();
      await cluster.waitForDeletion(monRef, { timeoutMs: 60_000 });
      const web = await cluster.get(webRef);
      expect(web.metadata.deletionTimestamp).toBeDefined();
      // Still injected: nothing restored it in a namespace that is going away (setting the
      // deletionTimestamp bumps the generation, so compare the template and our entry).
      expect(injected(web)).toBe(true);
      expect(templateOf(web)).toEqual(templateOf(before));
      const ours = (o: typeof web): unknown =>
        (o.metadata.managedFields ?? []).find((f) => f.manager === 'sidecar-monitor');
      expect(ours(web)).toEqual(ours(before));
      // Either the namespace was seen terminating, or the only workload carrying the
      // injection was seen being deleted: both let the finalizer go without a patch.
      expect(
        s.operator.logs.some(
          (l) =>
            l.msg === 'namespace terminating: finalizer removed without touching workloads' ||
            l.msg === 'every injection removed; finalizer removed',
        ),
      ).toBe(true);
    } finally {
      await cluster.rest.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/web`, {
        body: { metadata: { finalizers: null } },
        contentType: 'application/merge-patch+json',
      });
    }
    await cluster.waitForDeletion(
      { apiVersion: 'v1', kind: 'Namespace', name: ns },
      { timeoutMs: 120_000 },
    );
  });
});

describe('sidecar-monitor cleanup', () => {
  test('removes every injection and finalizer, so nothing is left behind after uninstall', async () => {
    await using a = await cluster.namespace('cleanup-a');
    await using b = await cluster.namespace('cleanup-b');
    const originals = new Map<string, unknown>();
    for (const ns of [a.name, b.name]) {
      const [d] = await cluster.apply(deployment(ns, 'web', { monitored: 'true' }));
      originals.set(ns, templateOf(d!));
      await cluster.apply(monitor(ns, 'mon'));
    }
    {
      await using operator = await startOperator({
        install: install(),
        namespaces: [a.name, b.name],
      });
      for (const ns of [a.name, b.name]) {
        await cluster.waitForObject(
          ref('SidecarMonitor', ns, 'mon'),
          (o) => statusOf(o).injectedWorkloads === 1,
        );
      }
      // Uninstall: the operator goes first.
      const exit = await operator.kill('SIGTERM');
      expect(exit.code).toBe(0);
    }
    const run = promisify(execFile);
    const bin = path.resolve(import.meta.dirname, '..', '..', 'bin', 'sidecar-monitor.ts');
    const dry = await run(process.execPath, [
      bin,
      'cleanup',
      '--dry-run',
      '--namespace',
      a.name,
      '--namespace',
      b.name,
    ]);
    expect(dry.stdout).toContain('would restore 2 workload(s)');
    expect(injected(await cluster.get(ref('Deployment', a.name, 'web')))).toBe(true);

    // Under the operator's own ServiceAccount: the chart's RBAC is enough for cleanup.
    const { stdout } = await run(process.execPath, [
      bin,
      'cleanup',
      '--yes',
      '--kubeconfig',
      install().kubeconfigPath,
      '--namespace',
      a.name,
      '--namespace',
      b.name,
    ]);
    expect(stdout).toContain('restored 2 workload(s)');
    expect(stdout).toContain('finalizer removed from 2 SidecarMonitor(s)');
    for (const ns of [a.name, b.name]) {
      const d = await cluster.get(ref('Deployment', ns, 'web'));
      expect(injected(d)).toBe(false);
      expect(templateOf(d)).toEqual(originals.get(ns));
      const m = await cluster.get(ref('SidecarMonitor', ns, 'mon'));
      expect(m.metadata.finalizers ?? []).not.toContain(FINALIZER);
      // With the finalizer gone, deleting the monitor no longer needs the operator.
      await cluster.remove(ref('SidecarMonitor', ns, 'mon'));
      await cluster.waitForDeletion(ref('SidecarMonitor', ns, 'mon'), { timeoutMs: 10_000 });
    }
  });
});

describe('two monitors selecting one workload', () => {
  test('the older wins, the other reports Conflict naming it, and takes over when the winner goes', async () => {
    await using s = await scoped(cluster, install(), 'conflict');
    const ns = s.ns.name;
    const webRef = ref('Deployment', ns, 'web');
    await cluster.apply(deployment(ns, 'web', { monitored: 'true', tier: 'front' }));
    await cluster.apply(monitor(ns, 'first'));
    await cluster.waitForObject(
      webRef,
      (o) => templateOf(o).metadata?.labels?.['sidecarmonitor.io/monitor'] === 'first',
    );
    // A younger monitor selecting the same workload by another label.
    await new Promise((r) => setTimeout(r, 1100));
    await cluster.apply(monitor(ns, 'second', { selector: { matchLabels: { tier: 'front' } } }));
    const second = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'second'),
      (o) => condition(o, 'Conflict')?.status === 'True',
    );
    expect(condition(second, 'Conflict')?.message).toContain('Deployment/web');
    expect(condition(second, 'Conflict')?.message).toContain('first');
    expect(statusOf(second).workloads).toEqual([
      expect.objectContaining({
        kind: 'Deployment',
        name: 'web',
        state: 'Conflict',
        reason: 'MonitorConflict',
      }),
    ]);
    const first = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'first'),
      (o) => condition(o, 'Ready')?.status === 'True',
    );
    expect(condition(first, 'Conflict')?.status).toBe('False');
    const generation = (await cluster.get(webRef)).metadata.generation ?? 0;

    // The winner goes: the workload is handed over in one write.
    await cluster.remove(ref('SidecarMonitor', ns, 'first'));
    const handed = await cluster.waitForObject(
      webRef,
      (o) => templateOf(o).metadata?.labels?.['sidecarmonitor.io/monitor'] === 'second',
    );
    expect(injected(handed)).toBe(true);
    const took = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'second'),
      (o) => condition(o, 'Conflict')?.status === 'False' && statusOf(o).injectedWorkloads === 1,
    );
    expect(statusOf(took).workloads?.[0]).toMatchObject({ name: 'web' });
    await cluster.waitForDeletion(ref('SidecarMonitor', ns, 'first'));
    expect((await cluster.get(webRef)).metadata.generation).toBe(generation + 1);
  });
});
