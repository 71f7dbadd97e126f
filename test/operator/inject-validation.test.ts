// `sidecar-monitor inject` rejects an invalid monitor with the errors the API server gives
// for the same monitor, every one of them at once: each monitor below goes to the real
// kube-apiserver (a server-side dry run) and through `inject`, and both name the same fields.
import { expect, test } from 'vitest';
import { parse } from 'yaml';
import { main, type CliIo } from '../../operator/inject/cli.ts';
import { KubeApiError, testCluster } from '../cluster/harness.ts';
import { useOperatorInstall } from './support.ts';

const cluster = testCluster();
useOperatorInstall(cluster);

const monitors = {
  'a duplicate endpoint name, port 70000 and the empty selector (issue 13)': `
spec:
  selector: {}
  health:
    endpoints:
      - name: ready
        port: 70000
      - name: ready
        port: 8080
`,
  'a bound (not blocking) and a CEL rule': `
spec:
  selector: {}
  exporter: {port: 0}
`,
  'a wrong type blocks the CEL rules': `
spec:
  selector: {}
  exporter: {port: x}
`,
  'a timeout above its interval, a header with two values, an invalid label key': `
spec:
  selector:
    matchLabels: {"bad key!": x}
  health:
    endpoints:
      - name: a
        port: 80
        interval: 5s
        timeout: 10s
        headers:
          - name: X
            value: v
            valueFrom: {secretKeyRef: {name: s, key: k}}
`,
};

function document(name: string, spec: string): string {
  return `apiVersion: sidecarmonitor.io/v1alpha1\nkind: SidecarMonitor\nmetadata:\n  name: ${name}\n${spec.trim()}\n`;
}

test.for(Object.entries(monitors))('%s', async ([, spec]) => {
  await using ns = await cluster.namespace('inject-errors');
  const text = document('m', spec);
  const server = await cluster.rest
    .request('POST', `/apis/sidecarmonitor.io/v1alpha1/namespaces/${ns.name}/sidecarmonitors`, {
      query: { dryRun: 'All' },
      body: parse(text) as unknown,
    })
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  expect(server).toBeInstanceOf(KubeApiError);
  // The server's <nil> field (rules not checked) is our <root>.
  const serverFields = (server as KubeApiError).causes
    .map((c) => c.field ?? '')
    .map((f) => (f === '<nil>' ? '<root>' : f))
    .sort();

  let err = '';
  const io: CliIo = {
    readFile: () => Promise.resolve(text),
    readStdin: () => Promise.resolve(''),
    stdout: () => undefined,
    stderr: (t) => {
      err += t;
    },
    env: {},
    version: () => Promise.resolve('0.1.0'),
  };
  expect(await main(['-m', 'm.yaml', '-n', ns.name], io)).toBe(2);
  const ours = [...err.matchAll(/^m\.yaml:\d+: (\S+): /gm)].map((m) => m[1] ?? '').sort();
  expect(ours).toEqual(serverFields);
  expect(ours.length).toBeGreaterThan(1);
});
