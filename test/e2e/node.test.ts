// The real node itself, as a user of `npm run cluster -- --real-node` relies on it: pods
// run from our images, are reachable from the host, reach the API server through the
// `kubernetes` Service, logs/exec/node proxy work through the API server, the kubelet's
// cAdvisor names containers, and nothing from a pod leaves the bridge.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmdirSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testCluster, type TestNamespace } from '../cluster/harness.ts';
import {
  cadvisor,
  httpGet,
  nodeEval,
  readyPods,
  realNode,
  SAMPLE_APP_PORT,
  sampleApp,
  samples,
  type PodView,
} from './support.ts';

const cluster = testCluster();
const node = realNode(cluster.info);

describe('a real node', () => {
  let ns: TestNamespace;
  let pod: PodView;

  beforeAll(async () => {
    ns = await cluster.namespace('node');
    await cluster.apply(sampleApp(cluster.info, { name: 'app', uid: 1000, gid: 1000 }), {
      namespace: ns.name,
    });
    [pod] = (await readyPods(cluster, ns.name, 'app.kubernetes.io/name=app', 1)) as [PodView];
  });
  afterAll(async () => {
    await ns.delete();
  });

  test('registers as a Ready node of the API server version, on the bridge address', async () => {
    const object = await cluster.get({ apiVersion: 'v1', kind: 'Node', name: node.name });
    const status = object.status as {
      nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string };
      addresses: { type: string; address: string }[];
    };
    expect(status.nodeInfo.kubeletVersion).toBe(cluster.info.kubeVersion);
    expect(status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/2\./);
    expect(status.addresses).toContainEqual({ type: 'InternalIP', address: node.gateway });
    expect((object.spec as { taints?: unknown[] }).taints ?? []).toEqual([]);
  });

  test('runs the sample app image; its pod IP is on the bridge and reachable from the host', async () => {
    expect(pod.ip).toMatch(/^10\.244\.0\./);
    const res = await httpGet(`http://${String(pod.ip)}:${String(SAMPLE_APP_PORT)}/healthz`);
    expect(res.status).toBe(200);
  });

  test('kubectl logs and exec work through the API server', async () => {
    const logs = await cluster.kubectl(['logs', '-n', ns.name, pod.name, '-c', 'web']);
    expect(logs.stdout).toContain('"event":"listening"');
    const out = await nodeEval(
      cluster,
      ns.name,
      pod.name,
      'web',
      'console.log(process.getuid(), process.getgid())',
    );
    expect(out.trim()).toBe('1000 1000');
  });

  test('pods reach the API server through the kubernetes Service, its certificate naming it', async () => {
    // A pod with a ServiceAccount token: the app's own pods mount none.
    await cluster.apply(
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client' },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true },
          containers: [
            {
              name: 'client',
              image: node.images.sampleApp,
              imagePullPolicy: 'Never',
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
            },
          ],
        },
      },
      { namespace: ns.name },
    );
    await cluster.waitForObject(
      { apiVersion: 'v1', kind: 'Pod', namespace: ns.name, name: 'client' },
      (p) => (p.status as { phase?: string } | undefined)?.phase === 'Running',
      { timeoutMs: 120_000 },
    );
    const script = `
      const fs = require('node:fs');
      const https = require('node:https');
      const sa = '/var/run/secrets/kubernetes.io/serviceaccount/';
      const host = process.env.KUBERNETES_SERVICE_HOST, port = process.env.KUBERNETES_SERVICE_PORT;
      https.get({ host, port, path: '/api/v1/namespaces/${ns.name}/pods/client',
        ca: fs.readFileSync(sa + 'ca.crt'),
        headers: { authorization: 'Bearer ' + fs.readFileSync(sa + 'token', 'utf8') } },
        (res) => { console.log(host + ':' + port + ' ' + res.statusCode); process.exit(0); })
        .on('error', (e) => { console.log('error ' + e.message); process.exit(1); });`;
    const out = await nodeEval(cluster, ns.name, 'client', 'client', script);
    // 403: reached and authenticated (the default ServiceAccount may not read pods);
    // TLS verified against the cluster CA for the Service's address.
    expect(out.trim()).toBe('10.96.0.1:443 403');
  });

  test("the kubelet's cAdvisor labels containers with pod and container", async () => {
    const text = await cadvisor(cluster, node.name);
    const web = samples(text, 'container_cpu_usage_seconds_total').filter(
      (s) => s.labels.pod === pod.name && s.labels.namespace === ns.name,
    );
    expect(web.map((s) => s.labels.container)).toContain('web');
  });

  test('nothing from a pod reaches beyond the bridge and the host', async () => {
    // A network namespace of our own outside the bridge, reachable from the host: the
    // host would forward a pod's packets there (ip_forward is on) but for our rule.
    const id = randomBytes(3).toString('hex');
    const netns = `smon-out-${id}`;
    const [hostEnd, nsEnd] = [`smo${id}a`, `smo${id}b`];
    const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
    // `ip netns` mounts /run/netns the first time it is used: gone again afterwards.
    const hadNetnsDir = existsSync('/run/netns');
    ip('netns', 'add', netns);
    const listener = spawn('ip', [
      'netns',
      'exec',
      netns,
      process.execPath,
      '-e',
      "require('node:net').createServer((s) => s.end('hello\\n')).listen(7777, '10.245.77.2', () => console.log('up'))",
    ]);
    try {
      ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd);
      ip('link', 'set', nsEnd, 'netns', netns);
      ip('addr', 'add', '10.245.77.1/30', 'dev', hostEnd);
      ip('link', 'set', hostEnd, 'up');
      ip('netns', 'exec', netns, 'ip', 'addr', 'add', '10.245.77.2/30', 'dev', nsEnd);
      ip('netns', 'exec', netns, 'ip', 'link', 'set', nsEnd, 'up');
      ip('netns', 'exec', netns, 'ip', 'route', 'add', 'default', 'via', '10.245.77.1');
      await cluster.waitFor('the listener in the outside namespace', async () => {
        try {
          return (await greetingFromHost()) === 'hello';
        } catch {
          return false;
        }
      });
      const script = `
        const s = require('node:net').connect({ host: '10.245.77.2', port: 7777, timeout: 3000 });
        s.on('data', (d) => { console.log('reached ' + d); process.exit(0); });
        s.on('timeout', () => { console.log('timeout'); process.exit(0); });
        s.on('error', (e) => { console.log(e.code); process.exit(0); });`;
      const out = await nodeEval(cluster, ns.name, pod.name, 'web', script);
      expect(out.trim()).toBe('timeout');
    } finally {
      listener.kill('SIGKILL');
      try {
        ip('link', 'delete', hostEnd);
      } catch {
        // gone with the namespace
      }
      ip('netns', 'delete', netns);
      if (!hadNetnsDir) {
        execFileSync('umount', ['/run/netns']);
        rmdirSync('/run/netns');
      }
    }

    function greetingFromHost(): Promise<string> {
      return new Promise((resolve, reject) => {
        const socket = connect({ host: '10.245.77.2', port: 7777, timeout: 2000 });
        let data = '';
        socket.on('data', (d: Buffer) => {
          data += d.toString();
        });
        socket.on('end', () => {
          resolve(data.trim());
        });
        socket.on('timeout', () => {
          socket.destroy(new Error('timeout'));
        });
        socket.on('error', reject);
      });
    }
  });
});
