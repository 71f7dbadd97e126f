// Where a container's cgroup files are, seen from the exporter. The kernel shows both a
// process's cgroup path (/proc/<pid>/cgroup) and a mount's root (mountinfo) relative to the
// *reader's* cgroup namespace, so "path below mount root" works the same with and without
// cgroup namespaces: inside a container that has its own namespace, the container's mount
// root is its own cgroup; without one, the mount root is the host's and the path is long.

import { controllerPath, unifiedPath, type CgroupMembership } from '../parse/proc-cgroup.ts';
import type { CgroupMount } from '../parse/mountinfo.ts';

export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export interface CgroupLocation {
  /** 2: everything from `unified`. 1: controllers from `v1`, PSI from `unified` (hybrid hosts). */
  version: 1 | 2;
  unified?: string;
  v1: Partial<Record<V1Controller, string>>;
}

/** One way to reach cgroupfs: a mount namespace's cgroup mounts and the path prefix to it. */
export interface CgroupView {
  /** e.g. `/proc/<pid>/root` for the target's own mounts, '' for the exporter's. */
  prefix: string;
  mounts: readonly CgroupMount[];
}

/** The part of `path` below `root`, or undefined when the mount does not show that cgroup. */
export function below(path: string, root: string): string | undefined {
  if (root === '/') return path;
  if (path === root) return '';
  if (path.startsWith(`${root}/`)) return path.slice(root.length);
  return undefined;
}

function dirFor(view: CgroupView, path: string | undefined, mount: CgroupMount | undefined) {
  // The root cgroup is the whole host, never a container: no values beat host-wide ones.
  if (path === undefined || path === '/' || mount === undefined) return undefined;
  const rest = below(path, mount.root);
  if (rest === undefined) return undefined;
  const dir = `${view.prefix}${mount.mountPoint}${rest}`;
  return dir.length > 1 && dir.endsWith('/') ? dir.slice(0, -1) : dir;
}

/** The container's cgroup directories in one view, or undefined if the view shows none. */
export function locateCgroup(
  memberships: readonly CgroupMembership[],
  view: CgroupView,
): CgroupLocation | undefined {
  const v2mount = view.mounts.find((m) => m.version === 2);
  const unified = dirFor(view, unifiedPath(memberships), v2mount);
  const v1: Partial<Record<V1Controller, string>> = {};
  let anyV1 = false;
  for (const controller of V1_CONTROLLERS) {
    const mount = view.mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
    const dir = dirFor(view, controllerPath(memberships, controller), mount);
    if (dir !== undefined) {
      v1[controller] = dir;
      anyV1 = true;
    }
  }
  // A v1 controller mounted in this view means the controllers live in v1 (a cgroup2 mount
  // beside them is the hybrid "unified" hierarchy without controllers, useful for PSI only).
  const hasV1Mounts = view.mounts.some((m) => m.version === 1 && m.controllers.length > 0);
  if (anyV1 || hasV1Mounts) {
    if (!anyV1) return undefined;
    return unified === undefined ? { version: 1, v1 } : { version: 1, unified, v1 };
  }
  return unified === undefined ? undefined : { version: 2, unified, v1 };
}

/** Files to read for a location, as [key, path]; the key is the interface file's name. */
export function cgroupFiles(location: CgroupLocation): [string, string][] {
  const files: [string, string][] = [];
  const add = (dir: string | undefined, names: readonly string[]) => {
    if (dir !== undefined) for (const name of names) files.push([name, `${dir}/${name}`]);
  };
  const psi = ['cpu.pressure', 'memory.pressure', 'io.pressure'];
  if (location.version === 2) {
    add(location.unified, [
      'cpu.stat',
      'cpu.max',
      'memory.current',
      'memory.stat',
      'memory.max',
      'memory.swap.current',
      'memory.events',
      'io.stat',
      'pids.current',
      'pids.max',
      ...psi,
    ]);
    return files;
  }
  const { v1 } = location;
  add(v1.cpuacct, ['cpuacct.usage', 'cpuacct.stat']);
  add(v1.cpu, ['cpu.stat', 'cpu.cfs_quota_us', 'cpu.cfs_period_us']);
  add(v1.memory, [
    'memory.usage_in_bytes',
    'memory.stat',
    'memory.limit_in_bytes',
    'memory.oom_control',
  ]);
  add(v1.blkio, [
    'blkio.throttle.io_service_bytes_recursive',
    'blkio.throttle.io_serviced_recursive',
  ]);
  add(v1.pids, ['pids.current', 'pids.max']);
  add(location.unified, psi);
  return files;
}

/** Older v1 kernels have only the non-recursive blkio files; read them when these are missing. */
export const BLKIO_FALLBACK: Readonly<Record<string, string>> = {
  'blkio.throttle.io_service_bytes_recursive': 'blkio.throttle.io_service_bytes',
  'blkio.throttle.io_serviced_recursive': 'blkio.throttle.io_serviced',
};
