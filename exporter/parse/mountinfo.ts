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

/** The cgroup mounts of a mount namespace; other mounts are skipped unparsed (cheap). */
export function parseCgroupMounts(text: string): Parsed<CgroupMount[]> {
  const out: CgroupMount[] = [];
  for (const line of lines(text)) {
    if (!line.includes(' - cgroup')) continue;
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    const sep = line.indexOf(' - ');
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (left.length < 6 || right.length < 3)
      return new ParseError(FILE, `bad line "${line.slice(0, 80)}"`);
    const fsType = right[0];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const root = unescape(left[3] ?? '');
    const mountPoint = unescape(left[4] ?? '');
    if (!root.startsWith('/') || !mountPoint.startsWith('/'))
      return new ParseError(FILE, `bad paths in "${line.slice(0, 80)}"`);
    const controllers =
      fsType === 'cgroup2'
        ? []
        : (right[2] ?? '').split(',').filter((o) => !V1_OPTIONS.has(o) && !o.includes('='));
    out.push({ version: fsType === 'cgroup2' ? 2 : 1, root, mountPoint, controllers });
  }
  return out;
}
