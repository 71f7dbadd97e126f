// The operator's benchmark, against a real control plane (etcd + kube-apiserver; no
// controller manager, so rollouts never start and only the operator's own work is
// measured). For N = 100 and 1000 Deployments, side by side in one run:
//  - floor: the same server-side-apply patches (computed by the same injection core,
//    sent by the same client), in a plain sequential loop, and with as many in flight as
//    the operator has workers;
//  - operator: from creating a SidecarMonitor that matches the N Deployments (rollout
//    limits off) until its status reports all N injected;
//  - reconcile duration p50/p99 (the operator's own histogram);
//  - the operator's RSS with 1000 and with 5000 injected Deployments in its caches.
//
//   npm run bench -- operator [--sizes 100,1000] [--cache 5000] [--workers 4] [--kube-api-qps Q]
//
// The operator runs with its own client-side rate limit (--kube-api-qps 20, burst 30 by
// default, as controller-runtime); --kube-api-qps 0 measures it without one. The floor is
// never throttled: it is the cost of the patches themselves.
//
// Not a test: numbers on a shared 2-core machine are noisy; the README records a run.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, FIELD_MANAGER, KIND } from '../../operator/api/constants.ts';
import type { SidecarMonitor } from '../../operator/api/v1alpha1.ts';
import { desiredInjection } from '../../operator/controller/injection.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadAccess } from '../../operator/kube/kubeconfig.ts';
import {
  collectionPath,
  CRDS,
  DEPLOYMENTS,
  type KubeObject,
  NAMESPACES,
  objectPath,
} from '../../operator/kube/resources.ts';
import { resolveBinaries } from '../cluster/binaries.ts';
import { startControlPlane } from '../cluster/control-plane.ts';
import { buildExporter } from '../exporter/helpers/build.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const IMAGE = 'ghcr.io/sidecar-monitor/sidecar-monitor:bench';
const MONITORS = {
  group: 'sidecarmonitor.io',
  version: 'v1alpha1',
  kind: KIND,
  plural: 'sidecarmonitors',
  namespaced: true,
};

function workload(namespace: string, name: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { monitored: 'true', 'app.kubernetes.io/name': name } },
    spec: {
      replicas: 0,
      // No controller manager runs here, so no rollout would ever finish and hand back
      // its slot (the CRD caps rollout.maxConcurrent at 1000): paused Deployments take
      // none, which is what "rollout limits off" means for 5000 workloads.
      paused: true,
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'registry.example/app:1.0',
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 10 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 20 },
              resources: {
                requests: { cpu: '100m', memory: '128Mi' },
                limits: { memory: '256Mi' },
              },
              securityContext: { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true },
              env: [{ name: 'LOG_LEVEL', value: 'info' }],
            },
          ],
        },
      },
    },
  };
}

function monitorObject(namespace: string, maxConcurrent: number): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: 'bench', namespace },
    spec: { selector: { matchLabels: { monitored: 'true' } }, rollout: { maxConcurrent } },
  };
}

async function pool<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        await fn(item);
      }
    }),
  );
}

async function createNamespace(client: KubeClient, name: string, count: number): Promise<void> {
  await client.create(collectionPath(NAMESPACES), {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name },
  });
  const names = Array.from({ length: count }, (_, i) => `w${String(i).padStart(5, '0')}`);
  await pool(names, 16, (n) => client.create(collectionPath(DEPLOYMENTS, name), workload(name, n)));
}

async function listDeployments(client: KubeClient, namespace: string): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  let cont: string | undefined;
  do {
    const page = await client.list(collectionPath(DEPLOYMENTS, namespace), {
      limit: 500,
      ...(cont ? { continue: cont } : {}),
    });
    for (const item of page.items) {
      const o = item as KubeObject;
      o.apiVersion = 'apps/v1';
      o.kind = 'Deployment';
      out.push(o);
    }
    cont = page.continue;
  } while (cont);
  return out;
}

/** The operator's own apply bodies for every Deployment of the namespace. */
function bodies(items: readonly KubeObject[], monitor: SidecarMonitor): Record<string, unknown>[] {
  return items.map((w) => {
    const d = desiredInjection(
      w,
      monitor,
      { nativeSidecars: true, podMonitors: false },
      {
        exporterImage: IMAGE,
        allowedExporterImages: [IMAGE],
        exporterResources: {
          requests: { cpu: '10m', memory: '64Mi' },
          limits: { cpu: '200m', memory: '128Mi' },
        },
      },
    );
    if (d.outcome !== 'Injected') throw new Error(`not injected: ${d.reason} ${d.message}`);
    return d.applyBody;
  });
}

async function floor(client: KubeClient, namespace: string, inFlight: number): Promise<number> {
  const items = await listDeployments(client, namespace);
  const monitor = monitorObject(namespace, 1000) as unknown as SidecarMonitor;
  monitor.metadata = { ...monitor.metadata, creationTimestamp: new Date().toISOString() };
  const all = bodies(items, monitor);
  const apply = (b: Record<string, unknown>): Promise<unknown> => {
    const m = b.metadata as { name: string };
    return client.apply(objectPath(DEPLOYMENTS, namespace, m.name), b, {
      fieldManager: FIELD_MANAGER,
    });
  };
  const started = performance.now();
  if (inFlight === 1) {
    for (const b of all) await apply(b);
  } else {
    await pool(all, inFlight, apply);
  }
  return (performance.now() - started) / 1000;
}

async function restore(client: KubeClient, namespace: string): Promise<void> {
  const items = await listDeployments(client, namespace);
  await pool(items, 16, (w) =>
    client.apply(
      objectPath(DEPLOYMENTS, namespace, w.metadata.name),
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: w.metadata.name, namespace } },
      { fieldManager: FIELD_MANAGER },
    ),
  );
}

interface Operator {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

async function startOperator(
  entry: string,
  kubeconfig: string,
  namespace: string,
  workers: number,
  extraArgs: readonly string[],
): Promise<Operator> {
  const child = spawn(
    process.execPath,
    [
      entry,
      'operator',
      '--kubeconfig',
      kubeconfig,
      '--leader-elect=false',
      '--namespace',
      namespace,
      '--exporter-image',
      IMAGE,
      '--max-concurrent-rollouts',
      '0',
      '--workers',
      String(workers),
      '--listen',
      '127.0.0.1:0',
      '--log-level',
      'info',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) =>
    child.on('exit', () => {
      resolve();
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    let synced = false;
    let address: string | undefined;
    lines.on('line', (line) => {
      try {
        const l = JSON.parse(line) as { msg?: string; address?: string };
        if (l.address) address = l.address;
        if (l.msg === 'caches synced; reconciling') synced = true;
        if (synced && address) resolve(address);
      } catch {
        // not JSON
      }
    });
    void exited.then(() => {
      reject(new Error('the operator exited during startup'));
    });
  });
  return {
    child,
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return Number(kb ?? 0) * 1024;
}

/** Quantile from a Prometheus histogram's cumulative buckets (linear within a bucket). */
function quantile(text: string, name: string, labels: string, q: number): number {
  const buckets: [number, number][] = [];
  const re = new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    if (!m[1]!.includes(labels)) continue;
    const le = /le="([^"]+)"/.exec(m[1]!)?.[1] ?? '+Inf';
    buckets.push([le === '+Inf' ? Infinity : Number(le), Number(m[2])]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

async function injectAll(client: KubeClient, namespace: string, n: number): Promise<number> {
  const started = performance.now();
  await client.create(
    collectionPath(MONITORS, namespace),
    monitorObject(namespace, Math.min(1000, Math.max(1, n))),
  );
  for (;;) {
    const m = await client.get<{ status?: { injectedWorkloads?: number } }>(
      objectPath(MONITORS, namespace, 'bench'),
    );
    if (m.status?.injectedWorkloads === n) break;
    await sleep(50);
  }
  return (performance.now() - started) / 1000;
}

const mb = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MB`;
const s = (x: number): string => `${x.toFixed(2)} s`;
const ms = (x: number): string => `${(x * 1000).toFixed(1)} ms`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      sizes: { type: 'string', default: '100,1000' },
      cache: { type: 'string', default: '5000' },
      workers: { type: 'string', default: '4' },
      'kube-api-qps': { type: 'string' },
    },
  });
  const qps = values['kube-api-qps'];
  const operatorArgs = qps === undefined ? [] : ['--kube-api-qps', qps];
  const sizes = values.sizes.split(',').map(Number);
  const cacheSize = Number(values.cache);
  const workers = Number(values.workers);
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const binaries = await resolveBinaries({
    env: process.env,
    onProgress: (l) => {
      logger.warn({ build: l });
    },
  });
  // The operator as it ships: compiled JavaScript (the image runs dist/), so its RSS is
  // not inflated by type stripping.
  const build = await buildExporter();
  const cp = await startControlPlane({
    binaries,
    logger,
    controllerManager: false,
    scheduler: false,
    kwok: false,
  });
  const cleanup = (): void => {
    cp.destroyNow();
  };
  process.on('exit', cleanup);
  try {
    const client = KubeClient.fromAccess(await loadAccess(cp.kubeconfigPath), {
      userAgent: 'sidecar-monitor-bench',
    });
    for (const doc of parseAllDocuments(
      readFileSync(path.join(REPO, 'crds/sidecarmonitor.io_sidecarmonitors.yaml'), 'utf8'),
    )) {
      const crd = doc.toJS() as KubeObject;
      await client.apply(objectPath(CRDS, undefined, crd.metadata.name), crd, {
        fieldManager: 'bench',
        force: true,
      });
    }
    for (;;) {
      const crd = await client.get<{
        status?: { conditions?: { type: string; status: string }[] };
      }>(objectPath(CRDS, undefined, 'sidecarmonitors.sidecarmonitor.io'));
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'))
        break;
      await sleep(100);
    }

    const rows: string[] = [];
    const rss: [number, number][] = [];
    for (const n of sizes) {
      console.error(`[bench operator] N=${n}: creating ${2 * n} Deployments`);
      await createNamespace(client, `floor-${n}`, n);
      await createNamespace(client, `op-${n}`, n);
      const sequential = await floor(client, `floor-${n}`, 1);
      await restore(client, `floor-${n}`);
      const parallel = await floor(client, `floor-${n}`, workers);
      const op = await startOperator(
        build.entry,
        cp.kubeconfigPath,
        `op-${n}`,
        workers,
        operatorArgs,
      );
      const took = await injectAll(client, `op-${n}`, n);
      const text = await (await fetch(`${op.url}/metrics`)).text();
      const p50 = quantile(
        text,
        'sidecar_monitor_operator_reconcile_duration_seconds',
        'controller="workloads"',
        0.5,
      );
      const p99 = quantile(
        text,
        'sidecar_monitor_operator_reconcile_duration_seconds',
        'controller="workloads"',
        0.99,
      );
      rss.push([n, rssBytes(op.child.pid!)]);
      const codes = new Map<string, number>();
      for (const m of text.matchAll(
        /^sidecar_monitor_operator_api_requests_total\{([^}]*)\} (\S+)$/gm,
      )) {
        const code = /code="([^"]+)"/.exec(m[1] ?? '')?.[1] ?? '?';
        codes.set(code, (codes.get(code) ?? 0) + Number(m[2]));
      }
      console.error(
        `[bench operator] N=${n}: operator API requests by code: ${[...codes].map(([c, k]) => `${c}: ${k}`).join(', ')}`,
      );
      await op.stop();
      rows.push(
        `| ${n} | ${s(sequential)} | ${s(parallel)} | ${s(took)} | ${(took / sequential).toFixed(2)}× | ${(took / parallel).toFixed(2)}× | ${ms(p50)} | ${ms(p99)} |`,
      );
      console.error(
        `[bench operator] N=${n}: operator ${s(took)}, floor ${s(sequential)} sequential, ${s(parallel)} with ${workers} in flight`,
      );
    }

    console.error(`[bench operator] RSS: creating ${cacheSize} Deployments`);
    await createNamespace(client, 'cache', cacheSize);
    const op = await startOperator(build.entry, cp.kubeconfigPath, 'cache', workers, operatorArgs);
    await injectAll(client, 'cache', cacheSize);
    await sleep(10_000);
    rss.push([cacheSize, rssBytes(op.child.pid!)]);
    await op.stop();
    client.close();

    console.log(
      `Operator vs floor (same SSA patches, same client; ${workers} workers; rollout limits off; operator --kube-api-qps ${qps ?? 'default (20)'})\n`,
    );
    console.log(
      `| Deployments | floor, plain loop | floor, ${workers} in flight | operator: monitor → status says all injected | ratio to plain loop | ratio to ${workers} in flight | reconcile p50 | reconcile p99 |`,
    );
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of rows) console.log(r);
    console.log('\n| injected Deployments in the caches | operator RSS |\n|---|---|');
    for (const [n, b] of rss) console.log(`| ${n} | ${mb(b)} |`);
  } finally {
    await cp.stop();
    await build.dispose();
    process.off('exit', cleanup);
  }
}

/** For callers that want an exit code (the CLI convention of this repository). */
export async function main(argv: string[]): Promise<number> {
  try {
    await run(argv);
    return 0;
  } catch (err) {
    console.error('bench operator failed:', err);
    return 1;
  }
}
