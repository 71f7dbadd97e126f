// Per-container process metrics from /proc/<pid>/{stat,status,io,limits,fd}. Pure, except for
// the counter tracker, which remembers what exited processes had consumed so a summed counter
// never goes down when a worker exits (Prometheus would read that as a reset and a spike).

import type { MetricKey } from '../metrics/catalog.ts';
import { ParseError, type Parsed } from '../parse/errors.ts';
import { parseProcIo } from '../parse/proc-io.ts';
import { parseProcLimits } from '../parse/proc-limits.ts';
import type { ProcStat } from '../parse/proc-stat.ts';
import { parseProcStatus } from '../parse/proc-status.ts';
import type { FsResult } from '../procfs/read.ts';
import { USER_HZ, type FileProblem } from '../cgroup/stats.ts';

export interface ProcessReading {
  stat: ProcStat;
  status: FsResult<string>;
  io: FsResult<string>;
  limits: FsResult<string>;
  fds: FsResult<number>;
}

export const COUNTERS = [
  'cpuUser',
  'cpuSystem',
  'ctxVoluntary',
  'ctxInvoluntary',
  'readBytes',
  'writeBytes',
] as const;
export type Counter = (typeof COUNTERS)[number];
export type CounterValues = Partial<Record<Counter, number>>;

/** Identity of a process across scrapes: a pid is reused, pid + start time is not. */
export function processKey(stat: ProcStat): string {
  return `${stat.pid}:${stat.startTimeTicks}`;
}

export class CounterTracker {
  private readonly live = new Map<string, CounterValues>();
  private readonly exited: Record<Counter, number> = {
    cpuUser: 0,
    cpuSystem: 0,
    ctxVoluntary: 0,
    ctxInvoluntary: 0,
    readBytes: 0,
    writeBytes: 0,
  };

  /**
   * Takes this scrape's values per live process and returns the container totals, or
   * undefined for a counter some live process has never been readable for.
   */
  update(current: ReadonlyMap<string, CounterValues>): CounterValues {
    for (const [key, last] of this.live) {
      if (current.has(key)) continue;
      for (const c of COUNTERS) this.exited[c] += last[c] ?? 0;
      this.live.delete(key);
    }
    for (const [key, values] of current) {
      // A value unreadable this time keeps its last reading rather than dropping the process.
      this.live.set(key, { ...this.live.get(key), ...values });
    }
    const totals: CounterValues = {};
    for (const c of COUNTERS) {
      let sum = this.exited[c];
      let complete = true;
      for (const values of this.live.values()) {
        const v = values[c];
        if (v === undefined) complete = false;
        else sum += v;
      }
      if (complete) totals[c] = sum;
    }
    return totals;
  }
}

export interface ProcessTotals {
  values: Partial<Record<MetricKey, number>>;
  /** process_cpu_seconds_total by mode and process_context_switches_total by type. */
  counters: CounterValues;
  problems: FileProblem[];
}

function problemFor(file: string, read: FsResult<unknown>): FileProblem | undefined {
  if (read.ok || read.reason === 'missing') return undefined;
  return { file, reason: read.reason, error: read.error };
}

function parsed<T>(
  file: string,
  read: FsResult<string>,
  parser: (text: string) => Parsed<T>,
  problems: FileProblem[],
): T | undefined {
  if (!read.ok) {
    const p = problemFor(file, read);
    if (p) problems.push(p);
    return undefined;
  }
  const value = parser(read.value);
  if (value instanceof ParseError) {
    problems.push({ file, reason: 'parse_error', error: value });
    return undefined;
  }
  return value;
}

/** One problem per file and reason is enough to say what is degraded. */
function dedupe(problems: FileProblem[]): FileProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.file}\0${p.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Sums a container's processes. A gauge is reported only when every process provided its
 * input: a partial sum would look like a real drop.
 */
export function processTotals(
  readings: readonly ProcessReading[],
  tracker: CounterTracker,
  bootTimeSeconds: number | undefined,
): ProcessTotals {
  const problems: FileProblem[] = [];
  const current = new Map<string, CounterValues>();
  let rss: number | undefined = 0;
  let swap: number | undefined = 0;
  let fds: number | undefined = 0;
  let ratio: number | undefined = 0;
  let vsize = 0;
  let threads = 0;
  let oldest = Infinity;
  for (const r of readings) {
    // The process exited between discovery and these reads: it is no longer part of the
    // container (the tracker moves its counters to the exited total).
    if ([r.status, r.io, r.fds].some((x) => !x.ok && x.reason === 'missing')) continue;
    const counters: CounterValues = {
      cpuUser: r.stat.utimeTicks / USER_HZ,
      cpuSystem: r.stat.stimeTicks / USER_HZ,
    };
    vsize += r.stat.vsizeBytes;
    threads += r.stat.numThreads;
    oldest = Math.min(oldest, r.stat.startTimeTicks);

    const status = parsed('status', r.status, parseProcStatus, problems);
    if (status?.voluntaryCtxtSwitches !== undefined)
      counters.ctxVoluntary = status.voluntaryCtxtSwitches;
    if (status?.nonvoluntaryCtxtSwitches !== undefined)
      counters.ctxInvoluntary = status.nonvoluntaryCtxtSwitches;
    // Kernel threads and zombies have no Vm* lines: they use no user memory.
    rss = status && rss !== undefined ? rss + (status.vmRssBytes ?? 0) : undefined;
    swap = status && swap !== undefined ? swap + (status.vmSwapBytes ?? 0) : undefined;

    const io = parsed('io', r.io, parseProcIo, problems);
    if (io) {
      counters.readBytes = io.readBytes;
      counters.writeBytes = io.writeBytes;
    }

    const fdProblem = problemFor('fd', r.fds);
    if (fdProblem) problems.push(fdProblem);
    const open = r.fds.ok ? r.fds.value : undefined;
    fds = open !== undefined && fds !== undefined ? fds + open : undefined;
    const limits = parsed('limits', r.limits, parseProcLimits, problems);
    if (open === undefined || limits === undefined) ratio = undefined;
    else if (
      ratio !== undefined &&
      Number.isFinite(limits.openFilesSoft) &&
      limits.openFilesSoft > 0
    )
      ratio = Math.max(ratio, open / limits.openFilesSoft);

    current.set(processKey(r.stat), counters);
  }
  const counters = tracker.update(current);
  const values: Partial<Record<MetricKey, number>> = {
    processVirtualMemoryBytes: vsize,
    processThreads: threads,
  };
  if (rss !== undefined) values.processResidentMemoryBytes = rss;
  if (swap !== undefined) values.processSwapBytes = swap;
  if (fds !== undefined) values.processOpenFds = fds;
  if (ratio !== undefined) values.processFdUsageRatio = ratio;
  if (counters.readBytes !== undefined) values.processReadBytes = counters.readBytes;
  if (counters.writeBytes !== undefined) values.processWriteBytes = counters.writeBytes;
  if (Number.isFinite(oldest) && bootTimeSeconds !== undefined)
    values.processOldestStartTimeSeconds = bootTimeSeconds + oldest / USER_HZ;
  return { values, counters, problems: dedupe(problems) };
}
