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
import { fakeNode, KWOK_NODE_ANNOTATION, nodesReady } from './fake-nodes.ts';
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
  stopApiServer(): Promise<void>;
  /** Starts it again on the same port with the same certificates; resolves when ready. */
  startApiServer(): Promise<void>;
  /** Stops and tears down everything; idempotent. */
  stop(): Promise<void>;
  /** Synchronous SIGKILL of every process and removal of the directory, for 'exit' handlers. */
  destroyNow(): void;
}

const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
// Everything on by default except storage, autoscaling and certificate controllers, which
// nothing here exercises (no volumes, no HPAs, no CSRs) and which cost startup time and
// idle CPU on a 2-core machine.
const KCM_CONTROLLERS = [
  '*',
  '-persistentvolume-attach-detach-controller',
  '-persistentvolume-binder-controller',
  '-persistentvolume-expander-controller',
  '-persistentvolume-protection-controller',
  '-persistentvolumeclaim-protection-controller',
  '-ephemeral-volume-controller',
  '-volumeattributesclass-protection-controller',
  '-horizontal-pod-autoscaler-controller',
  '-certificatesigningrequest-approving-controller',
  '-certificatesigningrequest-cleaner-controller',
  '-resourceclaim-controller',
  '-endpointslice-mirroring-controller',
  '-legacy-serviceaccount-token-cleaner-controller',
].join(',');

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const started = performance.now();
  const { logger, binaries } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const wantKcm = options.controllerManager ?? true;
  const wantScheduler = options.scheduler ?? true;
  const wantKwok = options.kwok ?? true;
  const nodeCount = wantKwok ? (options.fakeNodes ?? 3) : 0;
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
  const components = new Map<string, Component>();
  let stopping = false;
  const parentDeathSignal = supportsParentDeathSignal();

  const destroyNow = (): void => {
    stopping = true;
    for (const component of components.values()) component.killNow();
    removeClusterDir(dir);
  };

  const launch = (name: string, args: readonly string[], env?: NodeJS.ProcessEnv): Component => {
    const component = startComponent(
      {
        name,
        command: binary(name as BinaryName),
        args,
        logFile: path.join(dir, `${name}.log`),
        env,
      },
      { logger, parentDeathSignal },
    );
    components.set(name, component);
    void component.exited.then((exit) => {
      if (!stopping && components.get(name) === component) {
        logger.error(
          { component: name, ...exit, log: component.logTail(15) },
          'control-plane component exited unexpectedly',
        );
        options.onUnexpectedExit?.(name, exit);
      }
    });
    return component;
  };

  try {
    const kubeVersion = execFileSync(binary('kube-apiserver'), ['--version'], { encoding: 'utf8' })
      .trim()
      .replace(/^Kubernetes /, '');
    const pki = createControlPlanePki({
      hosts: ['127.0.0.1', 'localhost'],
      now: new Date(),
      clients: {
        admin: { user: 'sidecar-monitor-admin', groups: ['system:masters'] },
        controllerManager: { user: 'system:kube-controller-manager' },
        scheduler: { user: 'system:kube-scheduler' },
        // kwok plays every kubelet (Node and Pod status, Leases): it needs more than
        // one node's identity would give it.
        kwok: { user: 'kwok', groups: ['system:masters'] },
      },
    });
    const files = writePki(dir, pki);

    // --- etcd ---
    const etcdStart = performance.now();
    const etcdUrl = await withFreePort('etcd', logger, async (port) => {
      const url = `http://127.0.0.1:${port}`;
      const etcd = launch('etcd', [
        '--name=default',
        `--data-dir=${path.join(dir, 'etcd')}`,
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        // A single member never talks to peers; port 0 avoids claiming a second port.
        '--listen-peer-urls=http://127.0.0.1:0',
        '--unsafe-no-fsync',
        '--log-level=warn',
      ]);
      await waitReady(etcd, `etcd /health on ${url}`, readyTimeoutMs, () =>
        httpOk(`${url}/health`),
      );
      return url;
    });
    const etcdMs = performance.now() - etcdStart;

    // --- kube-apiserver ---
    const apiStart = performance.now();
    let apiPort = 0;
    const apiServerArgs = (port: number): string[] => [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${path.join(dir, 'apiserver')}`,
      `--tls-cert-file=${files.apiServerCert}`,
      `--tls-private-key-file=${files.apiServerKey}`,
      `--client-ca-file=${files.caCert}`,
      `--service-account-key-file=${files.saPublicKey}`,
      `--service-account-signing-key-file=${files.saPrivateKey}`,
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      '--profiling=false',
      // Bounds graceful shutdown by 2 s instead of the 60 s request timeout, which
      // open watches (controllers, kwok, the operator under test) would otherwise use up.
      '--shutdown-send-retry-after=true',
      // Namespace deletion between tests goes through DeleteCollection per resource.
      '--delete-collection-workers=4',
    ];
    const admin: KubeconfigCredentials = {
      server: '',
      caPem: pki.ca.certPem,
      certPem: pki.clients.admin!.certPem,
      keyPem: pki.clients.admin!.keyPem,
    };
    const startApi = async (port: number): Promise<void> => {
      const api = launch('kube-apiserver', apiServerArgs(port));
      const url = `https://127.0.0.1:${port}`;
      await waitReady(api, `kube-apiserver /readyz on ${url}`, readyTimeoutMs, () =>
        httpsOk(`${url}/readyz`, { ca: admin.caPem, cert: admin.certPem, key: admin.keyPem }),
      );
    };
    await withFreePort('kube-apiserver', logger, async (port) => {
      await startApi(port);
      apiPort = port;
    });
    const apiServerMs = performance.now() - apiStart;
    const server = `https://127.0.0.1:${apiPort}`;
    const adminCreds: KubeconfigCredentials = { ...admin, server };
    const kubeconfigPath = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, renderKubeconfig(adminCreds), { mode: 0o600 });
    const componentKubeconfig = (name: string, key: keyof typeof pki.clients): string => {
      const file = path.join(dir, `${name}.kubeconfig`);
      const issued = pki.clients[key]!;
      writeFileSync(
        file,
        renderKubeconfig({ ...adminCreds, certPem: issued.certPem, keyPem: issued.keyPem }),
        { mode: 0o600 },
      );
      return file;
    };
    const rest = createRestClient(adminCreds, 'sidecar-monitor-test-harness');

    try {
      // --- controllers, scheduler, kwok: started together, checked together ---
      let controllersReady: Promise<void> = Promise.resolve();
      const readiness: Promise<void>[] = [];
      if (wantKcm) {
        const kubeconfig = componentKubeconfig('kube-controller-manager', 'controllerManager');
        const kcm = launch('kube-controller-manager', [
          `--kubeconfig=${kubeconfig}`,
          `--authentication-kubeconfig=${kubeconfig}`,
          `--authorization-kubeconfig=${kubeconfig}`,
          '--secure-port=0', // readiness is judged by its effects below
          '--leader-elect=false',
          `--service-account-private-key-file=${files.saPrivateKey}`,
          `--root-ca-file=${files.caCert}`,
          // Per-controller ServiceAccount identities, as kubeadm runs it: the bootstrap
          // RBAC for system:kube-controller-manager assumes this.
          '--use-service-account-credentials=true',
          `--controllers=${KCM_CONTROLLERS}`,
          '--allocate-node-cidrs=false',
          '--concurrent-namespace-syncs=4',
          '--profiling=false',
        ]);
        // The ServiceAccount controller creating `default` in `default` means its
        // informers synced and its controllers run.
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
        const kubeconfig = componentKubeconfig('kube-scheduler', 'scheduler');
        const schedulerPort = await freePort();
        const scheduler = launch('kube-scheduler', [
          `--kubeconfig=${kubeconfig}`,
          `--authentication-kubeconfig=${kubeconfig}`,
          `--authorization-kubeconfig=${kubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${schedulerPort}`,
          `--cert-dir=${path.join(dir, 'kube-scheduler')}`,
          '--leader-elect=false',
          '--profiling=false',
        ]);
        readiness.push(
          waitReady(
            scheduler,
            'kube-scheduler /readyz',
            readyTimeoutMs,
            () =>
              httpsOk(`https://127.0.0.1:${schedulerPort}/readyz`, { rejectUnauthorized: false }),
            logger,
          ),
        );
      }
      const fakeNodes = Array.from({ length: nodeCount }, (_, i) => `kwok-node-${i}`);
      if (wantKwok) {
        const kubeconfig = componentKubeconfig('kwok', 'kwok');
        const kwokHome = path.join(dir, 'kwok-home');
        mkdirSync(kwokHome);
        const kwok = launch(
          'kwok',
          [
            `--kubeconfig=${kubeconfig}`,
            '--manage-all-nodes=false',
            `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
            '--cidr=10.244.0.0/16',
            '--node-ip=10.0.0.1',
          ],
          // kwok always reads ~/.kwok/kwok.yaml when it exists: keep a person's out.
          { ...process.env, HOME: kwokHome },
        );
        for (const name of fakeNodes) {
          await rest.request('POST', '/api/v1/nodes', { body: fakeNode(name, kubeVersion) });
        }
        // Judged after the controllers run: the node lifecycle controller may still
        // add (and then remove) not-ready taints to Nodes it sees for the first time.
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
        async stopApiServer(): Promise<void> {
          const api = components.get('kube-apiserver');
          if (api === undefined || api.exit() !== undefined) return;
          components.delete('kube-apiserver');
          await api.stop();
          logger.info({ server }, 'kube-apiserver stopped');
        },
        async startApiServer(): Promise<void> {
          const api = components.get('kube-apiserver');
          if (api !== undefined && api.exit() === undefined) return;
          const t = performance.now();
          await startApi(apiPort);
          logger.info({ server, ms: Math.round(performance.now() - t) }, 'kube-apiserver started');
        },
        async stop(): Promise<void> {
          if (stopping) return;
          stopping = true;
          rest.close();
          // Clients first, so none of them logs a storm of errors about the API server;
          // etcd last.
          const order = [
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
      rest.close();
      throw error;
    }
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
