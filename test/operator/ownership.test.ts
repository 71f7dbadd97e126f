// Scenario 6: people and other tools editing injected workloads. Our fields belong to the
// sidecar-monitor field manager; other managers' changes stay; a field another manager
// holds with a different value is never forced.
import { describe, expect, test } from 'vitest';
import { type KubeObject, testCluster } from '../cluster/harness.ts';
import {
  condition,
  deployment,
  EXPORTER,
  HASH,
  injected,
  monitor,
  ref,
  scoped,
  statusOf,
  templateOf,
  useOperatorInstall,
} from './support.ts';

const cluster = testCluster();
const install = useOperatorInstall(cluster);

interface ManagedEntry {
  manager?: string;
  operation?: string;
  fieldsV1?: unknown;
}

function entry(o: KubeObject, manager: string): ManagedEntry | undefined {
  return o.metadata.managedFields?.find((f) => f.manager === manager);
}

function appImage(o: KubeObject): string | undefined {
  return templateOf(o).spec?.containers.find((c) => c.name === 'app')?.image;
}

const quiet = (): Promise<void> => new Promise((r) => setTimeout(r, 3000));

describe('edits by people and other tools', () => {
  test('kubectl apply (client-side) changing the app image: their change stays, our container stays, no fight', async () => {
    await using s = await scoped(cluster, install(), 'csa');
    const ns = s.ns.name;
    const manifest = (image: string): string =>
      JSON.stringify(deployment(ns, 'web', { monitored: 'true' }, { image }));
    await cluster.kubectl(['apply', '-f', '-'], { input: manifest('nginx:1.27') });
    await cluster.apply(monitor(ns, 'mon'));
    const webRef = ref('Deployment', ns, 'web');
    const first = await cluster.waitForObject(webRef, injected);
    const hash = templateOf(first).metadata?.annotations?.[HASH];

    // Our fields, and only ours, belong to our manager.
    const ours = JSON.stringify(entry(first, 'sidecar-monitor')?.fieldsV1);
    expect(entry(first, 'sidecar-monitor')?.operation).toBe('Apply');
    expect(ours).toContain(`k:{\\"name\\":\\"${EXPORTER}\\"}`);
    expect(ours).toContain('f:sidecarmonitor.io/injection-hash');
    expect(ours).toContain('f:shareProcessNamespace');
    expect(ours).not.toContain('f:image":{}},"k:{\\"name\\":\\"app');

    await cluster.kubectl(['apply', '-f', '-'], { input: manifest('nginx:1.28') });
    const edited = await cluster.waitForObject(webRef, (o) => appImage(o) === 'nginx:1.28');
    await quiet();
    const after = await cluster.get(webRef);
    expect(appImage(after)).toBe('nginx:1.28');
    expect(injected(after)).toBe(true);
    expect(templateOf(after).metadata?.annotations?.[HASH]).toBe(hash);
    expect(after.metadata.generation).toBe(edited.metadata.generation);
    expect(await s.operator.metric('sidecar_monitor_operator_workload_writes_total')).toBe(1);
  });

  test('another server-side-apply manager changing the app image: same, no fight', async () => {
    await using s = await scoped(cluster, install(), 'ssa');
    const ns = s.ns.name;
    const alice = (image: string): Promise<KubeObject[]> =>
      cluster.apply(deployment(ns, 'web', { monitored: 'true' }, { image }), {
        fieldManager: 'alice',
        force: false,
      });
    await alice('nginx:1.27');
    await cluster.apply(monitor(ns, 'mon'));
    const webRef = ref('Deployment', ns, 'web');
    const first = await cluster.waitForObject(webRef, injected);
    // Alice's next apply does not mention our container: she does not own it, so it stays.
    await alice('nginx:1.28');
    await quiet();
    const after = await cluster.get(webRef);
    expect(appImage(after)).toBe('nginx:1.28');
    expect(injected(after)).toBe(true);
    expect(templateOf(after).metadata?.annotations?.[HASH]).toBe(
      templateOf(first).metadata?.annotations?.[HASH],
    );
    expect(await s.operator.metric('sidecar_monitor_operator_workload_writes_total')).toBe(1);
    expect(entry(after, 'alice')).toBeDefined();
  });

  test('a field another manager holds with a different value is never forced: Conflict naming the manager, no retry', async () => {
    await using s = await scoped(cluster, install(), 'conflict');
    const ns = s.ns.name;
    await cluster.apply(deployment(ns, 'web', { monitored: 'true' }), {
      fieldManager: 'alice',
      force: false,
    });
    await cluster.apply(monitor(ns, 'mon'));
    const webRef = ref('Deployment', ns, 'web');
    await cluster.waitForObject(webRef, injected);
    // Bob takes shareProcessNamespace over with his own value.
    await cluster.apply(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns },
        spec: {
          template: {
            spec: {
              shareProcessNamespace: false,
              containers: [{ name: 'app', image: 'nginx:1.27' }],
            },
          },
        },
      },
      { fieldManager: 'bob', force: true },
    );
    // A monitor change makes the operator want to write its fields again.
    await cluster.apply(
      monitor(ns, 'mon', { exporter: { resources: { limits: { memory: '100Mi' } } } }),
    );
    const m = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) => condition(o, 'Conflict')?.status === 'True',
    );
    expect(statusOf(m).workloads?.[0]).toMatchObject({
      name: 'web',
      state: 'Conflict',
      reason: 'FieldManagerConflict',
    });
    expect(statusOf(m).workloads?.[0]?.message).toContain('"bob"');
    expect(condition(m, 'Conflict')?.message).toContain('bob');
    const web = await cluster.get(webRef);
    expect(templateOf(web).spec?.shareProcessNamespace).toBe(false);
    const attempts = (): number =>
      s.operator.logs.filter((l) => l.msg === 'server-side apply conflict; not forcing').length;
    const tried = attempts();
    expect(tried).toBeGreaterThanOrEqual(1);
    await quiet();
    expect(attempts()).toBe(tried);
    const events = await cluster.list({ apiVersion: 'v1', kind: 'Event', namespace: ns });
    expect(events.some((e) => (e as { reason?: string }).reason === 'InjectionConflict')).toBe(
      true,
    );
  });
});

describe("the monitor's status is the operator's alone", () => {
  test('a status edited by hand (kubectl patch --subresource=status) is taken back, and later writes still land', async () => {
    await using s = await scoped(cluster, install(), 'status-edit');
    const ns = s.ns.name;
    await cluster.apply(deployment(ns, 'a', { monitored: 'true' }));
    await cluster.apply(monitor(ns, 'mon'));
    const monRef = ref('SidecarMonitor', ns, 'mon');
    await cluster.waitForObject(monRef, (o) => statusOf(o).injectedWorkloads === 1);

    // What `kubectl edit --subresource=status` does: an update by another field manager,
    // which makes the fields it sets that manager's.
    const edit = await cluster.kubectl([
      'patch',
      'sidecarmonitor',
      'mon',
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { matchedWorkloads: 7, injectedWorkloads: 7 } }),
      '-o',
      'json',
    ]);
    expect(edit.code, edit.stderr).toBe(0);
    // What the edit left (the operator may already have taken it back by now).
    const edited = JSON.parse(edit.stdout) as KubeObject;
    expect(statusOf(edited).matchedWorkloads).toBe(7);

    // The operator writes its status anyway (forced: nobody else's fields are in it) ...
    await cluster.waitForObject(
      monRef,
      (o) => statusOf(o).matchedWorkloads === 1 && statusOf(o).injectedWorkloads === 1,
      { timeoutMs: 30_000 },
    );
    // ... and keeps doing so.
    await cluster.apply(deployment(ns, 'b', { monitored: 'true' }));
    const after = await cluster.waitForObject(
      monRef,
      (o) => statusOf(o).matchedWorkloads === 2 && statusOf(o).injectedWorkloads === 2,
      { timeoutMs: 60_000 },
    );
    expect(JSON.stringify(entry(after, 'kubectl-patch')?.fieldsV1 ?? {})).not.toContain(
      'f:matchedWorkloads',
    );
    expect(
      s.operator.logs.filter(
        (l) => l.msg === 'reconcile failed; retrying with backoff' && l.controller === 'monitors',
      ),
    ).toEqual([]);
  });
});
