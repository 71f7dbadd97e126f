// What one sidecar costs where users see it: the exporter container's working set and CPU as
// the kubelet reports them (its /metrics/resource endpoint, what metrics-server and
// `kubectl top` read; the same cAdvisor figures eviction uses), on a real node, for the first
// exporter on the node and for the tenth, idle and scraped by Prometheus 3 every 15 s and
// every 1 s.
//
//   npm run bench -- sidecar-cost [--exporters 10] [--settle 30] [--window 60]
//
// The first exporter pays for the file-backed pages of the image (Node's binary, ~40 MB
// touched) because page cache is charged to the cgroup that touches it first; later ones
// find them cached. So nothing else runs our image on the node: the workloads are injected
// offline (`sidecar-monitor inject`, the GitOps path) instead of by the operator's pod, and
// the PodMonitor is the one the operator would create. Needs root (a real node).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { parseAllDocuments, stringify } from 'yaml';
import { EXPORTER_CONTAINER } from '../../operator/api/constants.ts';
import type { SidecarMonitor } from '../../operator/api/v1alpha1.ts';
import { desiredPodMonitor } from '../../operator/controller/podmonitor.ts';
import type { KubeObject } from '../cluster/rest.ts';
import { samples } from '../e2e/support.ts';
import { NODE_IMAGES } from '../node/images.ts';
import { installCrds, installStack, type Kubectl } from '../stack/install.ts';
import { PROMETHEUS_NAME, PROMETHEUS_POD, STACK_NAMESPACE } from '../stack/manifests.ts';
import { prometheusApi } from '../stack/prometheus-api.ts';
import { startStackNode } from '../stack/node.ts';

const NAMESPACE = 'cost';
const MONITOR = 'cost';
const REPO = path.resolve(import.meta.dirname, '..', '..');
const MIB = 1024 * 1024;

interface Reading {
  readonly cpuSeconds: number;
  readonly workingSet: number;
  readonly at: number;
}

interface Row {
  readonly phase: string;
  readonly exporter: string;
  readonly workingSetMiB: number;
  readonly workingSetMaxMiB: number;
  readonly cpuMillicores: number;
  readonly scrapes: number | undefined;
}

function app(name: string): KubeObject {
  const labels = { 'app.kubernetes.io/name': name, bench: MONITOR };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NAMESPACE, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 5,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'web',
              image: NODE_IMAGES.sampleApp,
              imagePullPolicy: 'Never',
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5 },
              resources: {
                requests: { cpu: '50m', memory: '48Mi' },
                limits: { cpu: '500m', memory: '256Mi' },
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  };
}

/** Loose limits: the figures measured must be the exporter's own, not what a limit allows. */
const monitor: SidecarMonitor = {
  apiVersion: 'sidecarmonitor.io/v1alpha1',
  kind: 'SidecarMonitor',
  metadata: { name: MONITOR, namespace: NAMESPACE },
  spec: {
    selector: { matchLabels: { bench: MONITOR } },
    exporter: {
      resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '512Mi' } },
    },
  },
};

/** The workloads with the exporter injected, by our own `inject` command. */
function inject(apps: readonly KubeObject[], kubeVersion: string): KubeObject[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'smon-cost-'));
  try {
    writeFileSync(path.join(dir, 'monitor.yaml'), stringify(monitor));
    writeFileSync(path.join(dir, 'apps.yaml'), apps.map((a) => stringify(a)).join('---\n'));
    const out = execFileSync(
      process.execPath,
      [
        path.join(REPO, 'bin', 'sidecar-monitor.ts'),
        'inject',
        '-m',
        path.join(dir, 'monitor.yaml'),
        '-f',
        path.join(dir, 'apps.yaml'),
        '--kube-version',
        kubeVersion,
        '--pod-monitor',
        '--exporter-image',
        NODE_IMAGES.sidecarMonitor,
      ],
      { encoding: 'utf8' },
    );
    return parseAllDocuments(out)
      .map((d) => d.toJSON() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Drops the page cache of every file of the node's image snapshots (GNU dd's
 * `iflag=nocache count=0`, posix_fadvise DONTNEED on that file only): importing the images
 * read them, and pages already cached stay charged to the importer's cgroup, so without this
 * the first exporter would not pay for its image's pages as it does on a fresh node.
 */
function dropImageCache(nodeDir: string): number {
  const snapshots = path.join(
    nodeDir,
    'containerd',
    'root',
    'io.containerd.snapshotter.v1.overlayfs',
    'snapshots',
  );
  const files = execFileSync('find', [snapshots, '-type', 'f', '-size', '+64k'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
    .split('\n')
    .filter((f) => f !== '');
  for (const file of files) {
    execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
  }
  return files.length;
}

const apply = (kubectl: Kubectl, objects: readonly KubeObject[]): Promise<string> =>
  kubectl(
    ['apply', '--server-side', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  );

async function podOf(kubectl: Kubectl, name: string): Promise<string> {
  await kubectl(['rollout', 'status', `deployment/${name}`, '-n', NAMESPACE, '--timeout=180s']);
  const out = await kubectl([
    'get',
    'pods',
    '-n',
    NAMESPACE,
    '-l',
    `app.kubernetes.io/name=${name}`,
    '-o',
    'jsonpath={.items[0].metadata.name}',
  ]);
  return out.trim();
}

/** The kubelet's own figures for one container (metrics-server's source). */
async function read(kubectl: Kubectl, nodeName: string, pod: string): Promise<Reading> {
  const text = await kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/metrics/resource`]);
  const pick = (metric: string): number => {
    const hit = samples(text, metric).find(
      (s) =>
        s.labels.namespace === NAMESPACE &&
        s.labels.pod === pod &&
        s.labels.container === EXPORTER_CONTAINER,
    );
    if (hit === undefined) throw new Error(`the kubelet reports no ${metric} for ${pod}`);
    return hit.value;
  };
  return {
    cpuSeconds: pick('container_cpu_usage_seconds_total'),
    workingSet: pick('container_memory_working_set_bytes'),
    at: performance.now() / 1000,
  };
}

async function measure(
  kubectl: Kubectl,
  nodeName: string,
  pods: Readonly<Record<string, string>>,
  windowSeconds: number,
): Promise<Map<string, { first: Reading; last: Reading; maxWorkingSet: number }>> {
  const result = new Map<string, { first: Reading; last: Reading; maxWorkingSet: number }>();
  const deadline = performance.now() / 1000 + windowSeconds;
  for (;;) {
    for (const [label, pod] of Object.entries(pods)) {
      const r = await read(kubectl, nodeName, pod);
      const seen = result.get(label);
      if (seen === undefined) result.set(label, { first: r, last: r, maxWorkingSet: r.workingSet });
      else
        result.set(label, {
          first: seen.first,
          last: r,
          maxWorkingSet: Math.max(seen.maxWorkingSet, r.workingSet),
        });
    }
    if (performance.now() / 1000 >= deadline) break;
    await sleep(5000);
  }
  return result;
}

function rows(
  phase: string,
  measured: Awaited<ReturnType<typeof measure>>,
  scrapes: Readonly<Record<string, number | undefined>>,
): Row[] {
  return [...measured].map(([exporter, m]) => ({
    phase,
    exporter,
    workingSetMiB: m.last.workingSet / MIB,
    workingSetMaxMiB: m.maxWorkingSet / MIB,
    cpuMillicores: ((m.last.cpuSeconds - m.first.cpuSeconds) / (m.last.at - m.first.at)) * 1000,
    scrapes: scrapes[exporter],
  }));
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      exporters: { type: 'string', default: '10' },
      settle: { type: 'string', default: '30' },
      window: { type: 'string', default: '60' },
    },
  });
  const count = Number(values.exporters);
  const settle = Number(values.settle);
  const windowSeconds = Number(values.window);
  if (!(count >= 2 && settle >= 0 && windowSeconds >= 15)) {
    throw new Error('--exporters must be >= 2 and --window >= 15 (seconds)');
  }
  const logger = pino({ name: 'bench', level: 'warn' }, pino.destination(2));
  const { node, stack, kubectl } = await startStackNode({
    logger,
    onProgress: (line) => {
      console.error(line);
    },
  });
  try {
    const nodeName = node.nodeName;
    await kubectl(['create', 'namespace', NAMESPACE]);
    await installCrds(kubectl, stack.crdDir);
    const names = Array.from({ length: count }, (_, i) => `app-${String(i + 1).padStart(2, '0')}`);
    const injected = inject(names.map(app), node.controlPlane.kubeVersion);
    // The first alone, on a page cache without the image's files, the rest after it, the
    // last one last.
    console.error(`dropped the page cache of ${String(dropImageCache(node.nodeDir))} image files`);
    const pods: Record<string, string> = {};
    await apply(kubectl, injected.slice(0, 1));
    pods.first = await podOf(kubectl, names[0]!);
    await apply(kubectl, injected.slice(1, -1));
    for (const name of names.slice(1, -1)) await podOf(kubectl, name);
    await apply(kubectl, injected.slice(-1));
    pods[`#${String(count)}`] = await podOf(kubectl, names.at(-1)!);
    console.error(`exporters running: ${JSON.stringify(pods)}`);

    const table: Row[] = [];
    await sleep(settle * 1000);
    table.push(
      ...rows('idle (not scraped)', await measure(kubectl, nodeName, pods, windowSeconds), {}),
    );

    const podMonitor = desiredPodMonitor({
      ...monitor,
      metadata: { ...monitor.metadata, uid: undefined },
    });
    delete (podMonitor.metadata as { ownerReferences?: unknown }).ownerReferences;
    await apply(kubectl, [podMonitor as unknown as KubeObject]);
    const installed = await installStack(kubectl, stack.crdDir, {
      scrapeInterval: '15s',
      evaluationInterval: '15s',
    });
    let prom = prometheusApi(installed.url);
    const scrapeCounts = async (): Promise<Record<string, number | undefined>> => {
      const out: Record<string, number | undefined> = {};
      for (const [label, pod] of Object.entries(pods)) {
        const s = await prom.instant(
          `count_over_time(up{pod="${pod}"}[${String(windowSeconds)}s])`,
        );
        out[label] = s[0] === undefined ? 0 : Number(s[0].values[0]?.[1]);
      }
      return out;
    };
    for (const [interval, label] of [
      ['15s', 'scraped every 15 s'],
      ['1s', 'scraped every 1 s'],
    ] as const) {
      if (interval !== '15s') {
        // A new interval: the operator rewrites the configuration; a fresh pod loads it at once.
        await kubectl([
          'patch',
          'prometheus',
          PROMETHEUS_NAME,
          '-n',
          STACK_NAMESPACE,
          '--type=merge',
          '-p',
          JSON.stringify({ spec: { scrapeInterval: interval, evaluationInterval: interval } }),
        ]);
        await sleep(5000);
        await kubectl(['delete', 'pod', '-n', STACK_NAMESPACE, PROMETHEUS_POD, '--wait=true']);
        const again = await installStack(kubectl, stack.crdDir, {
          scrapeInterval: interval,
          evaluationInterval: interval,
        });
        prom = prometheusApi(again.url);
      }
      await sleep(settle * 1000);
      const measured = await measure(kubectl, nodeName, pods, windowSeconds);
      table.push(...rows(label, measured, await scrapeCounts()));
    }

    console.log(
      [
        `| exporter | phase | working set MiB (end) | working set MiB (max) | CPU millicores (mean over ${String(windowSeconds)} s) | scrapes in the window |`,
        '|---|---|---:|---:|---:|---:|',
        ...table.map(
          (r) =>
            `| ${r.exporter} | ${r.phase} | ${r.workingSetMiB.toFixed(1)} | ${r.workingSetMaxMiB.toFixed(1)} | ${r.cpuMillicores.toFixed(2)} | ${r.scrapes === undefined ? '—' : String(r.scrapes)} |`,
        ),
      ].join('\n'),
    );
  } finally {
    const diff = await node.stop();
    if (diff.length > 0) console.error(`the host differs from before:\n  ${diff.join('\n  ')}`);
  }
}
