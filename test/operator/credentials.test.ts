// The operator's own kubeconfig loader against the real API server: a ServiceAccount
// token from an exec credential plugin (how EKS, GKE and AKS kubeconfigs authenticate).
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { testCluster } from '../cluster/harness.ts';
import {
  deployment,
  injected,
  monitor,
  ref,
  startOperator,
  useOperatorInstall,
} from './support.ts';

const cluster = testCluster();
const install = useOperatorInstall(cluster);
let dir: string | undefined;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'smon-exec-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('an exec credential plugin supplying a ServiceAccount token', async () => {
  await using ns = await cluster.namespace('exec');
  const { namespace, name } = install().serviceAccount;
  const request = await cluster.rest.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      },
    },
  );
  const plugin = path.join(dir!, 'get-token.mjs');
  writeFileSync(
    plugin,
    `#!${process.execPath}\n` +
      `const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);\n` +
      `if (info.kind !== 'ExecCredential' || process.env.CLUSTER !== 'test') process.exit(3);\n` +
      `console.log(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status: { token: ${JSON.stringify(request.status.token)} } }));\n`,
  );
  chmodSync(plugin, 0o755);
  const ca = /certificate-authority-data: (\S+)/.exec(
    readFileSync(cluster.kubeconfigPath, 'utf8'),
  )?.[1];
  const kubeconfig = path.join(dir!, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'test',
          cluster: { server: cluster.info.server, 'certificate-authority-data': ca },
        },
      ],
      users: [
        {
          name: 'operator',
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1',
              command: plugin,
              env: [{ name: 'CLUSTER', value: 'test' }],
              interactiveMode: 'Never',
            },
          },
        },
      ],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'operator' } }],
      'current-context': 'test',
    }),
  );
  await using operator = await startOperator({
    install: { ...install(), kubeconfigPath: kubeconfig },
    namespaces: [ns.name],
  });
  expect(operator.logs.find((l) => typeof l.address === 'string')).toMatchObject({
    credentials: `${kubeconfig} (context test)`,
  });
  await cluster.apply([deployment(ns.name, 'web', { monitored: 'true' }), monitor(ns.name, 'mon')]);
  await cluster.waitForObject(ref('Deployment', ns.name, 'web'), injected);
  const web = await cluster.get(ref('Deployment', ns.name, 'web'));
  expect(web.metadata.managedFields?.map((f) => f.manager)).toContain('sidecar-monitor');
});
