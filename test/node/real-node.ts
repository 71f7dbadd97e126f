// A control plane with one real node: kubelet + containerd + runc + the CNI bridge, on
// this machine, as root. Pods are real processes in real namespaces and cgroups, their
// images imported from local OCI archives (nothing is ever pulled).
//
// Order: record the host, make the bridge (the API server binds to the host's address
// on it), start the control plane, add the firewall and Service rules, start containerd,
// import the images, start the kubelet, wait for the Node to be Ready. stop() undoes it
// all in reverse and returns how the host differs from what was recorded (nothing, when
// all went well). A run killed outright leaves its directory: the next start finds the
// owner gone and cleans up after it from what that directory recorded.
import { execFile, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { Binaries } from '../cluster/binaries.ts';
import { processAlive } from '../cluster/cluster-dir.ts';
import { startComponent, supportsParentDeathSignal, type Component } from '../cluster/component.ts';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { nodesReady } from '../cluster/fake-nodes.ts';
import { freePort, waitReady } from '../cluster/readiness.ts';
import { createRestClient } from '../cluster/rest.ts';
import { containerdConfig, containerdPaths, ctr, type ContainerdPaths } from './containerd.ts';
import {
  diffHostState,
  loadHostState,
  restoreHost,
  saveHostState,
  snapshotHost,
  unescapeMount,
  type HostState,
} from './host-state.ts';
import { kubeletArgs, kubeletConfig, kubeletPaths } from './kubelet.ts';
import {
  addFirewall,
  cniConfig,
  createBridge,
  deleteBridge,
  POD_NETWORK,
  removeFirewall,
  type PodNetwork,
} from './network.ts';

const execFileAsync = promisify(execFile);

export const NODE_NAME = 'real-node-0';
export const PAUSE_IMAGE = 'localhost/pause:3.10';
const DIR_PREFIX = 'smon-node-';
const CGROUP_V1 = '/sys/fs/cgroup';

export interface ImageArchive {
  /** e.g. localhost/sidecar-monitor:dev */
  readonly name: string;
  /** OCI image-layout tar. */
  readonly archive: string;
}

export interface RealNodeOptions {
  readonly binaries: Binaries;
  readonly logger: Logger;
  /** Imported before the kubelet starts; must include PAUSE_IMAGE. */
  readonly images: readonly ImageArchive[];
  /** kwok Nodes beside the real one (tainted NoSchedule). Default 0. */
  readonly fakeNodes?: number;
  readonly readyTimeoutMs?: number;
  readonly network?: PodNetwork;
  /** How long to wait for another run's node on this machine to finish (default 45 min). */
  readonly lockTimeoutMs?: number;
}

export interface RealNodeCluster {
  readonly controlPlane: ControlPlane;
  readonly nodeName: string;
  readonly nodeDir: string;
  readonly network: PodNetwork;
  /** Top cgroup of the node (the same name in every hierarchy). */
  readonly cgroupRoot: string;
  readonly containerdSocket: string;
  /** Runs crictl against the node's containerd. */
  crictl(args: readonly string[]): Promise<string>;
  /** Imports more images (e.g. built after start). */
  importImages(images: readonly ImageArchive[]): Promise<void>;
  /** Stops everything; resolves with how the host differs from before (empty: as found). */
  stop(): Promise<string[]>;
  /** Synchronous kill and cleanup, for process 'exit' handlers. */
  destroyNow(): void;
}

/** What the directory records so that a later run can clean up after a killed one. */
interface NodeRecord {
  readonly owner: number;
  readonly cgroupRoot: string;
  readonly network: PodNetwork;
  readonly containerd: ContainerdPaths;
}

export async function startRealNodeCluster(options: RealNodeOptions): Promise<RealNodeCluster> {
  const { logger, binaries } = options;
  const network = options.network ?? POD_NETWORK;
  const readyTimeoutMs = options.readyTimeoutMs ?? 180_000;
  const binDir = path.dirname(binaries.paths['kube-apiserver']);
  const needed = ['kubelet', 'containerd', 'containerd-shim-runc-v2', 'runc', 'ctr', 'crictl'];
  const missing = needed.filter((name) => !existsSync(path.join(binDir, name)));
  if (missing.length > 0) {
    throw new Error(
      `a real node needs ${missing.join(', ')} in ${binDir}: run test/cluster/build-binaries.sh`,
    );
  }
  if (process.getuid?.() !== 0)
    throw new Error('a real node needs root (namespaces, cgroups, iptables)');
  for (const image of [PAUSE_IMAGE]) {
    if (!options.images.some((i) => i.name === image)) throw new Error(`no archive for ${image}`);
  }

  // One node per machine: the kubelet's fixed paths, the bridge and the Service rule
  // are the machine's. A second run waits for the first to finish.
  const releaseLock = await acquireNodeLock(logger, options.lockTimeoutMs ?? 45 * 60_000);
  sweepStaleNodes(logger);
  const before = snapshotHost();
  const nodeDir = mkdtempSync(path.join('/tmp', DIR_PREFIX));
  const id = path.basename(nodeDir).slice(DIR_PREFIX.length);
  const cgroupRoot = `/smon-node-${id}`;
  const paths = containerdPaths(nodeDir, binDir);
  const record: NodeRecord = { owner: process.pid, cgroupRoot, network, containerd: paths };
  saveHostState(path.join(nodeDir, 'host-before.json'), before);
  writeFileSync(path.join(nodeDir, 'node.json'), JSON.stringify(record, null, 2));

  const parentDeathSignal = supportsParentDeathSignal();
  const components: Component[] = [];
  let controlPlane: ControlPlane | undefined;
  let stopped = false;

  const destroyNow = (): void => {
    if (stopped) return;
    stopped = true;
    for (const component of components.reverse()) component.killNow();
    cleanupNode(nodeDir, record, logger);
    controlPlane?.destroyNow();
    finishCleanup(nodeDir, record, before, logger);
    releaseLock();
  };

  try {
    createCgroupRoot(cgroupRoot);
    createBridge(network);
    controlPlane = await startControlPlane({
      binaries,
      logger,
      kwok: (options.fakeNodes ?? 0) > 0,
      fakeNodes: options.fakeNodes ?? 0,
      realNode: { address: network.gateway, nodeName: NODE_NAME, serviceIp: network.serviceIp },
      readyTimeoutMs,
    });
    const identity = controlPlane.nodeIdentity;
    if (identity === undefined) throw new Error('the control plane made no node identity');
    addFirewall(network, Number(new URL(controlPlane.server).port));

    mkdirSync(paths.cniConfDir, { recursive: true });
    writeFileSync(
      path.join(paths.cniConfDir, '10-sidecar-monitor.conflist'),
      JSON.stringify(cniConfig(network, path.join(nodeDir, 'cni', 'ipam')), null, 2),
    );
    const containerdToml = path.join(nodeDir, 'containerd.toml');
    writeFileSync(containerdToml, containerdConfig(paths, PAUSE_IMAGE));
    const containerd = startComponent(
      {
        name: 'containerd',
        command: path.join(binDir, 'containerd'),
        args: ['--config', containerdToml],
        logFile: path.join(nodeDir, 'containerd.log'),
        // The shim is found on PATH; the host's own (if any) must not be the one.
        env: { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}` },
      },
      { logger, parentDeathSignal },
    );
    components.push(containerd);
    const images = ctr(binDir, paths.socket);
    await waitReady(containerd, `containerd on ${paths.socket}`, readyTimeoutMs, async () => {
      if (!existsSync(paths.socket)) return false;
      await images.images();
      return true;
    });
    for (const image of options.images) await images.importImage(image.archive, image.name);

    const settings = {
      nodeName: NODE_NAME,
      nodeIp: network.gateway,
      nodeDir,
      port: await freePort(),
      healthzPort: await freePort(),
      containerdSocket: paths.socket,
      cgroupRoot,
      caCertPath: identity.caCertPath,
      servingCertPath: identity.servingCertPath,
      servingKeyPath: identity.servingKeyPath,
      kubeconfigPath: identity.kubeconfigPath,
    };
    const kubeletFiles = kubeletPaths(nodeDir);
    writeFileSync(kubeletFiles.config, kubeletConfig(settings));
    mkdirSync(kubeletFiles.rootDir, { recursive: true });
    const kubelet = startComponent(
      {
        name: 'kubelet',
        command: path.join(binDir, 'kubelet'),
        args: kubeletArgs(settings),
        logFile: path.join(nodeDir, 'kubelet.log'),
        env: { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}` },
      },
      { logger, parentDeathSignal },
    );
    components.push(kubelet);
    const rest = createRestClient(controlPlane.admin, 'sidecar-monitor-test-harness');
    try {
      await waitReady(kubelet, `Node ${NODE_NAME} Ready`, readyTimeoutMs, (note) =>
        nodesReady(rest, [NODE_NAME], note),
      );
    } finally {
      rest.close();
    }
    logger.info({ node: NODE_NAME, nodeDir }, 'real node ready');
  } catch (error) {
    const logs = components
      .map((c) => `--- ${c.name} (last lines of its log) ---\n${c.logTail(25)}`)
      .join('\n');
    destroyNow();
    throw new Error(`starting the real node failed: ${(error as Error).message}\n${logs}`, {
      cause: error,
    });
  }

  const cp = controlPlane;
  const crictl = async (args: readonly string[]): Promise<string> => {
    const { stdout } = await execFileAsync(
      path.join(binDir, 'crictl'),
      ['--runtime-endpoint', `unix://${paths.socket}`, '--timeout', '30s', ...args],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout;
  };
  return {
    controlPlane: cp,
    nodeName: NODE_NAME,
    nodeDir,
    network,
    cgroupRoot,
    containerdSocket: paths.socket,
    crictl,
    async importImages(more) {
      const images = ctr(binDir, paths.socket);
      for (const image of more) await images.importImage(image.archive, image.name);
    },
    async stop(): Promise<string[]> {
      if (stopped) return [];
      const [containerd, kubelet] = components;
      // The kubelet first, so it does not start again what CRI is told to remove; then
      // every sandbox through CRI, which runs the CNI teardown (veths, IPAM).
      await kubelet?.stop(10_000);
      try {
        await crictl(['rmp', '--all', '--force']);
      } catch (error) {
        logger.warn({ err: error }, 'crictl rmp failed; killing what is left');
      }
      await containerd?.stop(10_000);
      stopped = true;
      cleanupNode(nodeDir, record, logger);
      await cp.stop();
      finishCleanup(nodeDir, record, before, logger);
      releaseLock();
      const diff = diffHostState(before, snapshotHost());
      if (diff.length > 0) logger.error({ diff }, 'the host differs from before the node');
      return diff;
    },
    destroyNow,
  };
}

function createCgroupRoot(cgroupRoot: string): void {
  for (const hierarchy of v1Hierarchies()) {
    const dir = path.join(CGROUP_V1, hierarchy, cgroupRoot);
    mkdirSync(dir, { recursive: true });
    if (hierarchy === 'cpuset') {
      // A new cpuset has no CPUs or memory nodes: nothing could run in it.
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        writeFileSync(
          path.join(dir, file),
          readFileSync(path.join(CGROUP_V1, hierarchy, file), 'utf8'),
        );
      }
    }
  }
}

function v1Hierarchies(): string[] {
  try {
    return readdirSync(CGROUP_V1).filter((name) =>
      existsSync(path.join(CGROUP_V1, name, 'cgroup.procs')),
    );
  } catch {
    return [];
  }
}

/**
 * After the node's processes were asked to stop: kill what is left (shims and container
 * processes), unmount everything under the node directory, remove the node's cgroups.
 */
function cleanupNode(nodeDir: string, record: NodeRecord, logger: Logger): void {
  killProcessesMentioning(nodeDir, logger);
  for (const hierarchy of v1Hierarchies()) {
    killCgroupTree(path.join(CGROUP_V1, hierarchy, record.cgroupRoot));
  }
  unmountUnder(nodeDir, logger);
  for (const hierarchy of v1Hierarchies()) {
    removeCgroupTree(path.join(CGROUP_V1, hierarchy, record.cgroupRoot), logger);
  }
}

/** Network, host settings and the directory: after the control plane has stopped. */
function finishCleanup(
  nodeDir: string,
  record: NodeRecord,
  before: HostState,
  logger: Logger,
): void {
  removeFirewall();
  deleteBridge(record.network);
  const done = restoreHost(before);
  if (done.length > 0) logger.info({ restored: done }, 'host settings restored');
  unmountUnder(nodeDir, logger);
  rmSync(nodeDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

/** containerd shims outlive containerd; they carry the node directory in their args. */
function killProcessesMentioning(nodeDir: string, logger: Logger): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes(nodeDir)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
        logger.debug({ pid: entry, cmdline: cmdline.replaceAll('\0', ' ') }, 'killed');
      } catch {
        // gone already
      }
    }
  }
}

function killCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) killCgroupTree(path.join(dir, entry.name));
  }
  let pids: string[] = [];
  try {
    pids = readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

function removeCgroupTree(dir: string, logger: Logger): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name), logger);
  }
  // A cgroup whose last process is still exiting is busy for a moment.
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      if (attempt >= 50) {
        logger.warn({ dir, err: error }, 'could not remove a cgroup of the node');
        return;
      }
      execFileSync('sleep', ['0.1']);
    }
  }
}

function unmountUnder(dir: string, logger: Logger): void {
  const prefix = `${dir}/`;
  for (let pass = 0; pass < 5; pass++) {
    const targets = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => unescapeMount(line.split(' ')[4] ?? ''))
      .filter((mount) => mount === dir || mount.startsWith(prefix))
      .sort((a, b) => b.length - a.length);
    if (targets.length === 0) return;
    for (const target of targets) {
      try {
        execFileSync('umount', [target], { stdio: 'ignore' });
      } catch {
        try {
          execFileSync('umount', ['-l', target], { stdio: 'ignore' });
        } catch (error) {
          logger.warn({ target, err: error }, 'could not unmount');
        }
      }
    }
  }
}

const LOCK_DIR = '/tmp/smon-node.lock';

/** mkdir is atomic: the directory is the lock, its `owner` file says whose. */
async function acquireNodeLock(logger: Logger, timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(path.join(LOCK_DIR, 'owner'), String(process.pid));
      return () => {
        rmSync(LOCK_DIR, { recursive: true, force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(path.join(LOCK_DIR, 'owner'), 'utf8'));
    } catch {
      // being written this instant
    }
    if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
      rmSync(LOCK_DIR, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`another run (pid ${String(owner)}) holds the real node of this machine`);
    }
    if (!told) {
      logger.warn({ owner }, 'waiting for the real node of another run on this machine');
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}

/** Cleans up after nodes whose owner died without stopping them. */
function sweepStaleNodes(logger: Logger): void {
  for (const name of readdirSync('/tmp').filter((n) => n.startsWith(DIR_PREFIX))) {
    const nodeDir = path.join('/tmp', name);
    let record: NodeRecord;
    let before: HostState;
    try {
      record = JSON.parse(readFileSync(path.join(nodeDir, 'node.json'), 'utf8')) as NodeRecord;
      before = loadHostState(path.join(nodeDir, 'host-before.json'));
    } catch {
      continue; // being created right now, or not ours
    }
    if (processAlive(record.owner)) continue;
    logger.warn({ nodeDir, owner: record.owner }, 'cleaning up after a node left by a dead run');
    cleanupNode(nodeDir, record, logger);
    finishCleanup(nodeDir, record, before, logger);
  }
}
