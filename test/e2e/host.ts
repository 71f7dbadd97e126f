// The host's view of a real pod's containers: their processes and cgroups, found the
// way the kubelet finds them (CRI), for checks no API shows (credentials of the running
// process, its mounts) and for faults injected from outside (kill, memory limit).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ClusterInfo } from '../cluster/cluster-info.ts';
import { realNode } from './support.ts';

const execFileAsync = promisify(execFile);

/** The host pid of a running container (its init process), from `crictl inspect`. */
export async function containerPid(info: ClusterInfo, containerId: string): Promise<number> {
  const crictl = info.binaries.crictl;
  if (crictl === undefined) throw new Error('no crictl among the binaries');
  const id = containerId.replace(/^containerd:\/\//, '');
  const { stdout } = await execFileAsync(crictl, [
    '--runtime-endpoint',
    `unix://${realNode(info).containerdSocket}`,
    'inspect',
    id,
  ]);
  const pid = (JSON.parse(stdout) as { info?: { pid?: number } }).info?.pid;
  if (typeof pid !== 'number' || pid <= 0) throw new Error(`no pid for container ${id}`);
  return pid;
}

export interface ProcessCredentials {
  readonly uid: readonly number[];
  readonly gid: readonly number[];
  readonly capEff: bigint;
  readonly capPrm: bigint;
  readonly capBnd: bigint;
  readonly noNewPrivs: boolean;
  /** 2: a seccomp filter is in force. */
  readonly seccomp: number;
}

export function credentials(pid: number): ProcessCredentials {
  const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
  const field = (name: string): string => {
    const match = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status);
    if (match === null) throw new Error(`no ${name} in /proc/${String(pid)}/status`);
    return match[1] ?? '';
  };
  const ids = (name: string): number[] => field(name).split(/\s+/).map(Number);
  return {
    uid: ids('Uid'),
    gid: ids('Gid'),
    capEff: BigInt(`0x${field('CapEff')}`),
    capPrm: BigInt(`0x${field('CapPrm')}`),
    capBnd: BigInt(`0x${field('CapBnd')}`),
    noNewPrivs: field('NoNewPrivs') === '1',
    seccomp: Number(field('Seccomp')),
  };
}

/** Mount options of the process's root filesystem, as it sees it. */
export function rootMountOptions(pid: number): string[] {
  const mountinfo = readFileSync(`/proc/${String(pid)}/mountinfo`, 'utf8');
  const root = mountinfo
    .split('\n')
    .map((line) => line.split(' '))
    .find((fields) => fields[4] === '/');
  if (root === undefined) throw new Error(`no root mount in /proc/${String(pid)}/mountinfo`);
  return (root[5] ?? '').split(',');
}

/** The host path of a cgroup v1 controller's directory for a process. */
export function cgroupDir(pid: number, controller: string): string {
  const line = readFileSync(`/proc/${String(pid)}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  const cgroupPath = line?.split(':').slice(2).join(':');
  if (cgroupPath === undefined) throw new Error(`pid ${String(pid)} has no ${controller} cgroup`);
  return path.join('/sys/fs/cgroup', controller, cgroupPath);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
