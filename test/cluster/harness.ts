/**
 * The test-side API of the shared control plane (started once by ./global-setup.ts for
 * the `cluster` vitest project: test/cluster, test/operator, test/chart).
 *
 *   import { testCluster } from './harness.ts';
 *   const cluster = testCluster();
 *
 *   test('...', async () => {
 *     await using ns = await cluster.namespace('rollout');   // deleted when the scope ends
 *     await cluster.applyFile('crds/sidecarmonitor.io_sidecarmonitors.yaml');
 *     await cluster.apply(deployment, { namespace: ns.name }); // server-side apply
 *     await cluster.waitForCondition(
 *       { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns.name, name: 'app' },
 *       'Available',
 *     );
 *     const operator = cluster.impersonate({ namespace: 'sidecar-monitor', name: 'operator' });
 *     // operator.kubeconfigPath / operator.kubeConfig(): the chart's RBAC, for real
 *     await cluster.apiServer.restart({ downForMs: 10_000 });
 *   });
 *
 * What is there:
 * - `info`: kubeconfig path, server URL, version, fake node names, binary paths.
 * - Clients: `kubeConfig()` (@kubernetes/client-node, admin), `objects` / `rest` (raw
 *   JSON, nothing dropped or converted: see rest.ts), and the shortcuts `apply`,
 *   `applyFile`, `create`, `get`, `tryGet`, `list`, `remove`.
 * - `namespace(prefix)`: a unique namespace, ready for Pods (its `default`
 *   ServiceAccount exists); `await using` or `.delete()` removes it.
 * - `waitFor(description, probe)`, `waitForObject(ref, predicate)`,
 *   `waitForCondition(ref, type)`, `waitForDeletion(ref)`: polling with a timeout error
 *   that quotes what was last seen. Timeouts are generous bounds, not performance
 *   assertions.
 * - `impersonate({ namespace, name })`: a kubeconfig file and clients acting as that
 *   ServiceAccount (admin credentials + `Impersonate-User`; the API server adds the
 *   ServiceAccount's groups), so RBAC applies exactly as to the real pod.
 * - `kubectl(args)`, `helm(args)`: the cluster's binaries with its kubeconfig (and helm
 *   homes inside the cluster directory, away from the person's).
 * - `apiServer.stop()`, `.start()`, `.restart({ downForMs })`: same port, same
 *   certificates, same etcd (objects survive). Pair stop() with start() in a finally.
 * - Fake Nodes from kwok (`info.fakeNodes`) make scheduled Pods Running and Ready;
 *   Nodes a test creates without the `kwok.x-k8s.io/node: fake` annotation stay
 *   unmanaged (NotReady), e.g. to model old kubelets.
 * - `KUBECONFIG` points at the cluster for every process of the run.
 * - Namespace deletion takes at least 5 s (the namespace controller's fixed grace
 *   period): don't wait for it unless the test is about it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { PROVIDE_KEY, type ClusterInfo } from './cluster-info.ts';
import { CONTROL_ROUTES } from './control-server.ts';
import { readKubeconfig, renderKubeconfig, type KubeconfigCredentials } from './kubeconfig.ts';
import {
  createObjectClient,
  parseObjects,
  type ApplyOptions,
  type ObjectClient,
  type ObjectRef,
} from './objects.ts';
import { createRestClient, type KubeObject, type RestClient } from './rest.ts';
import { waitFor, type Note, type Probe, type WaitOptions } from './wait.ts';

export type { ClusterInfo } from './cluster-info.ts';
export type { ApplyOptions, ObjectClient, ObjectRef } from './objects.ts';
export { parseObjects } from './objects.ts';
export { KubeApiError, type KubeObject, type RestClient } from './rest.ts';
export { waitFor, type Note, type Probe, type WaitOptions } from './wait.ts';

export interface TestNamespace extends AsyncDisposable {
  readonly name: string;
  /** Deletes it; with `wait`, until the namespace controller has removed it. */
  delete(options?: { wait?: boolean }): Promise<void>;
}

export interface Identity {
  /** A kubeconfig file for processes (the operator under test, kubectl, helm). */
  readonly kubeconfigPath: string;
  readonly credentials: KubeconfigCredentials;
  kubeConfig(): KubeConfig;
  readonly objects: ObjectClient;
}

export interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface ToolOptions {
  /** Written to its stdin. */
  readonly input?: string;
  /** Another kubeconfig (e.g. an impersonating one); default: the admin's. */
  readonly kubeconfigPath?: string;
  /** Resolve with the failure instead of rejecting on a non-zero exit. */
  readonly allowFailure?: boolean;
  readonly timeoutMs?: number;
}

export interface ConditionWaitOptions extends WaitOptions {
  /** Expected status (default 'True'). */
  readonly status?: 'True' | 'False' | 'Unknown';
}

export interface TestCluster {
  readonly info: ClusterInfo;
  readonly kubeconfigPath: string;
  readonly rest: RestClient;
  readonly objects: ObjectClient;
  /** A fresh @kubernetes/client-node KubeConfig for the admin. */
  kubeConfig(): KubeConfig;

  namespace(prefix: string, options?: { labels?: Record<string, string> }): Promise<TestNamespace>;

  apply(objects: KubeObject | readonly KubeObject[], options?: ApplyOptions): Promise<KubeObject[]>;
  /** Applies every document of a YAML file (relative paths from the repository root). */
  applyFile(file: string, options?: ApplyOptions): Promise<KubeObject[]>;
  create(object: KubeObject, options?: { namespace?: string }): Promise<KubeObject>;
  get(ref: ObjectRef): Promise<KubeObject>;
  tryGet(ref: ObjectRef): Promise<KubeObject | undefined>;
  list(
    ref: { apiVersion: string; kind: string; namespace?: string },
    options?: { labelSelector?: string; fieldSelector?: string },
  ): Promise<KubeObject[]>;
  remove(
    ref: ObjectRef,
    options?: { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan' },
  ): Promise<void>;

  waitFor<T>(description: string, probe: Probe<T>, options?: WaitOptions): Promise<T>;
  /** Polls the object until `predicate` holds (NotFound counts as "not yet"). */
  waitForObject(
    ref: ObjectRef,
    predicate: (object: KubeObject) => boolean,
    options?: WaitOptions & { description?: string },
  ): Promise<KubeObject>;
  /** Polls until status.conditions has `type` with the expected status. */
  waitForCondition(
    ref: ObjectRef,
    type: string,
    options?: ConditionWaitOptions,
  ): Promise<KubeObject>;
  /** Polls until the object is gone. */
  waitForDeletion(ref: ObjectRef, options?: WaitOptions): Promise<void>;

  impersonate(serviceAccount: { namespace: string; name: string }): Identity;

  kubectl(args: readonly string[], options?: ToolOptions): Promise<ToolResult>;
  helm(args: readonly string[], options?: ToolOptions): Promise<ToolResult>;

  readonly apiServer: {
    stop(): Promise<void>;
    start(): Promise<void>;
    /** Stops it, keeps it down for `downForMs` (default 0), starts it again. */
    restart(options?: { downForMs?: number }): Promise<void>;
  };
}

const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
const TEST_LABEL = 'sidecar-monitor.test/created-by';

/** The shared control plane, as seen from a test file. Cheap: call it at module level. */
export function testCluster(): TestCluster {
  // Undefined outside the `cluster` and `e2e` projects, whatever the declared type says.
  const info = inject(PROVIDE_KEY) as ClusterInfo | undefined;
  if (info === undefined) {
    throw new Error(
      'no test cluster: test/cluster/harness.ts works only in the `cluster` and `e2e` vitest projects ' +
        '(its global setup starts the control plane)',
    );
  }
  return createTestCluster(info);
}

export function createTestCluster(info: ClusterInfo): TestCluster {
  const admin = readKubeconfig(info.kubeconfigPath);
  const rest = createRestClient(admin);
  const objects = createObjectClient(rest);

  const waitForObject: TestCluster['waitForObject'] = (ref, predicate, options = {}) =>
    waitFor(
      options.description ?? `${describe(ref)} to reach the expected state`,
      async (note) => {
        const object = await objects.tryGet(ref);
        note(object === undefined ? 'NotFound' : summarize(object));
        return object !== undefined && predicate(object) ? object : undefined;
      },
      options,
    );

  const runTool = async (
    binary: 'kubectl' | 'helm',
    args: readonly string[],
    options: ToolOptions,
  ): Promise<ToolResult> => {
    const command = info.binaries[binary];
    if (command === undefined)
      throw new Error(`${binary} is not available (binaries from ${info.binarySource})`);
    const kubeconfig = options.kubeconfigPath ?? info.kubeconfigPath;
    const helmHome = path.join(info.dir, 'helm');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: kubeconfig,
      // Discovery caches are per server address, and every run has a new port: keep
      // them out of ~/.kube/cache.
      KUBECACHEDIR: path.join(info.dir, 'kube-cache'),
      ...(binary === 'helm'
        ? {
            HELM_CACHE_HOME: path.join(helmHome, 'cache'),
            HELM_CONFIG_HOME: path.join(helmHome, 'config'),
            HELM_DATA_HOME: path.join(helmHome, 'data'),
          }
        : {}),
    };
    const result = await run(command, ['--kubeconfig', kubeconfig, ...args], {
      env,
      cwd: REPO_ROOT,
      input: options.input,
      timeoutMs: options.timeoutMs ?? 120_000,
    });
    if (result.code !== 0 && options.allowFailure !== true) {
      throw new Error(
        `${binary} ${args.join(' ')} exited ${result.code}\n${result.stderr.trim() || result.stdout.trim()}`,
      );
    }
    return result;
  };

  const control = async (route: string): Promise<void> => {
    const response = await fetch(new URL(route, info.control.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${info.control.token}` },
    });
    if (response.status !== 204) {
      throw new Error(`${route} failed: ${response.status} ${await response.text()}`);
    }
  };

  const cluster: TestCluster = {
    info,
    kubeconfigPath: info.kubeconfigPath,
    rest,
    objects,
    kubeConfig: () => {
      const kc = new KubeConfig();
      kc.loadFromFile(info.kubeconfigPath);
      return kc;
    },

    async namespace(prefix, options = {}) {
      const name = uniqueName(prefix);
      await objects.create({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { [TEST_LABEL]: 'harness', ...options.labels } },
      });
      const ref = { apiVersion: 'v1', kind: 'Namespace', name };
      // Pods are rejected until the ServiceAccount controller made `default`; wait
      // here rather than letting a ReplicaSet back off.
      if (info.components.includes('kube-controller-manager')) {
        await waitFor(`ServiceAccount ${name}/default`, () =>
          objects
            .tryGet({ apiVersion: 'v1', kind: 'ServiceAccount', namespace: name, name: 'default' })
            .then((sa) => sa !== undefined),
        );
      }
      const remove = async (removeOptions: { wait?: boolean } = {}): Promise<void> => {
        await objects.remove(ref);
        if (removeOptions.wait === true) await cluster.waitForDeletion(ref, { timeoutMs: 120_000 });
      };
      return {
        name,
        delete: remove,
        [Symbol.asyncDispose]: () => remove(),
      };
    },

    apply: (list, options) => objects.apply(list, options),
    async applyFile(file, options) {
      const absolute = path.resolve(REPO_ROOT, file);
      return objects.apply(parseObjects(readFileSync(absolute, 'utf8'), file), options);
    },
    create: (object, options) => objects.create(object, options),
    get: (ref) => objects.get(ref),
    tryGet: (ref) => objects.tryGet(ref),
    list: (ref, options) => objects.list(ref, options),
    remove: (ref, options) => objects.remove(ref, options),

    waitFor: (description, probe, options) => waitFor(description, probe, options),
    waitForObject,
    waitForCondition(ref, type, options = {}) {
      const status = options.status ?? 'True';
      return waitFor(
        `${describe(ref)} to have condition ${type}=${status}`,
        async (note: Note) => {
          const object = await objects.tryGet(ref);
          const conditions = conditionsOf(object);
          note(object === undefined ? 'NotFound' : { conditions });
          return object !== undefined &&
            conditions.some((c) => c.type === type && c.status === status)
            ? object
            : undefined;
        },
        options,
      );
    },
    async waitForDeletion(ref, options) {
      await waitFor(
        `${describe(ref)} to be deleted`,
        async (note) => {
          const object = await objects.tryGet(ref);
          if (object !== undefined) note(summarize(object));
          return object === undefined;
        },
        options,
      );
    },

    impersonate({ namespace, name }) {
      const credentials: KubeconfigCredentials = {
        ...admin,
        impersonate: `system:serviceaccount:${namespace}:${name}`,
        namespace,
        contextName: `${namespace}.${name}`,
      };
      const dir = path.join(info.dir, 'kubeconfigs');
      mkdirSync(dir, { recursive: true });
      const kubeconfigPath = path.join(dir, `sa.${namespace}.${name}.yaml`);
      writeFileSync(kubeconfigPath, renderKubeconfig(credentials), { mode: 0o600 });
      return {
        kubeconfigPath,
        credentials,
        kubeConfig: () => {
          const kc = new KubeConfig();
          kc.loadFromFile(kubeconfigPath);
          return kc;
        },
        objects: createObjectClient(createRestClient(credentials)),
      };
    },

    kubectl: (args, options = {}) => runTool('kubectl', args, options),
    helm: (args, options = {}) => runTool('helm', args, options),

    apiServer: {
      stop: () => control(CONTROL_ROUTES.stop),
      start: () => control(CONTROL_ROUTES.start),
      async restart(options = {}) {
        await control(CONTROL_ROUTES.stop);
        try {
          if ((options.downForMs ?? 0) > 0) {
            await new Promise((resolve) => setTimeout(resolve, options.downForMs));
          }
        } finally {
          await control(CONTROL_ROUTES.start);
        }
      },
    },
  };
  return cluster;
}

/** `<prefix>-<5 random chars>`, a valid DNS label. */
export function uniqueName(prefix: string): string {
  const suffix = randomBytes(4).readUInt32BE(0).toString(36).padStart(5, '0').slice(-5);
  const base = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63 - suffix.length - 1);
  return `${base || 'test'}-${suffix}`;
}

function describe(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace === undefined ? '' : `${ref.namespace}/`}${ref.name}`;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

function conditionsOf(object: KubeObject | undefined): Condition[] {
  const status = object?.status as { conditions?: Condition[] } | undefined;
  return status?.conditions ?? [];
}

/** What a timeout error quotes: status and generation, not the whole object. */
function summarize(object: KubeObject): unknown {
  return {
    generation: object.metadata.generation,
    deletionTimestamp: object.metadata.deletionTimestamp,
    status: object.status,
  };
}

function run(
  command: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; cwd: string; input: string | undefined; timeoutMs: number },
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr:
          signal === null
            ? stderr
            : `${stderr}\n(killed by ${signal} after ${options.timeoutMs} ms)`,
        code: code ?? 128,
      });
    });
    child.stdin.end(options.input);
  });
}
