// The cluster demo (npm run demo:cluster) end to end, against the test control plane.
import { expect, test } from 'vitest';
import { EXPORTER_CONTAINER } from '../../operator/api/constants.ts';
import { runDemo } from '../../examples/demo-cluster/demo.ts';
import { testCluster, uniqueName } from '../cluster/harness.ts';

const cluster = testCluster();

test('installs, runs the operator, injects the sample app and shows its status', async () => {
  const namespace = uniqueName('demo');
  const operatorNamespace = uniqueName('demo-system');
  const release = uniqueName('demo');
  const printed: string[] = [];
  try {
    await using demo = await runDemo({
      kubeconfig: cluster.kubeconfigPath,
      helm: cluster.info.binaries.helm!,
      kubeVersion: cluster.info.kubeVersion,
      namespace,
      operatorNamespace,
      release,
      print: (text) => printed.push(text),
    });
    expect(demo.status).toMatchObject({ matchedWorkloads: 1, injectedWorkloads: 1 });
    expect(demo.template.metadata?.labels?.['sidecarmonitor.io/monitor']).toBe('sample-app');
    const output = printed.join('\n');
    expect(output).toContain('The injected pod template');
    expect(output).toContain(`name: ${EXPORTER_CONTAINER}`);
    expect(output).toContain('type: Ready');
    expect(output).toContain(`system:serviceaccount:${operatorNamespace}:`);
  } finally {
    for (const kind of ['ClusterRoleBinding', 'ClusterRole']) {
      const objects = await cluster.list(
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind },
        { labelSelector: `app.kubernetes.io/instance=${release}` },
      );
      for (const o of objects) {
        await cluster.remove({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind,
          name: o.metadata.name ?? '',
        });
      }
    }
    for (const ns of [namespace, operatorNamespace]) {
      await cluster.remove({ apiVersion: 'v1', kind: 'Namespace', name: ns });
    }
  }
});
