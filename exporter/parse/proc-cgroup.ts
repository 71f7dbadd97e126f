import { ParseError, lines, unsigned, type Parsed } from './errors.ts';

/** One line of /proc/<pid>/cgroup: `hierarchy-ID:controller-list:cgroup-path`. */
export interface CgroupMembership {
  hierarchyId: number;
  /** Empty for the cgroup v2 line (`0::/path`) and for named v1 hierarchies without controllers. */
  controllers: string[];
  /**
   * Relative to the reader's cgroup namespace root; it starts with `/..` when the process is
   * outside the reader's namespace (a sibling container seen from a container).
   */
  path: string;
}

const FILE = 'proc/<pid>/cgroup';

export function parseProcCgroup(text: string): Parsed<CgroupMembership[]> {
  const out: CgroupMembership[] = [];
  for (const line of lines(text)) {
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) return new ParseError(FILE, `bad line "${line.slice(0, 60)}"`);
    const id = unsigned(line.slice(0, first));
    const path = line.slice(second + 1);
    if (id === undefined || !path.startsWith('/'))
      return new ParseError(FILE, `bad line "${line.slice(0, 60)}"`);
    const list = line.slice(first + 1, second);
    out.push({ hierarchyId: id, controllers: list === '' ? [] : list.split(','), path });
  }
  if (out.length === 0) return new ParseError(FILE, 'empty');
  return out;
}

/** The cgroup v2 path (the `0::` line), if the process has one. */
export function unifiedPath(memberships: readonly CgroupMembership[]): string | undefined {
  return memberships.find((m) => m.hierarchyId === 0 && m.controllers.length === 0)?.path;
}

/** The v1 path of a controller (e.g. "memory"), if it is mounted as a v1 hierarchy. */
export function controllerPath(
  memberships: readonly CgroupMembership[],
  controller: string,
): string | undefined {
  return memberships.find((m) => m.hierarchyId !== 0 && m.controllers.includes(controller))?.path;
}
