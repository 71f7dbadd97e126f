// The helpers other suites build on do what they promise: impersonation is subject to
// RBAC, helm installs into the cluster, the API server restarts with its data and the
// controllers recover, namespaces are unique and cleaned up, waits explain timeouts.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, test } from 'vitest';
import { KubeApiError, testCluster, uniqueName, waitFor } from './harness.ts';

const cluster = testCluster();

describe('impersonating a ServiceAccount', () => {
  test('is subject to RBAC exactly like the ServiceAccount', async () => {
    await using ns = await cluster.namespace('rbac');
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'reader', namespace: ns.name },
    });
    const reader = cluster.impersonate({ namespace: ns.name, name: 'reader' });
    const pods = { apiVersion: 'v1', kind: 'Pod', namespace: ns.name };

    const denied = await reader.objects.list(pods).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(KubeApiError);
    expect((denied as KubeApiError).status).toBe(403);
    expect((denied as KubeApiError).message).toContain(`system:serviceaccount:${ns.name}:reader`);

    await cluster.apply([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'pod-reader', namespace: ns.name },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'reader', namespace: ns.name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns.name }],
      },
    ]);
    // The authorizer's RBAC cache follows the binding within moments.
    await waitFor('the RoleBinding to take effect', () =>
      reader.objects.list(pods).then(() => true),
    );

    // The same identity through @kubernetes/client-node, as the operator will use it.
    const api = reader.kubeConfig().makeApiClient(CoreV1Api);
    const list = await api.listNamespacedPod({ namespace: ns.name });
    expect(list.items).toEqual([]);
    await expect(api.listNamespacedPod({ namespace: 'kube-system' })).rejects.toMatchObject({
      code: 403,
    });

    // And through a kubeconfig file, as a separate process sees it.
    const { stdout } = await cluster.kubectl(['auth', 'whoami', '--output=json'], {
      kubeconfigPath: reader.kubeconfigPath,
    });
    const who = JSON.parse(stdout) as {
      status: { userInfo: { username: string; groups: string[] } };
    };
    expect(who.status.userInfo.username).toBe(`system:serviceaccount:${ns.name}:reader`);
    expect(who.status.userInfo.groups).toEqual(
      expect.arrayContaining(['system:serviceaccounts', `system:serviceaccounts:${ns.name}`]),
    );
  });
});

test('helm installs and uninstalls a chart in the cluster', async () => {
  await using ns = await cluster.namespace('helm');
  const chart = mkdtempSync(path.join(tmpdir(), 'sidecar-monitor-chart-'));
  try {
    mkdirSync(path.join(chart, 'templates'));
    writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: probe\nversion: 0.1.0\n');
    writeFileSync(
      path.join(chart, 'templates', 'configmap.yaml'),
      [
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata:',
        '  name: {{ .Release.Name }}-settings',
        'data:',
        '  greeting: {{ .Values.greeting | quote }}',
        '',
      ].join('\n'),
    );
    await cluster.helm([
      'install',
      'probe',
      chart,
      '--namespace',
      ns.name,
      '--set',
      'greeting=hello',
      '--wait',
    ]);
    const configMap = await cluster.get({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: ns.name,
      name: 'probe-settings',
    });
    expect(configMap.data).toEqual({ greeting: 'hello' });
    expect(configMap.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'Helm' });
    expect(configMap.metadata.annotations).toMatchObject({
      'meta.helm.sh/release-name': 'probe',
      'meta.helm.sh/release-namespace': ns.name,
    });

    await cluster.helm(['uninstall', 'probe', '--namespace', ns.name, '--wait']);
    expect(
      await cluster.tryGet({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace: ns.name,
        name: 'probe-settings',
      }),
    ).toBeUndefined();
  } finally {
    rmSync(chart, { recursive: true, force: true });
  }
});

test('the API server restarts on the same address with its data, and the controllers recover', async () => {
  await using ns = await cluster.namespace('restart');
  const marker = { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name: 'marker' };
  await cluster.apply({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'marker', namespace: ns.name },
    data: { a: '1' },
  });

  await cluster.apiServer.stop();
  try {
    const error = await cluster.get(marker).catch((e: unknown) => e);
    // Down means down: a connection error, not an HTTP status.
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(KubeApiError);
    expect((error as Error & { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
  } finally {
    await cluster.apiServer.start();
  }
  expect((await cluster.get(marker)).data).toEqual({ a: '1' });

  // Controllers, scheduler and kwok re-established their watches on their own.
  await cluster.apply({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'after-restart', namespace: ns.name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'after-restart' } },
      template: {
        metadata: { labels: { app: 'after-restart' } },
        spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
      },
    },
  });
  await cluster.waitForCondition(
    { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns.name, name: 'after-restart' },
    'Available',
  );
});

describe('namespaces', () => {
  test('are unique, valid DNS labels, and go away when disposed', async () => {
    let name: string;
    {
      await using ns = await cluster.namespace('Some_Prefix');
      name = ns.name;
      expect(name).toMatch(/^some-prefix-[a-z0-9]{5}$/);
      expect(
        await cluster.namespace('Some_Prefix').then(async (other) => {
          await other.delete();
          return other.name;
        }),
      ).not.toBe(name);
    }
    const after = await cluster.tryGet({ apiVersion: 'v1', kind: 'Namespace', name });
    // Deletion has begun (the namespace controller finishes it in the background).
    expect(after === undefined || after.metadata.deletionTimestamp !== undefined).toBe(true);
  });

  test('names stay within 63 characters whatever the prefix', () => {
    const name = uniqueName('x'.repeat(100));
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe('waiting', () => {
  test('a timeout names what it waited for and what it last saw', async () => {
    const error = await waitFor(
      'the answer to be 42',
      (note) => {
        note({ answer: 41 });
        return false;
      },
      { timeoutMs: 200, intervalMs: 20 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /waiting for the answer to be 42; last seen: \{"answer":41\}/,
    );
  });

  test('an abort ends the wait at once with its reason', async () => {
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort(new Error('the component died'));
    }, 50);
    const started = performance.now();
    await expect(
      waitFor('something that never happens', () => false, {
        timeoutMs: 60_000,
        intervalMs: 10_000,
        signal: controller.signal,
      }),
    ).rejects.toThrow('the component died');
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  test('waitForObject quotes the object status on timeout', async () => {
    await using ns = await cluster.namespace('wait');
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: ns.name },
      data: { k: 'v' },
    });
    const error = await cluster
      .waitForObject(
        { apiVersion: 'v1', kind: 'Namespace', name: ns.name },
        (object) => object.metadata.labels?.never === 'set',
        { timeoutMs: 300, description: 'a label nobody sets' },
      )
      .catch((e: unknown) => e);
    expect((error as Error).message).toMatch(
      /a label nobody sets; last seen: \{.*"phase":"Active"/,
    );
  });
});
