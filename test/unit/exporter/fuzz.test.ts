// Any bytes in → a value or a ParseError out, never an exception: for every parser, and for the
// pure stages above them (cgroup stats, process totals) that turn parser output into metrics.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cgroupStats } from '../../../exporter/cgroup/stats.ts';
import {
  cpuQuotaV1,
  parseBlkio,
  parseCpuMax,
  parseFlatKeyed,
  parseIoStat,
  parsePressure,
  parseSingleValue,
} from '../../../exporter/parse/cgroup-files.ts';
import { environValue } from '../../../exporter/parse/environ.ts';
import { ParseError } from '../../../exporter/parse/errors.ts';
import { parseCgroupMounts } from '../../../exporter/parse/mountinfo.ts';
import { parseProcCgroup } from '../../../exporter/parse/proc-cgroup.ts';
import { parseProcIo } from '../../../exporter/parse/proc-io.ts';
import { parseProcLimits } from '../../../exporter/parse/proc-limits.ts';
import { parseProcStat, type ProcStat } from '../../../exporter/parse/proc-stat.ts';
import { parseProcStatus } from '../../../exporter/parse/proc-status.ts';
import { parseBootTime } from '../../../exporter/parse/system-stat.ts';
import { CounterTracker, processTotals } from '../../../exporter/process/totals.ts';
import type { FsResult } from '../../../exporter/procfs/read.ts';
import { allProcfsFiles, fixture } from './fixtures.ts';

const PARSERS: Record<string, (text: string) => unknown> = {
  stat: parseProcStat,
  status: parseProcStatus,
  io: parseProcIo,
  limits: parseProcLimits,
  cgroup: parseProcCgroup,
  mountinfo: parseCgroupMounts,
  keyed: (t) => parseFlatKeyed('f', t),
  single: (t) => parseSingleValue('f', t),
  cpuMax: parseCpuMax,
  quotaV1: (t) => cpuQuotaV1(t, t),
  pressure: (t) => parsePressure('f', t),
  ioStat: parseIoStat,
  blkio: (t) => parseBlkio('f', t),
  btime: parseBootTime,
  environ: (t) => environValue(t, 'SIDECAR_MONITOR_CONTAINER') ?? null,
};

function valueOrParseError(result: unknown): boolean {
  return result instanceof ParseError || (result !== undefined && !(result instanceof Error));
}

/** Text a procfs file could plausibly hold: bytes decoded as UTF-8, like the reader does. */
const bytesAsText = fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b).toString('utf8'));
/** Text made of the characters procfs files are made of, so the parsers get past line one. */
const procfsish = fc
  .array(
    fc.constantFrom(
      ' ',
      '\t',
      '\n',
      ':',
      '=',
      '(',
      ')',
      '-',
      '/',
      '0',
      '1',
      '9',
      'a',
      'max',
      'some',
      'total',
      '\0',
    ),
    {
      maxLength: 200,
    },
  )
  .map((parts) => parts.join(''));

/** A real fixture with a few random edits: a splice, a cut, a duplicated range. */
const FILES = allProcfsFiles().map(fixture);
const mutatedFixture = fc
  .tuple(
    fc.constantFrom(...FILES),
    fc.nat(),
    fc.nat(),
    fc.string({ maxLength: 12 }),
    fc.constantFrom('splice', 'cut', 'dup'),
  )
  .map(([text, a, b, insert, op]) => {
    const i = text.length === 0 ? 0 : a % text.length;
    const j = text.length === 0 ? 0 : b % text.length;
    const [lo, hi] = i < j ? [i, j] : [j, i];
    if (op === 'splice') return text.slice(0, lo) + insert + text.slice(lo);
    if (op === 'cut') return text.slice(0, lo) + text.slice(hi);
    return text.slice(0, hi) + text.slice(lo, hi) + text.slice(hi);
  });

describe('parsers under fuzzing', () => {
  for (const [name, parse] of Object.entries(PARSERS)) {
    it(`${name}: any bytes, procfs-like noise or mutated fixtures → value or ParseError`, () => {
      fc.assert(
        fc.property(fc.oneof(bytesAsText, procfsish, mutatedFixture), (text) => {
          expect(valueOrParseError(parse(text))).toBe(true);
        }),
        { numRuns: 400 },
      );
    });
  }

  it('every fixture file through every parser: never a throw', () => {
    for (const text of FILES)
      for (const parse of Object.values(PARSERS)) expect(valueOrParseError(parse(text))).toBe(true);
  });
});

const CGROUP_FILES = [
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
  'cpu.pressure',
  'memory.pressure',
  'io.pressure',
  'cpuacct.usage',
  'cpuacct.stat',
  'cpu.cfs_quota_us',
  'cpu.cfs_period_us',
  'memory.usage_in_bytes',
  'memory.limit_in_bytes',
  'memory.oom_control',
  'blkio.throttle.io_service_bytes',
  'blkio.throttle.io_serviced_recursive',
];

const read = fc.oneof(
  fc
    .oneof(bytesAsText, procfsish, mutatedFixture)
    .map((value): FsResult<string> => ({ ok: true, value })),
  fc.constantFrom<FsResult<string>>(
    { ok: false, reason: 'missing', error: new Error('gone') },
    { ok: false, reason: 'permission_denied', error: new Error('no') },
    { ok: false, reason: 'io_error', error: new Error('eio') },
  ),
);

describe('pure stages under fuzzing', () => {
  it('cgroupStats: any file contents → finite non-negative values plus problems', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<1 | 2>(1, 2),
        fc.dictionary(fc.constantFrom(...CGROUP_FILES), read),
        (version, files) => {
          const stats = cgroupStats(version, new Map(Object.entries(files)));
          for (const v of Object.values(stats.values)) {
            expect(Number.isFinite(v)).toBe(true);
            expect(v).toBeGreaterThanOrEqual(0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('processTotals: any status/io/limits contents → finite values, counters never negative', () => {
    const stat = parseProcStat(fixture('prometheus-procfs/proc/26231/stat')) as ProcStat;
    const fds = fc.oneof(
      fc.nat().map((value): FsResult<number> => ({ ok: true, value })),
      fc.constant<FsResult<number>>({
        ok: false,
        reason: 'permission_denied',
        error: new Error('no'),
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(read, read, read, fds), { maxLength: 5 }), (procs) => {
        const readings = procs.map(([status, io, limits, fd], i) => ({
          stat: { ...stat, pid: stat.pid + i },
          status,
          io,
          limits,
          fds: fd,
        }));
        const totals = processTotals(readings, new CounterTracker(), 1_700_000_000);
        for (const v of [...Object.values(totals.values), ...Object.values(totals.counters)]) {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
