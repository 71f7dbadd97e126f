// A Kubernetes pod simulated with the kernel features a container runtime uses, so the
// exporter meets the same /proc and cgroup views as in a real pod — no Docker, no kubelet:
//
// - one PID namespace shared by every container (shareProcessNamespace: true), whose PID 1
//   is a pause-like process;
// - per container: its own mount namespace and its own cgroup (cgroupfs, every v1 controller
//   this host mounts, plus a cgroup2 directory for PSI on hybrid hosts), seen as runc shows
//   it: on a host with cgroup v1 hierarchies, no cgroup namespace (/proc/<pid>/cgroup shows
//   host paths) and each of the container's own directories bind-mounted read-only at
//   /sys/fs/cgroup/<controller> — what a real kubelet + containerd + runc node does here
//   (test/e2e/simulated-vs-real.test.ts compares the two); on a cgroup v2 host, a private
//   cgroup namespace with the container's cgroup mounted read-only, as runc does there
//   (`cgroupNamespace: 'private'` gives that layout on any host);
// - every process runs as a non-root uid/gid with no capabilities and no_new_privs (setpriv),
//   so permission rules are the real ones even though the harness is root.
//
// Used by the exporter tests, the demo (`npm start` as root) and the dashboard tests.
//
// Cleanup is layered: stop() kills and removes everything; if the owning process dies
// instead, the pause process reads EOF on its stdin pipe and exits, and the kernel kills the
// whole PID namespace; cgroup directories whose owner died are swept by the next pod.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, accessSync } from 'node:fs';
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ParseError } from '../../exporter/parse/errors.ts';
import { parseCgroupMounts, type CgroupMount } from '../../exporter/parse/mountinfo.ts';
import {
  controllerPath,
  parseProcCgroup,
  unifiedPath,
  type CgroupMembership,
} from '../../exporter/parse/proc-cgroup.ts';

/** The uid/gid Kubernetes' pause image runs as. */
export const PAUSE_UID = 65535;
const WANTED = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'];
const POD_PREFIX = 'sidecar-monitor-pod-';
const OUTPUT_LIMIT = 256 * 1024;

export interface ContainerLimits {
  memoryBytes?: number;
  cpuCores?: number;
  pids?: number;
}

export interface ContainerSpec {
  /** Kubernetes-style container name; also the cgroup directory name. */
  name: string;
  /** argv; argv[0] is looked up in the container's PATH. */
  command: string[];
  env?: Record<string, string>;
  uid: number;
  gid: number;
  cwd?: string;
  limits?: ContainerLimits;
}

export interface PodProcess {
  container: string;
  /** The process as the host sees it. */
  hostPid: number;
  /** The process as the pod sees it. */
  podPid: number;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** stdout and stderr so far (the last 256 KiB). */
  output(): string;
  /** Waits until stdout/stderr match; rejects on timeout or exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  kill(signal?: NodeJS.Signals): void;
}

export interface SimulatedPod {
  readonly id: string;
  /** Host pid of the pod's PID 1 (the pause process). */
  readonly pausePid: number;
  /** Starts a container: a new cgroup, mount and cgroup namespace in the pod. */
  start(spec: ContainerSpec): Promise<PodProcess>;
  /** Starts one more process inside a running container (like `kubectl exec`). */
  exec(
    container: string,
    command: string[],
    options?: { env?: Record<string, string> },
  ): Promise<PodProcess>;
  /** The container's cgroup directory in one hierarchy ('memory', 'cpu', …, or 'unified'). */
  cgroupDir(container: string, hierarchy: string): string | undefined;
  /** Kills every process of the pod and removes its cgroups. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Why this machine cannot run a simulated pod, or undefined when it can. */
export function podSupport(): string | undefined {
  if (process.getuid?.() !== 0) return 'simulated pods need root (namespaces and cgroupfs)';
  for (const tool of ['unshare', 'nsenter', 'setpriv', 'mount']) {
    const found = (process.env.PATH ?? '').split(delimiter).some((dir) => {
      try {
        accessSync(join(dir, tool), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (!found) return `${tool} (util-linux) is not installed`;
  }
  return undefined;
}

interface Hierarchy {
  /** 'unified' or the v1 controllers joined by ',' (as in the mount options). */
  key: string;
  version: 1 | 2;
  /** Directory under which pods are created: mount point + this process's own cgroup. */
  parent: string;
}

async function hierarchies(): Promise<Hierarchy[]> {
  const mounts = parseCgroupMounts(await readFile('/proc/self/mountinfo', 'utf8'));
  const mine = parseProcCgroup(await readFile('/proc/self/cgroup', 'utf8'));
  if (mounts instanceof ParseError) throw mounts;
  if (mine instanceof ParseError) throw mine;
  const out: Hierarchy[] = [];
  const seen = new Set<string>();
  for (const m of mounts) {
    const key = m.version === 2 ? 'unified' : m.controllers.join(',');
    if (seen.has(key) || m.root !== '/') continue;
    const own = ownPath(m, mine);
    if (own === undefined) continue;
    if (m.version === 1 && !m.controllers.some((c) => WANTED.includes(c))) continue;
    seen.add(key);
    out.push({ key, version: m.version, parent: `${m.mountPoint}${own === '/' ? '' : own}` });
  }
  return out;
}

function ownPath(mount: CgroupMount, mine: CgroupMembership[]): string | undefined {
  if (mount.version === 2) return unifiedPath(mine);
  const first = mount.controllers[0];
  return first === undefined ? undefined : controllerPath(mine, first);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function killAndRemove(dir: string): Promise<void> {
  for (const name of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (name.isDirectory()) await killAndRemove(join(dir, name.name));
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') throw err;
      await sleep(50);
    }
  }
  throw new Error(`cannot remove cgroup ${dir}: processes keep running in it`);
}

/** Removes pods left behind by test processes that died without cleaning up. */
export async function sweepStalePods(): Promise<void> {
  for (const h of await hierarchies()) {
    for (const name of await readdir(h.parent).catch(() => [])) {
      const owner = Number(name.slice(POD_PREFIX.length).split('-')[0]);
      if (name.startsWith(POD_PREFIX) && Number.isInteger(owner) && !alive(owner))
        await killAndRemove(join(h.parent, name));
    }
  }
}

/** Host pid of the only child of `pid` (nsenter and unshare fork exactly one). */
async function childOf(pid: number, exited: () => boolean): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    const child = Number(text.trim().split(' ')[0]);
    if (child > 0) return child;
    if (exited()) break;
    await sleep(10);
  }
  throw new Error(`process ${pid} started no child`);
}

async function podPidOf(hostPid: number): Promise<number> {
  const status = await readFile(`/proc/${hostPid}/status`, 'utf8');
  const nspid = /^NSpid:\s+(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/);
  return Number(nspid?.at(-1));
}

function tracked(
  container: string,
  child: ChildProcess,
  hostPid: number,
  podPid: number,
  exited: Promise<number | null>,
  buffer: { text: string },
): PodProcess {
  return {
    container,
    hostPid,
    podPid,
    exited,
    output: () => buffer.text,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(buffer.text);
          if (m) {
            done();
            resolve(m);
          }
        };
        const onExit = () => {
          check();
          done();
          reject(
            new Error(
              `${container} exited before printing ${String(pattern)}:\n${buffer.text.slice(-2000)}`,
            ),
          );
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `${container}: no ${String(pattern)} within ${timeoutMs} ms:\n${buffer.text.slice(-2000)}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          child.stdout?.off('data', check);
          child.stderr?.off('data', check);
          child.off('exit', onExit);
        };
        child.stdout?.on('data', check);
        child.stderr?.on('data', check);
        child.once('exit', onExit);
        check();
        if (child.exitCode !== null || child.signalCode !== null) onExit();
      }),
    kill: (signal = 'SIGTERM') => {
      try {
        process.kill(hostPid, signal);
      } catch {
        // already gone
      }
    },
  };
}

function capture(child: ChildProcess): { text: string } {
  const buffer = { text: '' };
  const append = (chunk: Buffer) => {
    buffer.text = (buffer.text + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return buffer;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else
      child.once('exit', (code) => {
        resolve(code);
      });
  });
}

const SETPRIV =
  'exec setpriv --reuid "$uid" --regid "$gid" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- env -i "$@"';

/**
 * How a container sees its cgroups: 'host' is runc on a cgroup v1 host (host cgroup
 * namespace, its own directories bound read-only), 'private' is runc with a cgroup
 * namespace (cgroup v2 hosts), where a cgroupfs mount shows the container's cgroup as root.
 */
export type CgroupNamespaceMode = 'host' | 'private';

/** runc's choice for the host's layout: a private cgroup namespace only on pure v2 hosts. */
function defaultCgroupNamespace(hs: readonly Hierarchy[]): CgroupNamespaceMode {
  return hs.some((h) => h.version === 1) ? 'host' : 'private';
}

const mountName = (h: Hierarchy): string => (h.version === 2 ? 'unified' : h.key);

/**
 * Runs in the container's new mount namespace, and in 'private' mode its new cgroup
 * namespace (as root, before dropping to the container's uid): gives it a read-only
 * /sys/fs/cgroup as runc does. In 'host' mode the container's own directories are bound
 * on a staging tmpfs (the host's cgroupfs is still visible there), which then moves over
 * /sys/fs/cgroup.
 */
function containerScript(
  hs: readonly Hierarchy[],
  mode: CgroupNamespaceMode,
  ownDirs: ReadonlyMap<string, string>,
): string {
  const flags = 'nosuid,nodev,noexec';
  if (mode === 'private') {
    const mounts = hs.map((h) =>
      h.version === 2
        ? `mkdir /sys/fs/cgroup/unified && mount -t cgroup2 -o ro,${flags} cgroup2 /sys/fs/cgroup/unified`
        : `mkdir /sys/fs/cgroup/${h.key} && mount -t cgroup -o ro,${flags},${h.key} cgroup /sys/fs/cgroup/${h.key}`,
    );
    return [
      'set -e',
      `mount -t tmpfs -o mode=755,size=64k,${flags} tmpfs /sys/fs/cgroup`,
      ...mounts,
      'uid=$1 gid=$2 cwd=$3; shift 3',
      'cd "$cwd"',
      SETPRIV,
    ].join('\n');
  }
  const binds = hs.flatMap((h) => {
    const dir = ownDirs.get(h.key);
    // runc on a hybrid host puts the container in a cgroup2 directory of its own but
    // mounts only the v1 hierarchies in the container (seen on a real node here).
    if (dir === undefined || h.version === 2) return [];
    const at = `"$stage/${mountName(h)}"`;
    return [
      `mkdir ${at}`,
      `mount --bind '${dir}' ${at}`,
      `mount -o remount,bind,ro,${flags} ${at}`,
    ];
  });
  return [
    'set -e',
    'stage=$(mktemp -d /tmp/smon-cgroup.XXXXXX)',
    `mount -t tmpfs -o mode=755,size=64k,${flags} tmpfs "$stage"`,
    ...binds,
    'mount --move "$stage" /sys/fs/cgroup',
    'rmdir "$stage"',
    'uid=$1 gid=$2 cwd=$3; shift 3',
    'cd "$cwd"',
    SETPRIV,
  ].join('\n');
}

/** Moves itself into the given cgroup.procs files, then runs the rest in new namespaces. */
const JOIN_CGROUPS = [
  'set -e',
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do echo $$ > "$1"; shift; n=$((n-1)); done',
].join('\n');

export async function createSimulatedPod(
  options: { name?: string; cgroupNamespace?: CgroupNamespaceMode } = {},
): Promise<SimulatedPod> {
  const why = podSupport();
  if (why) throw new Error(why);
  await sweepStalePods();
  const hs = await hierarchies();
  if (!hs.some((h) => h.key.split(',').includes('memory') || h.version === 2))
    throw new Error('no usable memory cgroup hierarchy on this host');
  const cgroupNamespace = options.cgroupNamespace ?? defaultCgroupNamespace(hs);
  const id = `${POD_PREFIX}${process.pid}-${options.name ?? randomBytes(3).toString('hex')}`;
  const dirs = new Map<string, Map<string, string>>();
  const processes: { child: ChildProcess; exited: Promise<number | null> }[] = [];
  let stopped = false;

  const makeCgroups = async (container: string, limits: ContainerLimits = {}) => {
    const byKey = new Map<string, string>();
    for (const h of hs) {
      const dir = join(h.parent, id, container);
      await mkdir(dir, { recursive: true });
      byKey.set(h.key, dir);
      const controllers = h.key.split(',');
      if (limits.memoryBytes !== undefined && controllers.includes('memory'))
        await writeFile(join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      if (limits.cpuCores !== undefined && controllers.includes('cpu'))
        await writeFile(
          join(dir, 'cpu.cfs_quota_us'),
          String(Math.round(limits.cpuCores * 100_000)),
        );
      if (limits.pids !== undefined && controllers.includes('pids'))
        await writeFile(join(dir, 'pids.max'), String(limits.pids));
    }
    dirs.set(container, byKey);
    return [...byKey.values()].map((d) => join(d, 'cgroup.procs'));
  };

  // PID 1: joins its cgroups, drops to the pause uid and blocks on stdin. When the pipe closes
  // (stop(), or this process dying) it exits, and the kernel kills the whole namespace.
  const pauseProcs = await makeCgroups('pause');
  const unshare = spawn(
    'unshare',
    [
      '--pid',
      '--fork',
      '--mount-proc',
      '--kill-child',
      '--',
      'sh',
      '-c',
      `${JOIN_CGROUPS}\nexec setpriv --reuid ${PAUSE_UID} --regid ${PAUSE_UID} --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- cat`,
      'pause',
      String(pauseProcs.length),
      ...pauseProcs,
    ],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  const unshareExited = exitOf(unshare);
  processes.push({ child: unshare, exited: unshareExited });
  let pausePid: number;
  try {
    pausePid = await childOf(unshare.pid ?? -1, () => unshare.exitCode !== null);
  } catch (err) {
    unshare.stdin.end();
    await unshareExited;
    for (const h of hs) await killAndRemove(join(h.parent, id)).catch(() => undefined);
    throw err;
  }

  const launch = async (
    container: string,
    nsenterArgs: string[],
    script: string,
    scriptArgs: string[],
  ): Promise<PodProcess> => {
    const child = spawn(
      'nsenter',
      [...nsenterArgs, '--', 'sh', '-c', script, container, ...scriptArgs],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const buffer = capture(child);
    const exited = exitOf(child);
    processes.push({ child, exited });
    const hostPid = await childOf(child.pid ?? -1, () => child.exitCode !== null).catch(
      (err: unknown) => {
        throw new Error(`${container} did not start: ${buffer.text}`, { cause: err });
      },
    );
    return tracked(
      container,
      child,
      hostPid,
      await podPidOf(hostPid).catch(() => -1),
      exited,
      buffer,
    );
  };

  const envArgs = (env: Record<string, string> = {}) => {
    const merged = {
      PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: '/tmp',
      ...env,
    };
    return Object.entries(merged).map(([k, v]) => `${k}=${v}`);
  };

  const pod: SimulatedPod = {
    id,
    pausePid,
    async start(spec) {
      if (stopped) throw new Error('the pod is stopped');
      if (dirs.has(spec.name)) throw new Error(`container ${spec.name} already exists`);
      const procs = await makeCgroups(spec.name, spec.limits);
      const cgroupFlag = cgroupNamespace === 'private' ? ' --cgroup' : '';
      return launch(
        spec.name,
        ['--target', String(pausePid), '--pid', '--mount'],
        `${JOIN_CGROUPS}\ninner=$1; shift\nexec unshare --mount${cgroupFlag} --propagation private -- sh -c "$inner" "$0" "$@"`,
        [
          String(procs.length),
          ...procs,
          containerScript(hs, cgroupNamespace, dirs.get(spec.name) ?? new Map()),
          String(spec.uid),
          String(spec.gid),
          spec.cwd ?? '/',
          ...envArgs(spec.env),
          ...spec.command,
        ],
      );
    },
    async exec(container, command, execOptions = {}) {
      const byKey = dirs.get(container);
      if (!byKey) throw new Error(`no container ${container}`);
      const anyProc = await readFile(join([...byKey.values()][0] ?? '', 'cgroup.procs'), 'utf8');
      const inside = Number(anyProc.split('\n')[0]);
      if (!(inside > 0)) throw new Error(`container ${container} has no running process`);
      const status = await readFile(`/proc/${inside}/status`, 'utf8');
      const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? '65534';
      const gid = /^Gid:\s+(\d+)/m.exec(status)?.[1] ?? '65534';
      const procs = [...byKey.values()].map((d) => join(d, 'cgroup.procs'));
      // Join the cgroups while the host's cgroupfs is still visible, then the container's
      // mount and cgroup namespaces (its own /sys/fs/cgroup is read-only).
      return launch(
        container,
        ['--target', String(inside), '--pid'],
        [
          JOIN_CGROUPS,
          'target=$1 uid=$2 gid=$3; shift 3',
          `exec nsenter --target "$target" --mount${cgroupNamespace === 'private' ? ' --cgroup' : ''} -- setpriv --reuid "$uid" --regid "$gid" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- env -i "$@"`,
        ].join('\n'),
        [
          String(procs.length),
          ...procs,
          String(inside),
          uid,
          gid,
          ...envArgs(execOptions.env),
          ...command,
        ],
      );
    },
    cgroupDir(container, hierarchy) {
      const byKey = dirs.get(container);
      if (!byKey) return undefined;
      for (const [key, dir] of byKey)
        if (key === hierarchy || key.split(',').includes(hierarchy)) return dir;
      return undefined;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      unshare.stdin.end();
      try {
        process.kill(pausePid, 'SIGKILL');
      } catch {
        // already gone
      }
      // An unref'd bound: a pending timer must not keep the caller's process alive.
      await Promise.race([
        Promise.all(processes.map((p) => p.exited)),
        sleep(10_000, undefined, { ref: false }),
      ]);
      for (const h of hs) await killAndRemove(join(h.parent, id));
    },
    [Symbol.asyncDispose]() {
      return pod.stop();
    },
  };
  return pod;
}
