// A throwaway Kubernetes control plane on loopback: etcd, kube-apiserver and, on request,
// kube-controller-manager, kube-scheduler and kwok with fake Nodes (so Deployments get
// Pods that are scheduled and become Ready without a kubelet).
//
// Everything lives in one temporary directory (on tmpfs when /dev/shm is writable: etcd
// runs with --unsafe-no-fsync there, which is most of the startup time saved), and
// stop() or destroyNow() removes it. Each process runs in its own process group and dies
// with its parent (see component.ts). Directories left by a runner that was SIGKILLed
// are swept at the next start.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Binaries, BinaryName } from './binaries.ts';
import { createClusterDir, removeClusterDir, writePki } from './cluster-dir.ts';
import {
  startComponent,
  supportsParentDeathSignal,
  type Component,
  type Exit,
} from './component.ts';
import { fakeNode, nodesReady } from './fake-nodes.ts';
import {
  apiServerArgs,
  controllerManagerArgs,
  etcdArgs,
  kwokArgs,
  schedulerArgs,
} from './flags.ts';
import { renderKubeconfig, type KubeconfigCredentials } from './kubeconfig.ts';
import { createControlPlanePki } from './pki.ts';
import {
  ComponentExited,
  exists,
  freePort,
  httpOk,
  httpsOk,
  waitReady,
  withFreePort,
} from './readiness.ts';
import { createRestClient } from './rest.ts';

export interface ControlPlaneOptions {
  readonly binaries: Binaries;
  readonly logger: Logger;
  /** Deployments → ReplicaSets → Pods, namespace deletion, GC, SA tokens. Default true. */
  readonly controllerManager?: boolean;
  /** Default true. */
  readonly scheduler?: boolean;
  /** Fake Nodes that report Ready and Pods that become Ready. Default true. */
  readonly kwok?: boolean;
  /** How many kwok Nodes to create (default 3; 0 with kwok: false). */
  readonly fakeNodes?: number;
  /** Parent of the cluster directory; default /dev/shm when writable, else the OS tmpdir. */
  readonly tmpRoot?: string;
  /** Bound on each readiness wait (default 120 s: a cold start on a busy 2-core machine). */
  readonly readyTimeoutMs?: number;
  /** Called when a component exits that nobody stopped (it is also logged). */
  readonly onUnexpectedExit?: (component: string, exit: Exit) => void;
  /**
   * A real kubelet will join (test/node/): the API server binds and advertises
   * `address` (the host's address on the pod bridge, which must exist already) so that
   * pods reach it through the `kubernetes` Service, its certificate names that address
   * and the Service, and the node gets its identities.
   */
  readonly realNode?: RealNodeRequest;
}

export interface RealNodeRequest {
  readonly address: string;
  readonly nodeName: string;
  /** The first address of the Service range: the `kubernetes` Service's ClusterIP. */
  readonly serviceIp: string;
}

/** What a real kubelet needs to join: written into the cluster directory. */
export interface NodeIdentity {
  /** Client certificate CN=system:node:<name>, O=system:nodes. */
  readonly kubeconfigPath: string;
  readonly caCertPath: string;
  /** The kubelet's serving certificate (the API server verifies it). */
  readonly servingCertPath: string;
  readonly servingKeyPath: string;
}

export interface StartupTimings {
  readonly etcdMs: number;
  readonly apiServerMs: number;
  /** From the start of start() until every requested component is ready. */
  readonly totalMs: number;
}

export interface ControlPlane {
  /** The cluster's temporary directory (removed by stop()). */
  readonly dir: string;
  /** Admin kubeconfig (system:masters), credentials embedded. */
  readonly kubeconfigPath: string;
  readonly admin: KubeconfigCredentials;
  readonly server: string;
  /** What `kube-apiserver --version` says, e.g. v1.35.4. */
  readonly kubeVersion: string;
  readonly binaries: Binaries;
  /** Names of the running components (etcd, kube-apiserver, ...). */
  readonly components: readonly string[];
  readonly fakeNodes: readonly string[];
  readonly timings: StartupTimings;
  /** Present when started with `realNode`. */
  readonly nodeIdentity?: NodeIdentity;
  stopApiServer(): Promise<void>;
  /** Starts it again on the same port with the same certificates; resolves when ready. */
  startApiServer(): Promise<void>;
  /** Stops and tears down everything; idempotent. */
  stop(): Promise<void>;
  /** Synchronous SIGKILL of every process and removal of the directory, for 'exit' handlers. */
  destroyNow(): void;
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const started = performance.now();
  const { logger, binaries } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const wantKcm = options.controllerManager ?? true;
  const wantScheduler = options.scheduler ?? true;
  const wantKwok = options.kwok ?? true;
  const fakeNodes = Array.from(
    { length: wantKwok ? (options.fakeNodes ?? 3) : 0 },
    (_, i) => `kwok-node-${i}`,
  );
  const binary = (name: BinaryName): string => {
    const found = binaries.paths[name];
    if (found === undefined) {
      throw new Error(
        `${name} is needed but not found (binaries from ${binaries.source}); build it with ` +
          `test/cluster/build-binaries.sh or turn that component off`,
      );
    }
    return found;
  };
  // Fail on a missing optional binary before starting anything.
  if (wantKcm) binary('kube-controller-manager');
  if (wantScheduler) binary('kube-scheduler');
  if (wantKwok) binary('kwok');

  const dir = createClusterDir(logger, options.tmpRoot);
  const components = new Map<BinaryName, Component>();
  // Components being stopped on purpose: their exit is not news.
  const retiring = new Set<Component>();
  let stopping = false;
  const parentDeathSignal = supportsParentDeathSignal();

  const destroyNow = (): void => {
    stopping = true;
    for (const component of components.values()) component.killNow();
    removeClusterDir(dir);
  };

  const launch = (
    name: BinaryName,
    args: readonly string[],
    env?: NodeJS.ProcessEnv,
  ): Component => {
    const component = startComponent(
      { name, command: binary(name), args, logFile: path.join(dir, `${name}.log`), env },
      { logger, parentDeathSignal },
    );
    components.set(name, component);
    void component.exited.then((exit) => {
      if (stopping || retiring.has(component) || components.get(name) !== component) return;
      logger.error(
        { component: name, ...exit, log: component.logTail(15) },
        'control-plane component exited unexpectedly',
      );
      options.onUnexpectedExit?.(name, exit);
    });
    return component;
  };

  try {
    const kubeVersion = execFileSync(binary('kube-apiserver'), ['--version'], { encoding: 'utf8' })
      .trim()
      .replace(/^Kubernetes /, '');
    const realNode = options.realNode;
    const address = realNode?.address ?? '127.0.0.1';
    const pki = createControlPlanePki({
      hosts: [
        '127.0.0.1',
        'localhost',
        ...(realNode === undefined
          ? []
          : [
              realNode.address,
              realNode.serviceIp,
              'kubernetes',
              'kubernetes.default',
              'kubernetes.default.svc',
              'kubernetes.default.svc.cluster.local',
            ]),
      ],
      now: new Date(),
      clients: {
        admin: { user: 'sidecar-monitor-admin', groups: ['system:masters'] },
        controllerManager: { user: 'system:kube-controller-manager' },
        scheduler: { user: 'system:kube-scheduler' },
        // kwok plays every kubelet (Node and Pod status, Leases): it needs more than
        // one node's identity would give it.
        kwok: { user: 'kwok', groups: ['system:masters'] },
        ...(realNode === undefined
          ? {}
          : {
              node: { user: `system:node:${realNode.nodeName}`, groups: ['system:nodes'] },
              kubeletClient: { user: 'kube-apiserver-kubelet-client', groups: ['system:masters'] },
            }),
      },
      servers: realNode === undefined ? {} : { kubelet: [realNode.address, realNode.nodeName] },
    });
    const client = (key: string): { certPem: string; keyPem: string } => {
      const issued = pki.clients[key];
      if (issued === undefined) throw new Error(`no client certificate for ${key}`);
      return issued;
    };
    const files = writePki(dir, pki);
    const writePkiFile = (name: string, content: string): string => {
      const file = path.join(dir, 'pki', name);
      writeFileSync(file, content, { mode: 0o600 });
      return file;
    };
    const kubeletClient =
      realNode === undefined
        ? undefined
        : {
            cert: writePkiFile('apiserver-kubelet-client.crt', client('kubeletClient').certPem),
            key: writePkiFile('apiserver-kubelet-client.key', client('kubeletClient').keyPem),
          };

    const etcdStart = performance.now();
    const etcdUrl = await withFreePort('etcd', logger, async (port) => {
      const url = `http://127.0.0.1:${port}`;
      const etcd = launch('etcd', etcdArgs(path.join(dir, 'etcd'), url));
      await waitReady(etcd, `etcd /health on ${url}`, readyTimeoutMs, () =>
        httpOk(`${url}/health`),
      );
      return url;
    });
    const etcdMs = performance.now() - etcdStart;

    const apiStart = performance.now();
    const admin = { caPem: pki.ca.certPem, ...client('admin') };
    const startApiServer = async (port: number): Promise<void> => {
      const api = launch(
        'kube-apiserver',
        apiServerArgs({
          etcdUrl,
          port,
          certDir: path.join(dir, 'apiserver'),
          pki: files,
          address,
          kubeletClient,
        }),
      );
      const url = `https://${address}:${port}`;
      await waitReady(api, `kube-apiserver /readyz on ${url}`, readyTimeoutMs, () =>
        httpsOk(`${url}/readyz`, { ca: admin.caPem, cert: admin.certPem, key: admin.keyPem }),
      );
    };
    const apiPort = await withFreePort('kube-apiserver', logger, async (port) => {
      await startApiServer(port);
      return port;
    });
    const apiServerMs = performance.now() - apiStart;
    const server = `https://${address}:${apiPort}`;
    const adminCreds: KubeconfigCredentials = { ...admin, server };
    const kubeconfigPath = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, renderKubeconfig(adminCreds), { mode: 0o600 });
    const componentKubeconfig = (name: BinaryName, identity: string): string => {
      const file = path.join(dir, `${name}.kubeconfig`);
      writeFileSync(file, renderKubeconfig({ ...adminCreds, ...client(identity) }), {
        mode: 0o600,
      });
      return file;
    };
    const rest = createRestClient(adminCreds, 'sidecar-monitor-test-harness');
    let nodeIdentity: NodeIdentity | undefined;
    if (realNode !== undefined) {
      const kubelet = pki.servers.kubelet;
      if (kubelet === undefined) throw new Error('no serving certificate for the kubelet');
      const nodeKubeconfig = path.join(dir, 'kubelet.kubeconfig');
      writeFileSync(nodeKubeconfig, renderKubeconfig({ ...adminCreds, ...client('node') }), {
        mode: 0o600,
      });
      nodeIdentity = {
        kubeconfigPath: nodeKubeconfig,
        caCertPath: files.caCert,
        servingCertPath: writePkiFile('kubelet.crt', kubelet.certPem),
        servingKeyPath: writePkiFile('kubelet.key', kubelet.keyPem),
      };
    }
    const launchControllerManager = (): Component =>
      launch(
        'kube-controller-manager',
        controllerManagerArgs(
          componentKubeconfig('kube-controller-manager', 'controllerManager'),
          files,
        ),
      );
    /**
     * After an API server restart the controller manager's informers can take minutes to
     * come back (its first relists meet 403s before the API server's RBAC cache is warm,
     * and back off): namespaces made meanwhile got no `default` ServiceAccount. A fresh
     * controller manager, checked by a namespace that gets one, is whole again.
     */
    const renewControllerManager = async (): Promise<void> => {
      const old = components.get('kube-controller-manager');
      if (old === undefined) return;
      retiring.add(old);
      await old.stop(5_000);
      const kcm = launchControllerManager();
      const probe = `harness-probe-${String(Date.now())}`;
      await rest.request('POST', '/api/v1/namespaces', {
        body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: probe } },
      });
      await waitReady(
        kcm,
        `kube-controller-manager to create ServiceAccount ${probe}/default`,
        readyTimeoutMs,
        () => exists(rest, `/api/v1/namespaces/${probe}/serviceaccounts/default`),
        logger,
      );
      await rest.request('DELETE', `/api/v1/namespaces/${probe}`);
    };

    try {
      // The rest start together and are checked together.
      let controllersReady: Promise<void> = Promise.resolve();
      const readiness: Promise<void>[] = [];
      if (wantKcm) {
        const kcm = launchControllerManager();
        // The ServiceAccount controller creating `default` in `default` means the
        // informers synced and the controllers run.
        controllersReady = waitReady(
          kcm,
          'kube-controller-manager to create ServiceAccount default/default',
          readyTimeoutMs,
          () => exists(rest, '/api/v1/namespaces/default/serviceaccounts/default'),
          logger,
        );
        readiness.push(controllersReady);
      }
      if (wantScheduler) {
        const port = await freePort();
        const scheduler = launch(
          'kube-scheduler',
          schedulerArgs(
            componentKubeconfig('kube-scheduler', 'scheduler'),
            port,
            path.join(dir, 'kube-scheduler'),
          ),
        );
        readiness.push(
          waitReady(
            scheduler,
            'kube-scheduler /readyz',
            readyTimeoutMs,
            () => httpsOk(`https://127.0.0.1:${port}/readyz`, { rejectUnauthorized: false }),
            logger,
          ),
        );
      }
      if (wantKwok) {
        const home = path.join(dir, 'kwok-home');
        mkdirSync(home);
        const kwok = launch(
          'kwok',
          kwokArgs(componentKubeconfig('kwok', 'kwok')),
          // kwok always reads ~/.kwok/kwok.yaml when it exists: keep a person's out.
          { ...process.env, HOME: home },
        );
        for (const name of fakeNodes) {
          await rest.request('POST', '/api/v1/nodes', {
            body: fakeNode(name, kubeVersion, realNode !== undefined),
          });
        }
        // Judged once the controllers run: the node lifecycle controller may still add
        // (and then remove) not-ready taints to Nodes it sees for the first time.
        readiness.push(
          controllersReady.then(() =>
            waitReady(
              kwok,
              `kwok to make nodes ${fakeNodes.join(', ')} Ready`,
              readyTimeoutMs,
              (note) => nodesReady(rest, fakeNodes, note),
              logger,
            ),
          ),
        );
      }
      await Promise.all(readiness);
    } finally {
      rest.close();
    }

    const timings: StartupTimings = {
      etcdMs: Math.round(etcdMs),
      apiServerMs: Math.round(apiServerMs),
      totalMs: Math.round(performance.now() - started),
    };
    logger.info(
      { server, dir, kubeVersion, components: [...components.keys()], ...timings },
      'control plane ready',
    );

    return {
      dir,
      kubeconfigPath,
      admin: adminCreds,
      server,
      kubeVersion,
      binaries,
      components: [...components.keys()],
      fakeNodes,
      timings,
      ...(nodeIdentity === undefined ? {} : { nodeIdentity }),
      async stopApiServer(): Promise<void> {
        const api = components.get('kube-apiserver');
        if (api === undefined || api.exit() !== undefined) return;
        retiring.add(api);
        await api.stop();
        logger.info({ server }, 'kube-apiserver stopped');
      },
      async startApiServer(): Promise<void> {
        if (components.get('kube-apiserver')?.exit() === undefined) return;
        const t = performance.now();
        await startApiServer(apiPort);
        await renewControllerManager();
        logger.info({ server, ms: Math.round(performance.now() - t) }, 'kube-apiserver started');
      },
      async stop(): Promise<void> {
        if (stopping) return;
        stopping = true;
        // Clients first, so none of them logs a storm of errors about the API server;
        // etcd last.
        const order: BinaryName[][] = [
          ['kwok', 'kube-scheduler', 'kube-controller-manager'],
          ['kube-apiserver'],
          ['etcd'],
        ];
        for (const names of order) {
          const group = names.flatMap((name) => components.get(name) ?? []);
          await Promise.all(group.map((component) => component.stop(5_000)));
        }
        components.clear();
        removeClusterDir(dir);
        logger.info({ dir }, 'control plane stopped');
      },
      destroyNow,
    };
  } catch (error) {
    const logs = [...components.values()]
      .map((c) => `--- ${c.name} (last lines of its log) ---\n${c.logTail(20)}`)
      .join('\n');
    destroyNow();
    throw new Error(`starting the control plane failed: ${errorMessage(error)}\n${logs}`, {
      cause: error,
    });
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof ComponentExited) return `${error.message}\n${error.log}`;
  return error instanceof Error ? error.message : String(error);
}
