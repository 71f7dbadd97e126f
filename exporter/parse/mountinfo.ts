import { ParseError, lines, type Parsed } from './errors.ts';

/** A cgroup (v1) or cgroup2 mount from /proc/<pid>/mountinfo. */
export interface CgroupMount {
  version: 1 | 2;
  /** The cgroup this mount shows at its mount point, relative to the reader's cgroup namespace. */
  root: string;
  mountPoint: string;
  /** v1: the controllers of the hierarchy (from the super options); v2: empty. */
  controllers: string[];
}

const FILE = 'proc/<pid>/mountinfo';

/** mountinfo escapes space, tab, newline and backslash in paths as octal (\040). */
function unescape(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

const V1_OPTIONS = new Set(['rw', 'ro', 'noprefix', 'xattr', 'clone_children', 'cpuset_v2_mode']);

function covers(later: string, earlier: string): boolean {
  return later === earlier || later === '/' || earlier.startsWith(`${later}/`);
}

/**
 * The visible cgroup mounts of a mount namespace. A container runtime mounts a tmpfs over
 * /sys/fs/cgroup and the container's own cgroups on top; the host mounts it inherited are
 * still listed (earlier) but hidden, so a mount covered by a later one at the same or a
 * parent mount point is dropped.
 */
export function parseCgroupMounts(text: string): Parsed<CgroupMount[]> {
  const points: string[] = [];
  const found: { index: number; mount: CgroupMount }[] = [];
  for (const line of lines(text)) {
    const sep = line.indexOf(' - ');
    const left = (sep < 0 ? line : line.slice(0, sep)).split(' ');
    if (left.length < 6 || sep < 0) return new ParseError(FILE, `bad line "${line.slice(0, 80)}"`);
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    const mountPoint = unescape(left[4] ?? '');
    points.push(mountPoint);
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    if (right.length < 3) return new ParseError(FILE, `bad line "${line.slice(0, 80)}"`);
    const root = unescape(left[3] ?? '');
    if (!root.startsWith('/') || !mountPoint.startsWith('/'))
      return new ParseError(FILE, `bad paths in "${line.slice(0, 80)}"`);
    const controllers =
      fsType === 'cgroup2'
        ? []
        : (right[2] ?? '').split(',').filter((o) => !V1_OPTIONS.has(o) && !o.includes('='));
    found.push({
      index: points.length - 1,
      mount: { version: fsType === 'cgroup2' ? 2 : 1, root, mountPoint, controllers },
    });
  }
  return found
    .filter(({ index, mount }) => !points.slice(index + 1).some((p) => covers(p, mount.mountPoint)))
    .map(({ mount }) => mount);
}
