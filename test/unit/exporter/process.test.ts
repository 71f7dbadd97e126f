import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../exporter/parse/errors.ts';
import { parseProcStat, type ProcStat } from '../../../exporter/parse/proc-stat.ts';
import {
  CounterTracker,
  processTotals,
  type ProcessReading,
} from '../../../exporter/process/totals.ts';
import type { FsResult } from '../../../exporter/procfs/read.ts';
import { fixture } from './fixtures.ts';

const STAT = parseProcStat(fixture('prometheus-procfs/proc/26231/stat')) as ProcStat;
const ok = <T>(value: T): FsResult<T> => ({ ok: true, value });
const denied: FsResult<never> = {
  ok: false,
  reason: 'permission_denied',
  error: new Error('EACCES'),
};
const gone: FsResult<never> = { ok: false, reason: 'missing', error: new Error('ENOENT') };

function status(vol: number, rssKb: number): string {
  return `Name:\tapp\nVmRSS:\t${rssKb} kB\nVmSwap:\t1 kB\nvoluntary_ctxt_switches:\t${vol}\nnonvoluntary_ctxt_switches:\t2\n`;
}
function io(read: number): string {
  return `rchar: 1\nwchar: 1\nread_bytes: ${read}\nwrite_bytes: 10\ncancelled_write_bytes: 0\n`;
}

function reading(pid: number, utime: number, extra: Partial<ProcessReading> = {}): ProcessReading {
  return {
    stat: { ...STAT, pid, utimeTicks: utime, stimeTicks: 50, startTimeTicks: 1000 + pid },
    status: ok(status(pid, 100)),
    io: ok(io(1000)),
    limits: ok(fixture('prometheus-procfs/proc/26231/limits')),
    fds: ok(8),
    ...extra,
  };
}

describe('process totals', () => {
  it("sums a container's processes from the real fixture files", () => {
    const r: ProcessReading = {
      stat: STAT,
      status: ok(fixture('prometheus-procfs/proc/26231/status')),
      io: ok(fixture('prometheus-procfs/proc/26231/io')),
      limits: ok(fixture('prometheus-procfs/proc/26231/limits')),
      fds: ok(512),
    };
    const t = processTotals([r], new CounterTracker(), 1_418_183_276);
    expect(t.problems).toEqual([]);
    expect(t.values).toEqual({
      processVirtualMemoryBytes: 56274944,
      processThreads: 1,
      processResidentMemoryBytes: 6716 * 1024,
      processSwapBytes: 660 * 1024,
      processOpenFds: 512,
      processFdUsageRatio: 512 / 2048,
      processReadBytes: 1024,
      processWriteBytes: 2048,
      processOldestStartTimeSeconds: 1_418_183_276 + 823.75,
    });
    expect(t.counters).toEqual({
      cpuUser: 16.77,
      cpuSystem: 0.44,
      ctxVoluntary: 4742839,
      ctxInvoluntary: 1727500,
      readBytes: 1024,
      writeBytes: 2048,
    });
  });

  it('keeps counters monotonic when a process exits, and forgets it', () => {
    const tracker = new CounterTracker();
    const first = processTotals([reading(10, 100), reading(11, 300)], tracker, 0);
    expect(first.counters.cpuUser).toBe(4);
    // pid 11 exited; pid 10 used 1 s more.
    const second = processTotals([reading(10, 200)], tracker, 0);
    expect(second.counters.cpuUser).toBe(5);
    expect(second.counters.ctxVoluntary).toBe(10 + 11);
    // A new process with a recycled pid (other start time) is a new process.
    const recycled = reading(11, 7);
    recycled.stat.startTimeTicks = 99_999;
    expect(processTotals([reading(10, 200), recycled], tracker, 0).counters.cpuUser).toBe(5.07);
  });

  it('a process that exits between discovery and the reads is left out, not half counted', () => {
    const t = processTotals(
      [reading(10, 100), reading(11, 100, { status: gone })],
      new CounterTracker(),
      0,
    );
    expect(t.values.processResidentMemoryBytes).toBe(100 * 1024);
    expect(t.values.processThreads).toBe(1);
    expect(t.problems).toEqual([]);
  });

  it('unreadable io and fd (another uid) leave those series absent and say why', () => {
    const t = processTotals(
      [reading(10, 100, { io: denied, fds: denied }), reading(11, 100)],
      new CounterTracker(),
      0,
    );
    expect(t.values.processReadBytes).toBeUndefined();
    expect(t.values.processOpenFds).toBeUndefined();
    expect(t.values.processFdUsageRatio).toBeUndefined();
    expect(t.values.processResidentMemoryBytes).toBe(200 * 1024);
    expect(t.counters.cpuUser).toBe(2);
    expect(t.problems.map((p) => [p.file, p.reason])).toEqual([
      ['io', 'permission_denied'],
      ['fd', 'permission_denied'],
    ]);
  });

  it('reports a malformed status as a parse problem and drops only what it feeds', () => {
    const t = processTotals([reading(10, 100, { status: ok('garbage') })], new CounterTracker(), 0);
    expect(t.problems.map((p) => p.reason)).toEqual(['parse_error']);
    expect(t.values.processResidentMemoryBytes).toBeUndefined();
    expect(t.values.processVirtualMemoryBytes).toBe(STAT.vsizeBytes);
    expect(t.counters.ctxVoluntary).toBeUndefined();
  });

  it('an unlimited fd limit gives a ratio of 0', () => {
    const t = processTotals(
      [
        reading(10, 1, {
          limits: ok('Max open files            unlimited            unlimited            files\n'),
        }),
      ],
      new CounterTracker(),
      0,
    );
    expect(t.values.processFdUsageRatio).toBe(0);
  });
});

describe('the stat fixture', () => {
  it('is what the tests above build on', () => {
    expect(STAT).not.toBeInstanceOf(ParseError);
  });
});
