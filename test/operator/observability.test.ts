// Scenarios 11 and 12: Events, structured logs, /metrics (checked by promtool),
// /healthz and /readyz; and --namespace limiting what the operator watches, under the
// chart's namespaced RBAC.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { testCluster } from '../cluster/harness.ts';
import {
  deployment,
  injected,
  installOperatorRbac,
  monitor,
  ref,
  scoped,
  startOperator,
  useOperatorInstall,
} from './support.ts';

const cluster = testCluster();
const install = useOperatorInstall(cluster);

interface Event {
  involvedObject: { kind: string; name: string; namespace: string };
  reason: string;
  type: string;
  message: string;
  source?: { component?: string };
}

describe('observability', () => {
  test('events on the workloads it changes, logs with kind/namespace/name, metrics, health', async () => {
    await using s = await scoped(cluster, install(), 'observe');
    const ns = s.ns.name;
    await cluster.apply([deployment(ns, 'web', { monitored: 'true' }), monitor(ns, 'mon')]);
    await cluster.waitForObject(ref('Deployment', ns, 'web'), injected);
    await cluster.kubectl([
      'label',
      'deployment',
      'web',
      '-n',
      ns,
      'monitored=false',
      '--overwrite',
    ]);
    await cluster.waitForObject(ref('Deployment', ns, 'web'), (o) => !injected(o));

    const events = await cluster.waitFor('the Injected and InjectionRemoved events', async () => {
      const list = (await cluster.list({
        apiVersion: 'v1',
        kind: 'Event',
        namespace: ns,
      })) as unknown as Event[];
      const ours = list.filter((e) => e.source?.component === 'sidecar-monitor');
      return ours.length >= 2 ? ours : undefined;
    });
    expect(
      events.map((e) => [e.involvedObject.kind, e.involvedObject.name, e.type, e.reason]),
    ).toEqual(
      expect.arrayContaining([
        ['Deployment', 'web', 'Normal', 'Injected'],
        ['Deployment', 'web', 'Normal', 'InjectionRemoved'],
      ]),
    );

    // Structured logs: the object's kind, namespace and name are fields, not prose.
    const injectedLog = s.operator.logs.find(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('exporter injected'),
    );
    expect(injectedLog).toMatchObject({
      kind: 'Deployment',
      namespace: ns,
      name: 'web',
      monitor: 'mon',
    });
    expect(typeof injectedLog?.time).toBe('number');

    const text = await s.operator.metrics();
    expect(
      await s.operator.metric('sidecar_monitor_operator_reconcile_total', {
        controller: 'workloads',
        result: 'success',
      }),
    ).toBeGreaterThan(0);
    expect(
      await s.operator.metric('sidecar_monitor_operator_reconcile_duration_seconds_count', {
        controller: 'workloads',
      }),
    ).toBeGreaterThan(0);
    expect(text).toMatch(/^sidecar_monitor_operator_queue_depth\{controller="workloads"\} \d+$/m);
    expect(
      await s.operator.metric('sidecar_monitor_operator_workload_writes_total', {
        kind: 'Deployment',
        action: 'inject',
      }),
    ).toBe(1);
    expect(
      await s.operator.metric('sidecar_monitor_operator_workload_writes_total', {
        kind: 'Deployment',
        action: 'remove',
      }),
    ).toBe(1);
    // No longer selected: no longer counted.
    expect(await s.operator.metric('sidecar_monitor_operator_workloads')).toBe(0);
    expect(
      await s.operator.metric('sidecar_monitor_operator_api_requests_total', {
        method: 'PATCH',
        code: '200',
      }),
    ).toBeGreaterThan(0);
    expect(await s.operator.metric('sidecar_monitor_operator_leader')).toBe(1);
    // The exposition is clean for Prometheus' own linter.
    const child = execFile('promtool', ['check', 'metrics']);
    child.stdin?.end(text);
    const checked = await new Promise<{ code: number | null; out: string }>((resolve) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => {
        resolve({ code, out });
      });
    });
    expect(checked).toEqual({ code: 0, out: '' });

    expect((await fetch(`${s.operator.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${s.operator.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('leading; caches synced\n');
    // A standby replica is ready too: it serves its metrics while it waits for the lease.
    await using standby = await startOperator({
      install: install(),
      namespaces: [ns],
      wait: 'ready',
    });
    const standbyReady = await fetch(`${standby.url}/readyz`);
    expect(await standbyReady.text()).toBe('standby: waiting for the leader lease\n');
  });
});

describe('--namespace', () => {
  test('limits the watch (under namespaced RBAC); the default is every namespace', async () => {
    await using a = await cluster.namespace('watched');
    await using b = await cluster.namespace('unwatched');
    for (const ns of [a.name, b.name]) {
      await cluster.apply([deployment(ns, 'web', { monitored: 'true' }), monitor(ns, 'mon')]);
    }
    {
      // The chart with watchNamespaces: RoleBindings in the watched namespace only.
      await using scopedInstall = await installOperatorRbac(cluster, { watchNamespaces: [a.name] });
      const bindings = await cluster.list({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        namespace: b.name,
      });
      expect(bindings).toEqual([]);
      await using op = await startOperator({ install: scopedInstall, namespaces: [a.name] });
      await cluster.waitForObject(ref('Deployment', a.name, 'web'), injected);
      await new Promise((r) => setTimeout(r, 2000));
      expect(injected(await cluster.get(ref('Deployment', b.name, 'web')))).toBe(false);
      expect(
        (await cluster.get(ref('SidecarMonitor', b.name, 'mon'))).metadata.finalizers,
      ).toBeUndefined();
      expect(
        op.logs.some((l) => l.level >= 40 && typeof l.msg === 'string' && l.msg.includes('failed')),
      ).toBe(false);
      // Without cluster-wide rights it could not even list the other namespace.
      const denied = await promisify(execFile)(cluster.info.binaries.kubectl!, [
        '--kubeconfig',
        scopedInstall.kubeconfigPath,
        'auth',
        'can-i',
        'list',
        'deployments',
        '-n',
        b.name,
      ]).catch((err: unknown) => ({ stdout: (err as { stdout?: string }).stdout ?? '' }));
      expect(denied.stdout.trim()).toBe('no');
    }
    // The default: every namespace.
    await using all = await startOperator({ install: install() });
    await cluster.waitForObject(ref('Deployment', b.name, 'web'), injected);
    expect(injected(await cluster.get(ref('Deployment', a.name, 'web')))).toBe(true);
    expect(all.logs.find((l) => l.msg === 'startup checks passed')).toMatchObject({
      namespaces: [],
    });
  });
});
