// Reads /proc/<pid>/{status,io,limits,fd} for every process of every container. stat was
// already read by discovery. limits changes rarely (prlimit) and is re-read every minute.

import type { ContainerGroup } from '../discovery/discover.ts';
import { countFds, readText, type FsResult } from '../procfs/read.ts';
import { mapLimit } from '../util/concurrency.ts';
import {
  CounterTracker,
  processKey,
  processTotals,
  type ProcessReading,
  type ProcessTotals,
} from './totals.ts';

const LIMITS_TTL_MS = 60_000;

export class ProcessCollector {
  private readonly procRoot: string;
  private readonly now: () => number;
  private readonly trackers = new Map<string, CounterTracker>();
  private readonly limits = new Map<string, { at: number; read: FsResult<string> }>();
  private readonly concurrency: number;

  constructor(procRoot: string, now: () => number, concurrency = 16) {
    this.procRoot = procRoot;
    this.now = now;
    this.concurrency = concurrency;
  }

  private async limitsOf(pid: number, key: string): Promise<FsResult<string>> {
    const cached = this.limits.get(key);
    const now = this.now();
    if (cached && now - cached.at < LIMITS_TTL_MS) return cached.read;
    const read = await readText(`${this.procRoot}/${pid}/limits`);
    if (read.ok) this.limits.set(key, { at: now, read });
    return read;
  }

  async collect(
    groups: readonly ContainerGroup[],
    bootTimeSeconds: number | undefined,
  ): Promise<Map<string, ProcessTotals>> {
    const all = groups.flatMap((g) => g.processes);
    const readings = await mapLimit(
      all,
      this.concurrency,
      async (stat): Promise<ProcessReading> => {
        const dir = `${this.procRoot}/${stat.pid}`;
        const [status, io, limits, fds] = await Promise.all([
          readText(`${dir}/status`),
          readText(`${dir}/io`),
          this.limitsOf(stat.pid, processKey(stat)),
          countFds(`${dir}/fd`),
        ]);
        return { stat, status, io, limits, fds };
      },
    );
    const byPid = new Map(readings.map((r) => [r.stat.pid, r]));
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
