// Scenario 13: native sidecars only when every Node's kubelet is 1.29 or newer (Nodes the
// test creates model old kubelets), unless the monitor forces it; the choice sticks.
// This API server is 1.35, where the version-skew policy already guarantees kubelets of
// 1.29 or newer: by default the operator does not watch Nodes at all, so the kubelet
// checks (a Node watch as Tables, for 1.29-1.31 servers) run with
// --watch-kubelet-versions=true.
import { expect, test } from 'vitest';
import { type KubeObject, testCluster, uniqueName } from '../cluster/harness.ts';
import {
  deployment,
  EXPORTER,
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

function oldNode(name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    // Nothing runs a kubelet for it: keep Pods off it.
    spec: { taints: [{ key: 'sidecar-monitor.test/old-kubelet', effect: 'NoSchedule' }] },
    status: { nodeInfo: { kubeletVersion: 'v1.28.15', kubeProxyVersion: 'v1.28.15' } },
  };
}

type Where = 'native' | 'regular' | 'none';
function where(o: KubeObject): Where {
  const t = templateOf(o);
  if ((t.spec?.initContainers ?? []).some((c) => c.name === EXPORTER)) return 'native';
  if ((t.spec?.containers ?? []).some((c) => c.name === EXPORTER)) return 'regular';
  return 'none';
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 2000));

test('an old kubelet means regular containers; without it native sidecars; a monitor can force them; the choice sticks', async () => {
  await using s = await scoped(cluster, install(), 'native', {
    args: ['--watch-kubelet-versions=true'],
  });
  expect(s.operator.logs.find((l) => l.msg === 'watching kubelet versions')).toBeDefined();
  const ns = s.ns.name;
  const nodeRef = { apiVersion: 'v1', kind: 'Node', name: uniqueName('old-kubelet') };
  await cluster.create(oldNode(nodeRef.name));
  try {
    await settle();
    await cluster.apply([
      deployment(ns, 'first', { monitored: 'true' }),
      deployment(ns, 'third', { forced: 'true' }),
      monitor(ns, 'mon', { rollout: { maxConcurrent: 5 } }),
      monitor(ns, 'forced', {
        selector: { matchLabels: { forced: 'true' } },
        exporter: { nativeSidecar: 'Enabled' },
      }),
    ]);
    const first = await cluster.waitForObject(ref('Deployment', ns, 'first'), injected);
    expect(where(first)).toBe('regular');
    expect(where(await cluster.waitForObject(ref('Deployment', ns, 'third'), injected))).toBe(
      'native',
    );
    const m = await cluster.waitForObject(
      ref('SidecarMonitor', ns, 'mon'),
      (o) => statusOf(o).injectedWorkloads === 1,
    );
    expect(statusOf(m).workloads?.[0]).toMatchObject({ name: 'first', nativeSidecar: false });
  } finally {
    await cluster.remove(nodeRef);
  }
  await cluster.waitForDeletion(nodeRef);
  await settle();

  // Every kubelet is new enough now: new workloads get native sidecars...
  await cluster.apply(deployment(ns, 'second', { monitored: 'true' }));
  expect(where(await cluster.waitForObject(ref('Deployment', ns, 'second'), injected))).toBe(
    'native',
  );

  // ...and the first keeps its regular container through a change of the injection.
  const before = templateOf(await cluster.get(ref('Deployment', ns, 'first'))).metadata
    ?.annotations?.['sidecarmonitor.io/injection-hash'];
  await cluster.apply(
    monitor(ns, 'mon', {
      rollout: { maxConcurrent: 5 },
      exporter: { resources: { limits: { memory: '100Mi' } } },
    }),
  );
  const changed = await cluster.waitForObject(
    ref('Deployment', ns, 'first'),
    (o) => templateOf(o).metadata?.annotations?.['sidecarmonitor.io/injection-hash'] !== before,
  );
  expect(where(changed)).toBe('regular');
  expect(where(await cluster.get(ref('Deployment', ns, 'second')))).toBe('native');
});

test('on a 1.32+ API server Nodes are not watched: the version-skew policy decides', async () => {
  await using s = await scoped(cluster, install(), 'native-skew');
  const ns = s.ns.name;
  const skipped = s.operator.logs.find((l) => l.msg === 'not watching Nodes');
  expect(skipped?.why).toContain('version-skew policy');
  // A Node claiming a kubelet the policy does not allow next to this server changes nothing.
  const nodeRef = { apiVersion: 'v1', kind: 'Node', name: uniqueName('skewed-kubelet') };
  await cluster.create(oldNode(nodeRef.name));
  try {
    await settle();
    await cluster.apply([deployment(ns, 'web', { monitored: 'true' }), monitor(ns, 'mon')]);
    expect(where(await cluster.waitForObject(ref('Deployment', ns, 'web'), injected))).toBe(
      'native',
    );
  } finally {
    await cluster.remove(nodeRef);
  }
  const synced = s.operator.logs.find((l) => l.msg === 'caches synced; reconciling');
  expect(synced?.nodes).toBeUndefined();
});
