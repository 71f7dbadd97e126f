// Test support for the operator's integration tests: the chart's RBAC rendered by the
// real `helm template` and applied, the operator run as a real child process under that
// ServiceAccount, and builders for the workloads the scenarios use.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { afterAll, beforeAll, onTestFailed } from 'vitest';
import { killTracked, reapOnExit } from '../support/reap.ts';
import {
  parseObjects,
  type KubeObject,
  type TestCluster,
  type TestNamespace,
} from '../cluster/harness.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
export const EXPORTER_IMAGE = 'ghcr.io/sidecar-monitor/sidecar-monitor:0.1.0-test';
export const CRD_FILE = 'crds/sidecarmonitor.io_sidecarmonitors.yaml';
export const MONITOR_API = 'sidecarmonitor.io/v1alpha1';

export interface Install extends AsyncDisposable {
  readonly release: string;
  readonly fullname: string;
  readonly namespace: TestNamespace;
  readonly serviceAccount: { namespace: string; name: string };
  /** A kubeconfig that acts as the operator's ServiceAccount. */
  readonly kubeconfigPath: string;
}

/**
 * Applies the CRD, then the chart's rbac.yaml (rendered by helm) into a fresh namespace.
 * Disposal deletes the namespace and the cluster-scoped RBAC objects.
 */
export async function installOperatorRbac(
  cluster: TestCluster,
  options: { watchNamespaces?: readonly string[] } = {},
): Promise<Install> {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    name: 'sidecarmonitors.sidecarmonitor.io',
  };
  // A CRD another file deleted may still be going: applying to it would not revive it.
  if ((await cluster.tryGet(crd))?.metadata.deletionTimestamp !== undefined) {
    await releaseMonitors(cluster);
    await cluster.waitForDeletion(crd);
  }
  await cluster.applyFile(CRD_FILE);
  await cluster.waitForCondition(crd, 'Established');
  const namespace = await cluster.namespace('smon-system');
  const release = namespace.name.replace('smon-system', 'smon');
  const args = [
    'template',
    release,
    'charts/sidecar-monitor',
    '--namespace',
    namespace.name,
    '--show-only',
    'templates/rbac.yaml',
    '--kube-version',
    cluster.info.kubeVersion,
    // The chart's defaults come from its values.yaml; these are the ones rbac.yaml reads.
    '--set',
    'serviceAccount.name=',
  ];
  for (const [i, ns] of (options.watchNamespaces ?? []).entries()) {
    args.push('--set', `watchNamespaces[${i}]=${ns}`);
  }
  const rendered = await cluster.helm(args);
  const objects = parseObjects(rendered.stdout, 'rbac.yaml');
  await cluster.apply(objects, { namespace: namespace.name });
  const sa = objects.find((o) => o.kind === 'ServiceAccount');
  if (!sa?.metadata.name) throw new Error('rbac.yaml rendered no ServiceAccount');
  const fullname = sa.metadata.name;
  const serviceAccount = { namespace: namespace.name, name: fullname };
  const identity = cluster.impersonate(serviceAccount);
  return {
    release,
    fullname,
    namespace,
    serviceAccount,
    kubeconfigPath: identity.kubeconfigPath,
    async [Symbol.asyncDispose]() {
      for (const o of objects) {
        if (o.metadata.namespace === undefined && o.kind !== 'ServiceAccount') {
          await cluster.remove({
            apiVersion: o.apiVersion,
            kind: o.kind,
            name: o.metadata.name ?? '',
          });
        }
      }
      await namespace.delete();
    },
  };
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface OperatorProcess extends AsyncDisposable {
  readonly url: string;
  readonly logs: readonly LogLine[];
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly pid: number;
  waitForLog(
    description: string,
    predicate: (l: LogLine) => boolean,
    timeoutMs?: number,
  ): Promise<LogLine>;
  metrics(): Promise<string>;
  /** Sum of a metric's samples whose labels include `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

afterAll(killTracked);

export interface StartOptions {
  install: Install;
  /** --namespace flags (default: none, all namespaces). */
  namespaces?: readonly string[];
  args?: readonly string[];
  identity?: string;
  /**
   * What to wait for: 'synced' (leading, caches synced: the default), 'ready' (/readyz
   * answers 200, e.g. a standby replica), 'listening' (only the HTTP server).
   */
  wait?: 'synced' | 'ready' | 'listening';
}

/** Starts `sidecar-monitor operator` as a child process under the install's ServiceAccount. */
export async function startOperator(options: StartOptions): Promise<OperatorProcess> {
  const { install } = options;
  const args = [
    path.join(REPO_ROOT, 'bin', 'sidecar-monitor.ts'),
    'operator',
    '--kubeconfig',
    install.kubeconfigPath,
    '--exporter-image',
    EXPORTER_IMAGE,
    '--listen',
    '127.0.0.1:0',
    '--leader-election-namespace',
    install.namespace.name,
    '--leader-election-id',
    install.fullname,
    '--status-delay-ms',
    '100',
    '--log-level',
    'debug',
    ...(options.identity ? ['--identity', options.identity] : []),
    ...(options.namespaces ?? []).flatMap((ns) => ['--namespace', ns]),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBECONFIG: install.kubeconfigPath },
  });
  reapOnExit(child);
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      logs.push({ level: 30, msg: line });
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal });
    });
  });
  const state = { done: false };
  void exited.then(() => {
    state.done = true;
  });

  const waitForLog = (
    description: string,
    predicate: (l: LogLine) => boolean,
    timeoutMs = 60_000,
  ): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = logs.find(predicate);
        if (found) {
          cleanup();
          resolve(found);
          return true;
        }
        if (state.done) {
          cleanup();
          reject(new Error(`operator exited before logging ${description}\n${tail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for the operator to log ${description}\n${tail()}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(waiter);
      };
      const waiter = (): void => {
        check();
      };
      waiters.add(waiter);
      check();
    });
  const tail = (): string =>
    `last log lines:\n${logs
      .slice(-15)
      .map((l) => JSON.stringify(l))
      .join('\n')}\nstderr: ${stderr.slice(-2000)}`;

  onTestFailed(() => {
    if (process.env.SIDECAR_MONITOR_OPERATOR_LOGS) {
      writeFileSync(
        `${process.env.SIDECAR_MONITOR_OPERATOR_LOGS}/operator-${String(child.pid)}.log`,
        logs.map((l) => JSON.stringify(l)).join('\n'),
      );
    }
    console.error(
      `operator ${options.identity ?? String(child.pid)} log (last 120 lines):\n${logs
        .slice(-120)
        .map((l) => JSON.stringify(l))
        .join('\n')}`,
    );
  });
  const serving = await waitForLog('its listen address', (l) => typeof l.address === 'string');
  const url = String(serving.address);
  const proc: OperatorProcess = {
    url,
    logs,
    stderr: () => stderr,
    exited,
    pid: child.pid ?? -1,
    waitForLog,
    async metrics() {
      const res = await fetch(`${url}/metrics`);
      return res.text();
    },
    async metric(name, labels = {}) {
      const text = await proc.metrics();
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const have = new Map<string, string>();
        for (const x of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
          have.set(x[1] ?? '', x[2] ?? '');
        }
        if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[4]);
      }
      return sum;
    },
    async kill(signal = 'SIGTERM') {
      if (!state.done) child.kill(signal);
      return exited;
    },
    async [Symbol.asyncDispose]() {
      if (!state.done) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
  const wait = options.wait ?? 'synced';
  if (wait !== 'listening') {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const res = await fetch(`${url}/readyz`).catch(() => undefined);
      if (res?.status === 200) break;
      if (state.done) throw new Error(`operator exited during startup\n${tail()}`);
      if (Date.now() > deadline) throw new Error(`operator not ready within 120 s\n${tail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  if (wait === 'synced') {
    await waitForLog('caches synced', (l) => l.msg === 'caches synced; reconciling', 120_000);
  }
  return proc;
}

export interface Scoped extends AsyncDisposable {
  readonly ns: TestNamespace;
  readonly operator: OperatorProcess;
}

/**
 * A fresh namespace and an operator watching only it (so the test's counts of writes and
 * reconciles are its own). Disposal stops the operator (releasing the lease), then
 * deletes the namespace.
 */
/**
 * Drops our finalizer from every SidecarMonitor (in `namespace`, or everywhere) once no
 * operator runs to honour it: a monitor left with it would keep its namespace, and any
 * later CRD deletion, terminating forever.
 */
export async function releaseMonitors(cluster: TestCluster, namespace?: string): Promise<void> {
  const monitors = await cluster
    .list({ apiVersion: MONITOR_API, kind: 'SidecarMonitor', ...(namespace ? { namespace } : {}) })
    .catch(() => []);
  for (const m of monitors) {
    if (!m.metadata.finalizers?.length) continue;
    const path = await cluster.objects.path({
      apiVersion: MONITOR_API,
      kind: 'SidecarMonitor',
      namespace: m.metadata.namespace,
      name: m.metadata.name,
    });
    await cluster.rest
      .request('PATCH', path, {
        contentType: 'application/merge-patch+json',
        body: { metadata: { finalizers: null } },
      })
      .catch(() => undefined);
  }
}

export async function scoped(
  cluster: TestCluster,
  install: Install,
  prefix: string,
  options: Omit<StartOptions, 'install' | 'namespaces'> = {},
): Promise<Scoped> {
  const ns = await cluster.namespace(prefix);
  let operator: OperatorProcess;
  try {
    operator = await startOperator({ ...options, install, namespaces: [ns.name] });
  } catch (err) {
    await ns.delete();
    throw err;
  }
  return {
    ns,
    operator,
    async [Symbol.asyncDispose]() {
      await operator[Symbol.asyncDispose]();
      await releaseMonitors(cluster, ns.name);
      await ns.delete();
    },
  };
}

export function deployment(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  options: {
    replicas?: number;
    image?: string;
    podSpec?: Record<string, unknown>;
    spec?: Record<string, unknown>;
  } = {},
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels },
    spec: {
      replicas: options.replicas ?? 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: options.image ?? 'nginx:1.27',
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10 },
              securityContext: { runAsUser: 1000, runAsGroup: 1000 },
            },
          ],
          ...options.podSpec,
        },
      },
      ...options.spec,
    },
  };
}

export function statefulSet(
  namespace: string,
  name: string,
  labels: Record<string, string>,
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace, labels },
    spec: {
      replicas: 1,
      serviceName: name,
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': name } },
        spec: {
          containers: [
            {
              name: 'db',
              image: 'redis:7',
              ports: [{ name: 'redis', containerPort: 6379 }],
              readinessProbe: { tcpSocket: { port: 'redis' } },
            },
          ],
        },
      },
    },
  };
}

export function daemonSet(
  namespace: string,
  name: string,
  labels: Record<string, string>,
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace, labels },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': name } },
        spec: { containers: [{ name: 'agent', image: 'busybox:1.37' }] },
      },
    },
  };
}

export function monitor(
  namespace: string,
  name: string,
  spec: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: MONITOR_API,
    kind: 'SidecarMonitor',
    metadata: { name, namespace },
    spec: { selector: { matchLabels: { monitored: 'true' } }, ...spec },
  };
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    containers: { name: string; image?: string; env?: { name: string; value?: string }[] }[];
    initContainers?: { name: string; restartPolicy?: string }[];
    shareProcessNamespace?: boolean;
  };
}

export function templateOf(workload: KubeObject): PodTemplate {
  const spec = workload.spec as { template: PodTemplate };
  return spec.template;
}

export const HASH = 'sidecarmonitor.io/injection-hash';
export const EXPORTER = 'sidecar-monitor-exporter';

/** Whether the workload's pod template carries the exporter (either list). */
export function injected(workload: KubeObject): boolean {
  const t = templateOf(workload);
  return [...(t.spec?.containers ?? []), ...(t.spec?.initContainers ?? [])].some(
    (c) => c.name === EXPORTER,
  );
}

export function countExporters(workload: KubeObject): number {
  const t = templateOf(workload);
  return [...(t.spec?.containers ?? []), ...(t.spec?.initContainers ?? [])].filter(
    (c) => c.name === EXPORTER,
  ).length;
}

export interface MonitorStatus {
  observedGeneration?: number;
  matchedWorkloads?: number;
  injectedWorkloads?: number;
  skippedWorkloads?: number;
  conditions?: { type: string; status: string; reason: string; message: string }[];
  workloads?: { kind: string; name: string; state: string; reason?: string; message?: string }[];
}

export function statusOf(m: KubeObject): MonitorStatus {
  return m.status ?? {};
}

export function condition(
  m: KubeObject,
  type: string,
): { status: string; reason: string; message: string } | undefined {
  return statusOf(m).conditions?.find((c) => c.type === type);
}

export function ref(
  kind: string,
  namespace: string,
  name: string,
): { apiVersion: string; kind: string; namespace: string; name: string } {
  const apiVersion = kind === 'SidecarMonitor' ? MONITOR_API : 'apps/v1';
  return { apiVersion, kind, namespace, name };
}

interface DeploymentState {
  metadata: { name: string; generation?: number };
  spec?: { replicas?: number; paused?: boolean };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
  };
}

/** kubectl's notion of a Deployment rollout still in progress. */
export function rolling(d: DeploymentState): boolean {
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  return (
    (d.metadata.generation ?? 0) > (s.observedGeneration ?? -1) ||
    (s.updatedReplicas ?? 0) < want ||
    (s.replicas ?? 0) > (s.updatedReplicas ?? 0) ||
    (s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0)
  );
}

export interface RolloutTracker extends AsyncDisposable {
  /** The most Deployments seen rolling at the same time since start (or reset). */
  readonly max: number;
  readonly current: number;
  reset(): void;
  /** Every change of the rolling set since start (or reset), for failure messages. */
  timeline(): string;
}

/**
 * Follows every change of the namespaces' Deployments through a watch (so no state in
 * between is missed, unlike polling) and records how many roll out at once.
 */
export async function trackRollouts(
  cluster: TestCluster,
  namespaces: readonly string[],
): Promise<RolloutTracker> {
  const { Watch } = await import('@kubernetes/client-node');
  const watch = new Watch(cluster.kubeConfig());
  const states = new Map<string, boolean>();
  let max = 0;
  let log: string[] = [];
  const started = Date.now();
  const controllers: AbortController[] = [];
  const count = (): number => [...states.values()].filter(Boolean).length;
  let stopped = false;
  const wanted = new Set(namespaces);
  // One cluster-wide watch: its events come in the API server's order across namespaces
  // (separate watches per namespace would not order a completion in one namespace
  // against a rollout starting in another).
  const follow = async (resourceVersion: string): Promise<void> => {
    let rv = resourceVersion;
    const controller = await watch.watch(
      '/apis/apps/v1/deployments',
      { resourceVersion: rv, allowWatchBookmarks: true },
      (
        type: string,
        obj: DeploymentState & { metadata: { resourceVersion?: string; namespace?: string } },
      ) => {
        if (obj.metadata.resourceVersion) rv = obj.metadata.resourceVersion;
        if (type === 'BOOKMARK' || type === 'ERROR') return;
        const ns = obj.metadata.namespace ?? '';
        if (!wanted.has(ns)) return;
        const key = `${ns}/${obj.metadata.name}`;
        const was = states.get(key) ?? false;
        if (type === 'DELETED') states.delete(key);
        else states.set(key, rolling(obj));
        const now = states.get(key) ?? false;
        if (now !== was) {
          log.push(
            `${((Date.now() - started) / 1000).toFixed(1)}s ${key} ${now ? 'starts' : 'done'} (rolling: ${[
              ...states,
            ]
              .filter(([, r]) => r)
              .map(([k]) => k)
              .join(', ')}) ${JSON.stringify(obj.status ?? {})}`,
          );
        }
        max = Math.max(max, count());
      },
      // The client ends quiet watches after 30 s: carry on from the last event.
      () => {
        if (!stopped) void follow(rv);
      },
    );
    controllers.push(controller);
  };
  const list = await cluster.rest.request<{
    metadata: { resourceVersion: string };
    items: (DeploymentState & { metadata: { namespace?: string } })[];
  }>('GET', '/apis/apps/v1/deployments');
  for (const d of list.items) {
    const ns = d.metadata.namespace ?? '';
    if (wanted.has(ns)) states.set(`${ns}/${d.metadata.name}`, rolling(d));
  }
  await follow(list.metadata.resourceVersion);
  max = count();
  return {
    get max() {
      return max;
    },
    get current() {
      return count();
    },
    reset() {
      max = count();
      log = [];
    },
    timeline() {
      return log.join('\n');
    },
    [Symbol.asyncDispose]() {
      stopped = true;
      for (const c of controllers) c.abort();
      return Promise.resolve();
    },
  };
}

/**
 * The CRD and the chart's RBAC for every test of the calling file: installed before the
 * first, removed after the last. Returns the install (an error if set-up failed).
 */
export function useOperatorInstall(cluster: TestCluster): () => Install {
  let install: Install | undefined;
  beforeAll(async () => {
    install = await installOperatorRbac(cluster);
  });
  afterAll(async () => {
    await install?.[Symbol.asyncDispose]();
  });
  return () => {
    if (!install) throw new Error('the operator RBAC was not installed (see beforeAll)');
    return install;
  };
}
