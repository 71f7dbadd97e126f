// Reads /proc/<pid>/{status,io,limits,fd} for every process of every container. stat was
// already read by discovery. limits changes rarely (prlimit) and is re-read every minute.

import type { ContainerGroup } from '../discovery/discover.ts';
import { isExiting } from '../procfs/exiting.ts';
import { countFds, type FsResult, type SyncReader } from '../procfs/read.ts';
import { mapInSlices } from '../util/concurrency.ts';
import {
  CounterTracker,
  processKey,
  processTotals,
  type ProcessReading,
  type ProcessTotals,
} from './totals.ts';

const LIMITS_TTL_MS = 60_000;
/** Processes read between two yields to the event loop. */
const SLICE = 32;

export class ProcessCollector {
  private readonly procRoot: string;
  private readonly now: () => number;
  private readonly reader: SyncReader;
  private readonly trackers = new Map<string, CounterTracker>();
  private readonly limits = new Map<string, { at: number; read: FsResult<string> }>();

  constructor(procRoot: string, now: () => number, reader: SyncReader) {
    this.procRoot = procRoot;
    this.now = now;
    this.reader = reader;
  }

  private limitsOf(pid: number, key: string): FsResult<string> {
    const cached = this.limits.get(key);
    const now = this.now();
    if (cached && now - cached.at < LIMITS_TTL_MS) return cached.read;
    const read = this.reader.readText(`${this.procRoot}/${pid}/limits`);
    if (read.ok) this.limits.set(key, { at: now, read });
    return read;
  }

  async collect(
    groups: readonly ContainerGroup[],
    bootTimeSeconds: number | undefined,
  ): Promise<Map<string, ProcessTotals>> {
    const all = groups.flatMap((g) => g.processes);
    const readings = await mapInSlices(all, SLICE, (stat) => {
      const dir = `${this.procRoot}/${stat.pid}`;
      return {
        stat,
        status: this.reader.readText(`${dir}/status`),
        io: this.reader.readText(`${dir}/io`),
        limits: this.limitsOf(stat.pid, processKey(stat)),
        fds: this.reader.countFds(`${dir}/fd`),
      };
    });
    // Kernels before 6.2 do not count fds in the directory size: list those directories.
    const complete: ProcessReading[] = await Promise.all(
      readings.map(async (r) =>
        r.fds === 'list'
          ? { ...r, fds: await countFds(`${this.procRoot}/${r.stat.pid}/fd`) }
          : { ...r, fds: r.fds },
      ),
    );
    // Access refused to a process that is exiting is the exit, not a permission problem.
    const denied = (x: FsResult<unknown> | { ok: true }) =>
      !x.ok && x.reason === 'permission_denied';
    const live = complete.filter(
      (r) =>
        !(denied(r.io) || denied(r.fds) || denied(r.status) || denied(r.limits)) ||
        !isExiting(this.reader, this.procRoot, r.stat.pid),
    );
    const byPid = new Map(live.map((r) => [r.stat.pid, r]));
    const out = new Map<string, ProcessTotals>();
    for (const group of groups) {
      let tracker = this.trackers.get(group.name);
      if (!tracker) this.trackers.set(group.name, (tracker = new CounterTracker()));
      const mine = group.processes.flatMap((p) => byPid.get(p.pid) ?? []);
      out.set(group.name, processTotals(mine, tracker, bootTimeSeconds));
    }
    const names = new Set(groups.map((g) => g.name));
    for (const name of this.trackers.keys()) if (!names.has(name)) this.trackers.delete(name);
    const keys = new Set(all.map(processKey));
    for (const key of this.limits.keys()) if (!keys.has(key)) this.limits.delete(key);
    return out;
  }
}
