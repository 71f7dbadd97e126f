// Parsers for the cgroup v1 and v2 interface files the exporter reads. Each returns the
// numbers in the file's own units; cgroup-stats.ts turns them into metric values.

import { ParseError, lines, signed, unsigned, type Parsed } from './errors.ts';

/** "key value" per line: memory.stat, cpu.stat, cpuacct.stat, memory.events, memory.oom_control. */
export function parseFlatKeyed(file: string, text: string): Parsed<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of lines(text)) {
    const space = line.indexOf(' ');
    const value = space > 0 ? signed(line.slice(space + 1)) : undefined;
    if (value === undefined) return new ParseError(file, `bad line "${line.slice(0, 60)}"`);
    out.set(line.slice(0, space), value);
  }
  return out;
}

/** A single integer or "max" (unlimited, v2). v1 files use -1 or 2^63-ish for unlimited. */
export function parseSingleValue(file: string, text: string): Parsed<number> {
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (body === 'max') return Infinity;
  const value = signed(body);
  if (value === undefined)
    return new ParseError(file, `not a single number: "${body.slice(0, 40)}"`);
  return value;
}

/** v1 memory.limit_in_bytes etc.: the kernel writes PAGE_COUNTER_MAX * page size when unset. */
export const V1_UNLIMITED_THRESHOLD = 2 ** 62;

export interface CpuQuota {
  /** Microseconds of CPU per period; Infinity when unlimited. */
  quotaMicros: number;
  periodMicros: number;
}

const KERNEL_DEFAULT_PERIOD_MICROS = 100_000;

/** cgroup v2 cpu.max: "$MAX $PERIOD", where $MAX may be "max". */
export function parseCpuMax(text: string): Parsed<CpuQuota> {
  const file = 'cpu.max';
  const fields = (text.endsWith('\n') ? text.slice(0, -1) : text).split(' ');
  if (fields.length < 1 || fields.length > 2 || fields[0] === '')
    return new ParseError(file, `expected "max period", got "${text.slice(0, 40)}"`);
  const quota = fields[0] === 'max' ? Infinity : unsigned(fields[0] ?? '');
  const period = fields.length === 2 ? unsigned(fields[1] ?? '') : KERNEL_DEFAULT_PERIOD_MICROS;
  if (quota === undefined || period === undefined)
    return new ParseError(file, `not numbers: "${text.slice(0, 40)}"`);
  if (period === 0) return new ParseError(file, 'period is 0');
  return { quotaMicros: quota, periodMicros: period };
}

/** cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us (quota -1 = unlimited). */
export function cpuQuotaV1(quotaText: string, periodText: string): Parsed<CpuQuota> {
  const quota = parseSingleValue('cpu.cfs_quota_us', quotaText);
  if (quota instanceof ParseError) return quota;
  const period = parseSingleValue('cpu.cfs_period_us', periodText);
  if (period instanceof ParseError) return period;
  if (period <= 0 || !Number.isFinite(period))
    return new ParseError('cpu.cfs_period_us', `must be positive, got ${period}`);
  if (quota < -1) return new ParseError('cpu.cfs_quota_us', `invalid quota ${quota}`);
  return { quotaMicros: quota === -1 ? Infinity : quota, periodMicros: period };
}

export interface PressureTotals {
  /** Microseconds in which at least one task stalled. */
  someMicros?: number;
  /** Microseconds in which all non-idle tasks stalled. */
  fullMicros?: number;
}

/** PSI: "some avg10=0.00 avg60=0.00 avg300=0.00 total=N" and the same for "full". */
export function parsePressure(file: string, text: string): Parsed<PressureTotals> {
  const out: PressureTotals = {};
  for (const line of lines(text)) {
    const m = /^(some|full) avg10=\d+\.\d+ avg60=\d+\.\d+ avg300=\d+\.\d+ total=(\d+)$/.exec(line);
    if (!m) return new ParseError(file, `bad line "${line.slice(0, 60)}"`);
    if (m[1] === 'some') out.someMicros = Number(m[2]);
    else out.fullMicros = Number(m[2]);
  }
  if (out.someMicros === undefined && out.fullMicros === undefined)
    return new ParseError(file, 'no some or full line');
  return out;
}

export interface IoTotals {
  readBytes: number;
  writeBytes: number;
  reads: number;
  writes: number;
}

/** cgroup v2 io.stat: "MAJ:MIN rbytes=… wbytes=… rios=… wios=… …" per device, summed. */
export function parseIoStat(text: string): Parsed<IoTotals> {
  const out: IoTotals = { readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
  for (const line of lines(text)) {
    const [device, ...pairs] = line.split(' ');
    if (!device || !/^\d+:\d+$/.test(device))
      return new ParseError('io.stat', `bad line "${line.slice(0, 60)}"`);
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      const value = eq > 0 ? unsigned(pair.slice(eq + 1)) : undefined;
      if (value === undefined) return new ParseError('io.stat', `bad field "${pair.slice(0, 40)}"`);
      switch (pair.slice(0, eq)) {
        case 'rbytes':
          out.readBytes += value;
          break;
        case 'wbytes':
          out.writeBytes += value;
          break;
        case 'rios':
          out.reads += value;
          break;
        case 'wios':
          out.writes += value;
          break;
        default:
          break;
      }
    }
  }
  return out;
}

export interface ReadWrite {
  read: number;
  write: number;
}

/** cgroup v1 blkio.throttle.io_service_bytes / io_serviced: "MAJ:MIN Op N" lines and "Total N". */
export function parseBlkio(file: string, text: string): Parsed<ReadWrite> {
  const out: ReadWrite = { read: 0, write: 0 };
  for (const line of lines(text)) {
    const parts = line.split(' ');
    if (parts.length === 2 && parts[0] === 'Total' && unsigned(parts[1] ?? '') !== undefined)
      continue;
    const value = parts.length === 3 ? unsigned(parts[2] ?? '') : undefined;
    if (value === undefined || !/^\d+:\d+$/.test(parts[0] ?? ''))
      return new ParseError(file, `bad line "${line.slice(0, 60)}"`);
    if (parts[1] === 'Read') out.read += value;
    else if (parts[1] === 'Write') out.write += value;
  }
  return out;
}
