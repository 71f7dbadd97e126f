// `npm run demo:cluster -- --real-node` (root): the whole stack on one real node, as a user
// runs it. The chart's operator from our image, prometheus-operator and Prometheus 3 (built
// from their Go modules), and the sample app with its SidecarMonitor from examples/. Prints
// `prometheus: http://127.0.0.1:<port>` once Prometheus scrapes the sample app's exporters
// (a loopback relay to the Prometheus pod, as `kubectl port-forward` would be), then keeps
// everything running until Ctrl-C, and tears it all down.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { parseAllDocuments, stringify } from 'yaml';
import type { KubeObject } from '../../test/cluster/rest.ts';
import { NODE_IMAGES } from '../../test/node/images.ts';
import { installCrds, installStack, type Kubectl } from '../../test/stack/install.ts';
import { startStackNode, type StackNode } from '../../test/stack/node.ts';
import { prometheusApi } from '../../test/stack/prometheus-api.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const NAMESPACE = 'demo';
const OPERATOR_NS = 'sidecar-monitor';

interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  readinessProbe?: { httpGet?: { path: string } };
  livenessProbe?: { httpGet?: { path: string } };
}

/** examples/sample-app.yaml with our sample app's image in place of the placeholder. */
function sampleApp(): KubeObject {
  const doc = parseAllDocuments(
    readFileSync(path.join(REPO, 'examples', 'sample-app.yaml'), 'utf8'),
  )
    .map((d) => d.toJSON() as KubeObject)
    .find((o) => o.kind === 'Deployment');
  if (doc === undefined) throw new Error('examples/sample-app.yaml has no Deployment');
  const spec = (doc.spec as { template: { spec: { containers: Container[] } } }).template.spec;
  for (const c of spec.containers) {
    c.image = NODE_IMAGES.sampleApp;
    c.imagePullPolicy = 'Never';
    for (const probe of [c.readinessProbe, c.livenessProbe]) {
      if (probe?.httpGet !== undefined) probe.httpGet.path = '/healthz';
    }
  }
  return doc;
}

function sampleMonitor(): KubeObject {
  const monitor = parseAllDocuments(
    readFileSync(path.join(REPO, 'examples', 'sidecarmonitor.yaml'), 'utf8'),
  )[0]?.toJSON() as KubeObject;
  // The placeholder app served /index.html; ours serves /work (with a little latency).
  const health = (monitor.spec as { health?: { endpoints?: { name: string; path: string }[] } })
    .health;
  for (const e of health?.endpoints ?? []) {
    e.name = 'work';
    e.path = '/work';
  }
  return monitor;
}

/** A loopback port relaying to the Prometheus pod, like `kubectl port-forward`. */
async function relay(host: string, port: number): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect(port, host);
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function waitForScrapes(kubectl: Kubectl, url: string): Promise<number> {
  const prom = prometheusApi(url);
  const deadline = Date.now() + 300_000;
  for (;;) {
    const pods = (
      await kubectl([
        'get',
        'pods',
        '-n',
        NAMESPACE,
        '-l',
        'app.kubernetes.io/name=sample-app',
        '-o',
        'jsonpath={.items[*].metadata.name}',
      ])
    )
      .split(' ')
      .filter((p) => p !== '');
    const up = await prom.instant(`up{namespace="${NAMESPACE}"} == 1`).catch(() => []);
    const scraped = new Set(up.map((s) => s.metric.pod));
    if (pods.length > 0 && pods.every((p) => scraped.has(p))) return pods.length;
    if (Date.now() > deadline) {
      throw new Error(`Prometheus did not scrape the sample app's exporters within 5 minutes`);
    }
    await sleep(2000);
  }
}

export async function runRealNodeDemo(options: {
  readonly once: boolean;
  readonly stopped: Promise<void>;
}): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('--real-node needs root (a kubelet, containerd, cgroups, a bridge)');
    return 1;
  }
  const logger = pino({ name: 'demo', level: 'warn' }, pino.destination(2));
  let stack: StackNode | undefined;
  let server: Server | undefined;
  const destroyNow = (): void => {
    stack?.node.destroyNow();
  };
  process.on('exit', destroyNow);
  try {
    console.log(
      'Building what is missing (first time: Kubernetes, Prometheus 3, prometheus-operator, images) and starting a real node...',
    );
    stack = await startStackNode({
      logger,
      onProgress: (line) => {
        console.error(line);
      },
    });
    const { kubectl, binaries, node } = stack;
    const kubeconfig = node.controlPlane.kubeconfigPath;
    const helm = binaries.paths.helm;
    if (helm === undefined) throw new Error('no helm among the binaries');
    console.log(`Kubernetes ${node.controlPlane.kubeVersion}, node ${node.nodeName} Ready.`);
    console.log(
      'Installing prometheus-operator CRDs, the chart, prometheus-operator and Prometheus 3...',
    );
    await installCrds(kubectl, stack.stack.crdDir);
    execFileSync(
      helm,
      [
        'install',
        'sidecar-monitor',
        path.join(REPO, 'charts', 'sidecar-monitor'),
        '-n',
        OPERATOR_NS,
        '--create-namespace',
        '--kubeconfig',
        kubeconfig,
        '--set',
        `image.repository=${NODE_IMAGES.sidecarMonitor.split(':')[0] ?? ''}`,
        '--set',
        `image.tag=${NODE_IMAGES.sidecarMonitor.split(':')[1] ?? ''}`,
        '--set',
        'image.pullPolicy=Never',
        '--set',
        'serviceMonitor.enabled=true',
        '--set',
        'prometheusRule.enabled=true',
        '--wait',
        '--timeout',
        '180s',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const prometheus = await installStack(kubectl, stack.stack.crdDir, {
      scrapeInterval: '5s',
      evaluationInterval: '5s',
    });
    console.log('Deploying examples/sample-app.yaml and examples/sidecarmonitor.yaml...');
    await kubectl(['create', 'namespace', NAMESPACE]);
    await kubectl(
      ['apply', '-n', NAMESPACE, '-f', '-'],
      [sampleApp(), sampleMonitor()].map((o) => stringify(o)).join('---\n'),
    );
    const pods = await waitForScrapes(kubectl, prometheus.url);
    server = await relay(prometheus.podIP, 9090);
    const port = (server.address() as { port: number }).port;
    const ready = await fetch(`http://127.0.0.1:${String(port)}/-/ready`);
    if (!ready.ok)
      throw new Error(`Prometheus through the loopback relay: HTTP ${String(ready.status)}`);
    const bin = path.dirname(binaries.paths.kubectl);
    console.log(
      [
        '',
        `Prometheus 3 scrapes the exporters of ${String(pods)} sample-app pod(s).`,
        `prometheus: http://127.0.0.1:${String(port)}`,
        '  try: sidecar_monitor_container_memory_working_set_bytes, sidecar_monitor_probe_success,',
        '       ALERTS, and Status > Targets (podMonitor/demo/..., serviceMonitor/sidecar-monitor/...)',
        `  export KUBECONFIG=${kubeconfig} PATH=${bin}:$PATH`,
        '  kubectl get smon,pods -n demo; kubectl get podmonitor,servicemonitor,prometheusrule -A',
        'Ctrl-C stops everything and restores the machine.',
      ].join('\n'),
    );
    if (!options.once) {
      const keepAlive = setInterval(() => undefined, 1 << 30);
      await options.stopped;
      clearInterval(keepAlive);
    }
    return 0;
  } catch (err) {
    console.error(`demo failed: ${(err as Error).message}`);
    return 1;
  } finally {
    server?.close();
    if (stack !== undefined) {
      console.log('Stopping the node...');
      const diff = await stack.node.stop();
      if (diff.length > 0) console.error(`the host differs from before:\n  ${diff.join('\n  ')}`);
    }
    process.off('exit', destroyNow);
  }
}
