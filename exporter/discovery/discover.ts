// Finds the processes to watch and groups them by container.
//
// Pod mode (the sidecar): every process of the shared PID namespace except PID 1 (the pause
// process), kernel threads and the exporter's own container. "Own container" is decided by
// mount namespace when the kernel lets us read /proc/<pid>/ns/mnt (same uid), else by the
// world-readable /proc/<pid>/cgroup. Processes of one container share one cgroup, so the
// cgroup file's text is the group key.
//
// Standalone mode: --pid (with descendants) and --match (a linear-time pattern on the command
// line, matched once per process).
//
// Per pid+start time the verdict is cached, so a steady pod costs one stat read per process
// per scrape here; the cache only holds live pids.

import { CONTAINER_ENV } from '../config.ts';
import type { DegradedReason } from '../metrics/catalog.ts';
import { environValue } from '../parse/environ.ts';
import { ParseError } from '../parse/errors.ts';
import { parseProcCgroup, type CgroupMembership } from '../parse/proc-cgroup.ts';
import { parseProcStat, type ProcStat } from '../parse/proc-stat.ts';
import { isExiting } from '../procfs/exiting.ts';
import { listDir, readLink, readText, type SyncReader } from '../procfs/read.ts';
import { mapInSlices, mapLimit } from '../util/concurrency.ts';
import { fallbackName, isContainerName, uniqueNames } from './naming.ts';

/** A compiled --match pattern (RE2: its time is linear in the command line's length). */
export interface CommandLineMatcher {
  test(commandLine: string): boolean;
}

export type DiscoveryMode =
  { kind: 'pod' } | { kind: 'standalone'; pids: readonly number[]; match?: CommandLineMatcher };

export interface DiscoveryOptions {
  procRoot: string;
  mode: DiscoveryMode;
  selfPid: number;
  /** Configured target container names, in priority order (they come first under the series cap). */
  preferred: readonly string[];
  reader: SyncReader;
  concurrency?: number;
}

export interface ContainerGroup {
  name: string;
  /** Named by SIDECAR_MONITOR_CONTAINER (else a fallback name). */
  fromEnv: boolean;
  cgroupKey: string;
  memberships: CgroupMembership[];
  /** The oldest process (the container's first one, unless it exited). */
  leader: ProcStat;
  /** Oldest first; includes the leader. */
  processes: ProcStat[];
}

export interface GroupProblem {
  container: string;
  reason: DegradedReason;
  error: Error;
}

export interface Discovery {
  groups: ContainerGroup[];
  problems: GroupProblem[];
}

interface PidEntry {
  start: number;
  /** Read lazily; '' when unreadable. */
  cgroup?: string;
  memberships?: CgroupMembership[];
  own?: boolean;
  cmdline?: string;
  matched?: boolean;
}

/** A live process and its cached facts. */
interface Proc {
  stat: ProcStat;
  entry: PidEntry;
}

interface NameEntry {
  name: string;
  fromEnv: boolean;
  problem?: { reason: DegradedReason; error: Error };
}

interface Own {
  cgroup: string;
  mntNs?: string;
}

interface FoundGroup extends ContainerGroup {
  problem?: NameEntry['problem'];
}

const ENVIRON_MAX_BYTES = 128 * 1024;
/** Processes read between two yields to the event loop. */
const SLICE = 64;

function byAge(a: ProcStat, b: ProcStat): number {
  return a.startTimeTicks - b.startTimeTicks || a.pid - b.pid;
}

export class Discoverer {
  private readonly options: DiscoveryOptions;
  private readonly concurrency: number;
  private readonly pids = new Map<number, PidEntry>();
  private readonly names = new Map<string, NameEntry>();
  private own: Own | undefined;

  constructor(options: DiscoveryOptions) {
    this.options = options;
    this.concurrency = options.concurrency ?? 16;
  }

  private path(pid: number | 'self', file: string): string {
    return `${this.options.procRoot}/${pid}/${file}`;
  }

  private async readOwn(): Promise<Own> {
    const cgroup = await readText(this.path('self', 'cgroup'));
    if (!cgroup.ok)
      throw new Error("cannot read the exporter's own cgroup", { cause: cgroup.error });
    const mnt = await readLink(this.path('self', 'ns/mnt'));
    return mnt.ok ? { cgroup: cgroup.value, mntNs: mnt.value } : { cgroup: cgroup.value };
  }

  /** Reads the stat of every pid; drops dead and kernel ones and refreshes the cache. */
  private async scan(): Promise<Proc[]> {
    const list = await listDir(this.options.procRoot);
    if (!list.ok) throw new Error(`cannot list ${this.options.procRoot}`, { cause: list.error });
    const candidates: number[] = [];
    for (const name of list.value) {
      const pid = Number(name);
      // PID 1 is the pause process in a pod (and init on a host): never a target.
      if (Number.isInteger(pid) && pid > 1 && pid !== this.options.selfPid) candidates.push(pid);
    }
    const stats = await mapInSlices(candidates, SLICE, (pid) => {
      const read = this.options.reader.readText(this.path(pid, 'stat'));
      if (!read.ok) return undefined;
      const stat = parseProcStat(read.value);
      // Kernel threads by their flag, not by pid 2 as parent: in a pod's PID namespace pid 2
      // is an ordinary process (often the app).
      if (stat instanceof ParseError || stat.kernelThread) return undefined;
      // Zombies (exited, not yet reaped) show the root cgroup and hold nothing to measure:
      // counted, they made a group of their own under churn.
      if (stat.state === 'Z' || stat.state === 'X') return undefined;
      return stat;
    });
    const out: Proc[] = [];
    for (const stat of stats) {
      if (!stat) continue;
      let entry = this.pids.get(stat.pid);
      if (entry?.start !== stat.startTimeTicks) {
        entry = { start: stat.startTimeTicks };
        this.pids.set(stat.pid, entry);
      }
      out.push({ stat, entry });
    }
    const alive = new Set(out.map((p) => p.stat.pid));
    for (const pid of this.pids.keys()) if (!alive.has(pid)) this.pids.delete(pid);
    return out;
  }

  /**
   * Reads (once per process) its cgroup; false when the process exited since the scan. A
   * short-lived process that vanished here would otherwise be a group of its own with no
   * cgroup (`unknown-true`, degraded no_cgroup) for one scrape in every few under churn.
   */
  private async readCgroup(p: Proc): Promise<boolean> {
    if (p.entry.cgroup !== undefined) return true;
    const read = await readText(this.path(p.stat.pid, 'cgroup'));
    if (!read.ok && read.reason === 'missing') return false;
    const parsed = read.ok ? parseProcCgroup(read.value) : undefined;
    const memberships = parsed === undefined || parsed instanceof ParseError ? [] : parsed;
    // A process exiting between the scan and this read shows the root cgroup in the v1
    // hierarchies (the kernel releases them after its memory, before it turns zombie) and
    // still its own in v2: a cgroup read is kept only if the process still has its memory
    // after it (one more stat read per new process).
    if (isExiting(this.options.reader, this.options.procRoot, p.stat.pid)) return false;
    p.entry.cgroup = read.ok ? read.value : '';
    p.entry.memberships = memberships;
    return true;
  }

  /** undefined: the process is gone. */
  private async isOwnContainer(p: Proc, own: Own): Promise<boolean | undefined> {
    if (!(await this.readCgroup(p))) return undefined;
    if (p.entry.own === undefined) {
      let same = p.entry.cgroup === own.cgroup;
      if (!same && own.mntNs !== undefined) {
        const mnt = await readLink(this.path(p.stat.pid, 'ns/mnt'));
        same = mnt.ok && mnt.value === own.mntNs;
      }
      p.entry.own = same;
    }
    return p.entry.own;
  }

  private async podTargets(procs: Proc[]): Promise<Proc[]> {
    this.own ??= await this.readOwn();
    const own = this.own;
    const verdicts = await mapLimit(procs, this.concurrency, (p) => this.isOwnContainer(p, own));
    return procs.filter((_, i) => verdicts[i] === false);
  }

  private async standaloneTargets(
    procs: Proc[],
    mode: { pids: readonly number[]; match?: CommandLineMatcher },
  ): Promise<Proc[]> {
    const chosen = new Set<number>();
    const children = new Map<number, number[]>();
    for (const { stat } of procs) {
      const list = children.get(stat.ppid);
      if (list) list.push(stat.pid);
      else children.set(stat.ppid, [stat.pid]);
    }
    // --pid takes the process and everything it started (workers, child processes).
    const queue = mode.pids.filter((pid) => this.pids.has(pid));
    for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
      if (chosen.has(pid)) continue;
      chosen.add(pid);
      queue.push(...(children.get(pid) ?? []));
    }
    const { match } = mode;
    if (match) {
      await mapLimit(procs, this.concurrency, async (p) => {
        if (p.entry.cmdline === undefined) {
          const read = await readText(this.path(p.stat.pid, 'cmdline'));
          p.entry.cmdline = read.ok ? read.value.replace(/\0+$/, '').replaceAll('\0', ' ') : '';
        }
        p.entry.matched ??= match.test(p.entry.cmdline);
        if (p.entry.matched) chosen.add(p.stat.pid);
      });
    }
    const targets = procs.filter((p) => chosen.has(p.stat.pid));
    const alive = await mapLimit(targets, this.concurrency, (p) => this.readCgroup(p));
    return targets.filter((_, i) => alive[i]);
  }

  private async nameOf(key: string, processes: readonly ProcStat[]): Promise<NameEntry> {
    const cached = this.names.get(key);
    if (cached) return cached;
    const leader = processes[0];
    if (!leader) return { name: fallbackName('', ''), fromEnv: false };
    const cmdline = await readText(this.path(leader.pid, 'cmdline'));
    const fallback = fallbackName(cmdline.ok ? cmdline.value : '', leader.comm);
    let entry: NameEntry | undefined;
    for (const p of processes) {
      const read = await readText(this.path(p.pid, 'environ'), ENVIRON_MAX_BYTES);
      if (!read.ok) {
        if (read.reason === 'missing') continue;
        if (
          read.reason === 'permission_denied' &&
          isExiting(this.options.reader, this.options.procRoot, p.pid)
        )
          continue;
        entry = {
          name: fallback,
          fromEnv: false,
          problem: { reason: read.reason, error: read.error },
        };
        break;
      }
      const value = environValue(read.value, CONTAINER_ENV);
      if (value !== undefined && isContainerName(value)) entry = { name: value, fromEnv: true };
      else if (value !== undefined) {
        const error = new Error(`${CONTAINER_ENV} of pid ${p.pid} is not a container name`);
        entry = { name: fallback, fromEnv: false, problem: { reason: 'parse_error', error } };
      } else entry = { name: fallback, fromEnv: false };
      break;
    }
    // Every process vanished before one could be read: decide again next scrape.
    if (!entry) return { name: fallback, fromEnv: false };
    this.names.set(key, entry);
    return entry;
  }

  private rank(g: ContainerGroup): number {
    const { preferred } = this.options;
    if (!g.fromEnv) return preferred.length + 1;
    const i = preferred.indexOf(g.name);
    return i >= 0 ? i : preferred.length;
  }

  async discover(): Promise<Discovery> {
    const { mode } = this.options;
    const procs = await this.scan();
    const targets =
      mode.kind === 'pod'
        ? await this.podTargets(procs)
        : await this.standaloneTargets(procs, mode);
    const byKey = new Map<string, Proc[]>();
    for (const p of targets) {
      const key = p.entry.cgroup ?? '';
      const list = byKey.get(key);
      if (list) list.push(p);
      else byKey.set(key, [p]);
    }
    const found: FoundGroup[] = [];
    for (const [key, members] of byKey) {
      members.sort((a, b) => byAge(a.stat, b.stat));
      const [first] = members;
      if (!first) continue;
      const processes = members.map((m) => m.stat);
      const name = await this.nameOf(key, processes);
      found.push({
        name: name.name,
        fromEnv: name.fromEnv,
        cgroupKey: key,
        memberships: first.entry.memberships ?? [],
        leader: first.stat,
        processes,
        ...(name.problem ? { problem: name.problem } : {}),
      });
    }
    for (const key of this.names.keys()) if (!byKey.has(key)) this.names.delete(key);
    found.sort(
      (a, b) =>
        this.rank(a) - this.rank(b) ||
        (a.fromEnv && b.fromEnv ? a.name.localeCompare(b.name) : 0) ||
        byAge(a.leader, b.leader),
    );
    const names = uniqueNames(found.map((g) => g.name));
    const problems: GroupProblem[] = [];
    const groups = found.map(({ problem, ...g }, i): ContainerGroup => {
      const group = { ...g, name: names[i] ?? g.name };
      if (problem) problems.push({ container: group.name, ...problem });
      return group;
    });
    return { groups, problems };
  }
}
