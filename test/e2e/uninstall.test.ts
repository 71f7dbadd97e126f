// `helm uninstall` on a real node: the chart's pre-delete hook runs as a real Job (our
// image, the chart's ServiceAccount), stops the operator by taking its Lease, and releases
// our finalizers, so nothing waits for an operator that is gone — while the injected app
// keeps running as it was (no fleet-wide restart at uninstall).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testCluster, type KubeObject, type TestNamespace } from '../cluster/harness.ts';
import { containerStatus, installChart, readyPods, sampleApp, type PodView } from './support.ts';

const cluster = testCluster();
const RELEASE_NS = 'sidecar-monitor-uninstall';
const FINALIZER = 'sidecarmonitor.io/cleanup';

describe('helm uninstall on a real node', () => {
  let ns: TestNamespace;
  let pod: PodView;

  beforeAll(async () => {
    await installChart(cluster, 'smon-un', RELEASE_NS);
    ns = await cluster.namespace('uninstall');
    await cluster.apply(sampleApp(cluster.info, { name: 'kept', uid: 1000, gid: 1000 }), {
      namespace: ns.name,
    });
    await cluster.apply(
      {
        apiVersion: 'sidecarmonitor.io/v1alpha1',
        kind: 'SidecarMonitor',
        metadata: { name: 'kept' },
        spec: { selector: { matchLabels: { 'app.kubernetes.io/name': 'kept' } } },
      },
      { namespace: ns.name },
    );
    [pod] = (await readyPods(
      cluster,
      ns.name,
      'app.kubernetes.io/name=kept',
      1,
      (p) => containerStatus(p, 'sidecar-monitor-exporter')?.started === true,
    )) as [PodView];
    await cluster.waitForObject(
      {
        apiVersion: 'sidecarmonitor.io/v1alpha1',
        kind: 'SidecarMonitor',
        namespace: ns.name,
        name: 'kept',
      },
      (m) => (m.metadata.finalizers ?? []).includes(FINALIZER),
    );
  });
  afterAll(async () => {
    await ns.delete();
  });

  test('the hook Job releases the finalizers; the app keeps its pod; deletions need no operator', async () => {
    const deploymentRef = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: ns.name,
      name: 'kept',
    };
    const before = await cluster.get(deploymentRef);

    const result = await cluster.helm(
      ['uninstall', 'smon-un', '-n', RELEASE_NS, '--wait', '--timeout', '300s'],
      {
        timeoutMs: 320_000,
      },
    );
    expect(result.stdout).toContain('uninstalled');

    const monitor = await cluster.get({
      apiVersion: 'sidecarmonitor.io/v1alpha1',
      kind: 'SidecarMonitor',
      namespace: ns.name,
      name: 'kept',
    });
    expect(monitor.metadata.finalizers ?? []).not.toContain(FINALIZER);
    // The operator is gone and the injection stays: same template, same pod, no restart.
    const after = await cluster.get(deploymentRef);
    expect(after.metadata.generation).toBe(before.metadata.generation);
    const now = await cluster.get({
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: ns.name,
      name: pod.name,
    });
    const exporter = containerStatus(now, 'sidecar-monitor-exporter');
    expect(exporter?.restartCount).toBe(0);
    expect(containerStatus(now, 'web')?.restartCount).toBe(0);
    expect(
      (
        await cluster.list({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: RELEASE_NS })
      ).map((d: KubeObject) => d.metadata.name),
    ).toEqual([]);

    // With no operator left, deleting the monitor and then its namespace both finish.
    await cluster.remove({
      apiVersion: 'sidecarmonitor.io/v1alpha1',
      kind: 'SidecarMonitor',
      namespace: ns.name,
      name: 'kept',
    });
    await cluster.waitForDeletion(
      {
        apiVersion: 'sidecarmonitor.io/v1alpha1',
        kind: 'SidecarMonitor',
        namespace: ns.name,
        name: 'kept',
      },
      { timeoutMs: 30_000 },
    );
    await ns.delete({ wait: true });
  });
});
