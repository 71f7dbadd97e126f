// The controllers the operator's tests rely on really run: a Deployment gets a ReplicaSet
// and Pods, the scheduler places them on kwok Nodes, kwok makes them Ready, a rollout
// replaces them, a DaemonSet lands on every Node, and deleting the namespace removes
// everything (namespace controller + garbage collector).
import { expect, test } from 'vitest';
import { testCluster, type KubeObject } from './harness.ts';

const cluster = testCluster();

function deployment(namespace: string, image: string, gracePeriodSeconds = 30): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace, labels: { app: 'web' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      // kwok makes Pods Ready at once; a real rollout still goes one surge at a time.
      strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: gracePeriodSeconds,
          containers: [{ name: 'app', image, ports: [{ name: 'http', containerPort: 8080 }] }],
          // Native sidecars are part of what the operator injects: kwok must report them.
          initContainers: [{ name: 'sidecar', image: 'busybox:1.37', restartPolicy: 'Always' }],
        },
      },
    },
  };
}

interface Pod extends KubeObject {
  spec: { nodeName?: string };
  status: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    initContainerStatuses?: { name: string; started?: boolean }[];
  };
}

const isReady = (pod: Pod): boolean =>
  pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

test('a Deployment gets a ReplicaSet and Ready Pods on kwok Nodes, and rolls out', async () => {
  await using ns = await cluster.namespace('deploy');
  const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns.name, name: 'web' };
  await cluster.apply(deployment(ns.name, 'nginx:1.27'));

  const available = await cluster.waitForObject(ref, (d) => {
    const status = d.status as { readyReplicas?: number; updatedReplicas?: number } | undefined;
    return status?.readyReplicas === 2 && status.updatedReplicas === 2;
  });
  expect(available.status).toMatchObject({ availableReplicas: 2, replicas: 2 });

  const replicaSets = await cluster.list({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    namespace: ns.name,
  });
  expect(replicaSets).toHaveLength(1);
  expect(replicaSets[0]!.metadata.ownerReferences?.[0]).toMatchObject({
    kind: 'Deployment',
    name: 'web',
  });

  const pods = (await cluster.list({ apiVersion: 'v1', kind: 'Pod', namespace: ns.name })) as Pod[];
  expect(pods).toHaveLength(2);
  for (const pod of pods) {
    expect(pod.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet' });
    expect(cluster.info.fakeNodes).toContain(pod.spec.nodeName);
    expect(isReady(pod)).toBe(true);
    expect(pod.status.initContainerStatuses).toContainEqual(
      expect.objectContaining({ name: 'sidecar', started: true }),
    );
  }

  // A template change: a second ReplicaSet takes over and the old Pods go.
  await cluster.apply(deployment(ns.name, 'nginx:1.28'));
  await cluster.waitForObject(
    ref,
    (d) => {
      const status = d.status as {
        updatedReplicas?: number;
        replicas?: number;
        readyReplicas?: number;
        observedGeneration?: number;
      };
      return (
        status.observedGeneration === d.metadata.generation &&
        status.updatedReplicas === 2 &&
        status.replicas === 2 &&
        status.readyReplicas === 2
      );
    },
    { description: 'the rollout to nginx:1.28 to complete' },
  );
  const after = (await cluster.list({
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: ns.name,
  })) as Pod[];
  const images = after
    .filter((p) => p.metadata.deletionTimestamp === undefined)
    .map((p) => (p.spec as { containers: { image: string }[] }).containers[0]!.image);
  expect(images).toEqual(['nginx:1.28', 'nginx:1.28']);
  expect(
    await cluster.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: ns.name }),
  ).toHaveLength(2);
});

test('a DaemonSet runs a Ready Pod on every kwok Node', async () => {
  await using ns = await cluster.namespace('daemon');
  await cluster.apply({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: ns.name },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: {
        metadata: { labels: { app: 'agent' } },
        spec: { containers: [{ name: 'agent', image: 'busybox:1.37' }] },
      },
    },
  });
  await cluster.waitForObject(
    { apiVersion: 'apps/v1', kind: 'DaemonSet', namespace: ns.name, name: 'agent' },
    (d) => (d.status as { numberReady?: number }).numberReady === cluster.info.fakeNodes.length,
  );
  const pods = (await cluster.list({ apiVersion: 'v1', kind: 'Pod', namespace: ns.name })) as Pod[];
  expect(pods.map((p) => p.spec.nodeName).sort()).toEqual([...cluster.info.fakeNodes].sort());
});

test('deleting a namespace removes its workloads and then the namespace', async () => {
  const ns = await cluster.namespace('gc');
  // kwok removes terminating Pods at once, but the namespace controller waits half their
  // grace period before it looks again: 0 keeps this test from idling for 15 s.
  await cluster.apply(deployment(ns.name, 'nginx:1.27', 0));
  await cluster.waitFor('Pods of the Deployment', async () => {
    const pods = await cluster.list({ apiVersion: 'v1', kind: 'Pod', namespace: ns.name });
    return pods.length === 2;
  });
  await ns.delete({ wait: true });
  const pods = await cluster.list({ apiVersion: 'v1', kind: 'Pod', namespace: ns.name });
  expect(pods).toEqual([]);
});
