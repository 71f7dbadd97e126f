// Scenarios 1-3 of the operator issue against the real control plane: the operator runs
// as a child process under the chart's RBAC, watching only the test's namespace.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { parseObjects, testCluster } from '../cluster/harness.ts';
import {
  condition,
  countExporters,
  daemonSet,
  deployment,
  EXPORTER_IMAGE,
  HASH,
  injected,
  monitor,
  ref,
  scoped,
  statefulSet,
  statusOf,
  templateOf,
  useOperatorInstall,
} from './support.ts';

const cluster = testCluster();
const install = useOperatorInstall(cluster);

const managers = (o: { metadata: { managedFields?: { manager?: string }[] } }): string[] =>
  (o.metadata.managedFields ?? []).map((f) => f.manager ?? '');

const quiet = (ms = 3000): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('creating a monitor', () => {
  test('injects every matching Deployment, StatefulSet and DaemonSet and reports it in status', async () => {
    await using s = await scoped(cluster, install(), 'inject');
    const ns = s.ns.name;
    const selected = { monitored: 'true' };
    await cluster.apply([
      deployment(ns, 'web', selected),
      statefulSet(ns, 'db', selected),
      daemonSet(ns, 'agent', selected),
      deployment(ns, 'other', { monitored: 'false' }),
    ]);
    await cluster.apply(monitor(ns, 'mon'));
    const m = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) => statusOf(o).injectedWorkloads === 3 && condition(o, 'Ready')?.status === 'True',
      { timeoutMs: 120_000, description: 'monitor mon to inject 3 workloads and be Ready' },
    );
    expect(statusOf(m)).toMatchObject({
      observedGeneration: 1,
      matchedWorkloads: 3,
      injectedWorkloads: 3,
      skippedWorkloads: 0,
    });
    expect(
      statusOf(m)
        .workloads?.map((w) => `${w.kind}/${w.name}=${w.state}`)
        .sort(),
    ).toEqual(['DaemonSet/agent=Injected', 'Deployment/web=Injected', 'StatefulSet/db=Injected']);
    for (const [kind, name] of [
      ['Deployment', 'web'],
      ['StatefulSet', 'db'],
      ['DaemonSet', 'agent'],
    ] as const) {
      const w = await cluster.get(ref(kind, ns, name));
      expect(countExporters(w), `${kind}/${name}`).toBe(1);
      expect(templateOf(w).metadata?.labels?.['sidecarmonitor.io/monitor']).toBe('mon');
      expect(templateOf(w).metadata?.annotations?.[HASH]).toMatch(/^\S+$/);
      expect(managers(w)).toContain('sidecar-monitor');
    }
    const other = await cluster.get(ref('Deployment', ns, 'other'));
    expect(injected(other)).toBe(false);
    expect(managers(other)).not.toContain('sidecar-monitor');
  });
});

describe('a workload starting or stopping to match', () => {
  test('is injected when its labels start matching and restored exactly when they stop', async () => {
    await using s = await scoped(cluster, install(), 'labels');
    const ns = s.ns.name;
    const [created] = await cluster.apply(deployment(ns, 'web', { monitored: 'false' }));
    const before = templateOf(created!);
    await cluster.apply(monitor(ns, 'mon'));
    const webRef = ref('Deployment', ns, 'web');

    await cluster.kubectl([
      'label',
      'deployment',
      'web',
      '-n',
      ns,
      'monitored=true',
      '--overwrite',
    ]);
    await cluster.waitForObject(webRef, injected, { description: 'web to be injected' });

    await cluster.kubectl([
      'label',
      'deployment',
      'web',
      '-n',
      ns,
      'monitored=false',
      '--overwrite',
    ]);
    const restored = await cluster.waitForObject(webRef, (o) => !injected(o), {
      description: 'web to lose the injection',
    });
    expect(templateOf(restored)).toEqual(before);
    expect(managers(restored)).not.toContain('sidecar-monitor');
    const m = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) => statusOf(o).matchedWorkloads === 0,
    );
    expect(condition(m, 'Ready')).toMatchObject({ status: 'True', reason: 'NoWorkloads' });
  });

  test('a workload labelled sidecarmonitor.io/inject: "false" is never touched', async () => {
    await using s = await scoped(cluster, install(), 'optout');
    const ns = s.ns.name;
    await cluster.apply([
      deployment(ns, 'opted', { monitored: 'true', 'sidecarmonitor.io/inject': 'false' }),
      deployment(ns, 'web', { monitored: 'true' }),
    ]);
    await cluster.apply(monitor(ns, 'mon'));
    const m = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) => statusOf(o).injectedWorkloads === 1 && statusOf(o).skippedWorkloads === 1,
    );
    expect(statusOf(m).workloads).toContainEqual(
      expect.objectContaining({
        kind: 'Deployment',
        name: 'opted',
        state: 'Skipped',
        reason: 'OptedOut',
      }),
    );
    const opted = await cluster.get(ref('Deployment', ns, 'opted'));
    expect(opted.metadata.generation).toBe(1);
    expect(managers(opted)).not.toContain('sidecar-monitor');
    expect(await s.operator.metric('sidecar_monitor_operator_workload_writes_total')).toBe(1);

    // Opting out an injected workload removes the injection.
    await cluster.kubectl([
      'label',
      'deployment',
      'web',
      '-n',
      ns,
      'sidecarmonitor.io/inject=false',
    ]);
    await cluster.waitForObject(ref('Deployment', ns, 'web'), (o) => !injected(o), {
      description: 'web to lose the injection after opting out',
    });
  });
});

describe('changing the monitor', () => {
  test('updates each workload exactly once, and writes nothing when nothing changed', async () => {
    await using s = await scoped(cluster, install(), 'spec');
    const ns = s.ns.name;
    const names = ['a', 'b', 'c'];
    await cluster.apply(names.map((n) => deployment(ns, n, { monitored: 'true' })));
    await cluster.apply(monitor(ns, 'mon', { rollout: { maxConcurrent: 3 } }));
    const monRef = ref('SidecarMonitor', ns, 'mon');
    const settled = (generation: number) => (o: Parameters<typeof statusOf>[0]) =>
      statusOf(o).observedGeneration === generation &&
      statusOf(o).injectedWorkloads === 3 &&
      condition(o, 'Ready')?.status === 'True';
    await cluster.waitForObject(monRef, settled(1));
    const generations = (): Promise<number[]> =>
      Promise.all(
        names.map(
          async (n) => (await cluster.get(ref('Deployment', ns, n))).metadata.generation ?? 0,
        ),
      );
    const hashes = (): Promise<string[]> =>
      Promise.all(
        names.map(
          async (n) =>
            templateOf(await cluster.get(ref('Deployment', ns, n))).metadata?.annotations?.[HASH] ??
            '',
        ),
      );
    const writes = (): Promise<number> =>
      s.operator.metric('sidecar_monitor_operator_workload_writes_total');
    const g0 = await generations();
    const h0 = await hashes();
    expect(await writes()).toBe(3);

    await cluster.apply(
      monitor(ns, 'mon', {
        rollout: { maxConcurrent: 3 },
        exporter: { resources: { limits: { memory: '96Mi' } } },
      }),
    );
    await cluster.waitForObject(monRef, settled(2));
    const h1 = await hashes();
    for (const [i, h] of h1.entries()) expect(h).not.toBe(h0[i]);
    await quiet();
    expect(await generations()).toEqual(g0.map((g) => g + 1));
    expect(await writes()).toBe(6);

    // Changes that do not alter the injection: no write at all.
    await cluster.kubectl(['label', 'sidecarmonitor', 'mon', '-n', ns, 'team=x']);
    await cluster.kubectl(['label', 'deployment', 'a', '-n', ns, 'touched=yes']);
    await quiet();
    expect(await generations()).toEqual(g0.map((g) => g + 1));
    expect(await writes()).toBe(6);
  });

  test('a workload already carrying the current hash (rendered by `inject`) counts as injected: no write', async () => {
    await using s = await scoped(cluster, install(), 'gitops');
    const ns = s.ns.name;
    // What a GitOps pipeline does: render with `sidecar-monitor inject`, apply as its own manager.
    const mon = monitor(ns, 'mon');
    const dir = mkdtempSync(join(tmpdir(), 'gitops-'));
    let rendered: string;
    try {
      writeFileSync(join(dir, 'monitor.yaml'), JSON.stringify(mon));
      writeFileSync(
        join(dir, 'web.yaml'),
        JSON.stringify(deployment(ns, 'web', { monitored: 'true' })),
      );
      ({ stdout: rendered } = await promisify(execFile)(process.execPath, [
        'bin/sidecar-monitor.ts',
        'inject',
        '--monitor',
        join(dir, 'monitor.yaml'),
        '-f',
        join(dir, 'web.yaml'),
        '--kube-version',
        cluster.info.kubeVersion,
        '--exporter-image',
        EXPORTER_IMAGE,
      ]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await cluster.apply(parseObjects(rendered), { fieldManager: 'argocd-controller' });
    const webRef = ref('Deployment', ns, 'web');
    const before = await cluster.get(webRef);
    expect(injected(before)).toBe(true);
    await cluster.apply(mon);
    const m = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) =>
        statusOf(o).injectedWorkloads === 1 && statusOf(o).workloads?.[0]?.state === 'Injected',
    );
    expect(condition(m, 'Ready')?.status).toBe('True');
    await quiet(2000);
    const after = await cluster.get(webRef);
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(managers(after)).not.toContain('sidecar-monitor');
    expect(await s.operator.metric('sidecar_monitor_operator_workload_writes_total')).toBe(0);
  });
});
