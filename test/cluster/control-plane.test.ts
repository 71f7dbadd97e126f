// The shared control plane is what the harness says it is: the pinned version, every
// component up, Ready fake Nodes, and kubectl/helm of matching versions on its kubeconfig.
import { describe, expect, test } from 'vitest';
import { KUBE_VERSION } from './binaries.ts';
import { testCluster } from './harness.ts';

const cluster = testCluster();

describe('control plane', () => {
  test('the API server reports the pinned Kubernetes version', async () => {
    const version = await cluster.rest.request<{
      gitVersion: string;
      major: string;
      minor: string;
    }>('GET', '/version');
    expect(version.gitVersion).toBe(cluster.info.kubeVersion);
    if (cluster.info.binarySource === 'cache') {
      expect(version.gitVersion).toBe(KUBE_VERSION);
      const [major, minor] = KUBE_VERSION.slice(1).split('.');
      expect({ major: version.major, minor: version.minor }).toEqual({ major, minor });
    }
  });

  test('kubectl is the same version and uses the test kubeconfig', async () => {
    // KUBECONFIG is set for every process of the run, so a bare kubectl reaches this
    // cluster and never the developer's own.
    expect(process.env.KUBECONFIG).toBe(cluster.kubeconfigPath);
    const { stdout } = await cluster.kubectl(['version', '--output=json']);
    const version = JSON.parse(stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).toBe(cluster.info.kubeVersion);
    expect(version.clientVersion.gitVersion).toBe(cluster.info.kubeVersion);
  });

  test('helm talks to the cluster', async () => {
    const { stdout } = await cluster.helm(['list', '--all-namespaces', '--output=json']);
    expect(JSON.parse(stdout)).toEqual([]);
  });

  test('every component runs, and the controller manager has made the default ServiceAccount', async () => {
    expect(cluster.info.components).toEqual(
      expect.arrayContaining([
        'etcd',
        'kube-apiserver',
        'kube-controller-manager',
        'kube-scheduler',
        'kwok',
      ]),
    );
    const sa = await cluster.get({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      namespace: 'kube-system',
      name: 'default',
    });
    expect(sa.metadata.uid).toBeTruthy();
    // Published into every namespace by the root-ca-certificate-publisher controller.
    const rootCa = await cluster.get({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: 'default',
      name: 'kube-root-ca.crt',
    });
    expect((rootCa.data as Record<string, string>)['ca.crt']).toContain('BEGIN CERTIFICATE');
  });

  test('kwok Nodes are Ready, untainted, and report a kubelet of the server version', async () => {
    expect(cluster.info.fakeNodes.length).toBeGreaterThan(0);
    for (const name of cluster.info.fakeNodes) {
      const node = await cluster.get({ apiVersion: 'v1', kind: 'Node', name });
      const status = node.status as {
        conditions: { type: string; status: string }[];
        nodeInfo: { kubeletVersion: string };
      };
      expect(status.conditions).toContainEqual(
        expect.objectContaining({ type: 'Ready', status: 'True' }),
      );
      expect((node.spec as { taints?: unknown[] }).taints ?? []).toEqual([]);
      expect(status.nodeInfo.kubeletVersion).toBe(cluster.info.kubeVersion);
    }
  });

  test('the admin is system:masters and nobody else is', async () => {
    const review = await cluster.rest.request<{ status: { userInfo: { groups: string[] } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    );
    expect(review.status.userInfo.groups).toContain('system:masters');
  });
});
