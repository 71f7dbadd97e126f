// cgroup interface files → container metric values, for v2 and v1. Pure: the reads are done
// by the caller. A missing file means the kernel or the controller set does not provide that
// value (absent series, no complaint); any other failure is a problem the caller reports.

import type { DegradedReason, MetricKey } from '../metrics/catalog.ts';
import {
  V1_UNLIMITED_THRESHOLD,
  cpuQuotaV1,
  parseBlkio,
  parseCpuMax,
  parseFlatKeyed,
  parseIoStat,
  parsePressure,
  parseSingleValue,
  type CpuQuota,
} from '../parse/cgroup-files.ts';
import { ParseError, type Parsed } from '../parse/errors.ts';
import type { FsResult } from '../procfs/read.ts';

export type ContainerValues = Partial<Record<MetricKey, number>>;

export interface FileProblem {
  file: string;
  reason: DegradedReason;
  error: Error;
}

export interface CgroupStats {
  version: 1 | 2;
  values: ContainerValues;
  problems: FileProblem[];
}

/** USER_HZ: the unit of cpuacct.stat; 100 on every Linux architecture's user ABI. */
export const USER_HZ = 100;

class Reader {
  readonly values: ContainerValues = {};
  readonly problems: FileProblem[] = [];
  private readonly reads: ReadonlyMap<string, FsResult<string>>;
  constructor(reads: ReadonlyMap<string, FsResult<string>>) {
    this.reads = reads;
  }

  /** Whether the file was read (or failed for a reason other than not existing). */
  has(file: string): boolean {
    const read = this.reads.get(file);
    return read !== undefined && (read.ok || read.reason !== 'missing');
  }

  parse<T>(file: string, parser: (text: string) => Parsed<T>): T | undefined {
    const read = this.reads.get(file);
    if (read === undefined) return undefined;
    if (!read.ok) {
      if (read.reason !== 'missing')
        this.problems.push({ file, reason: read.reason, error: read.error });
      return undefined;
    }
    return this.check(file, parser(read.value));
  }

  /** Records a parse error and returns undefined, or returns the value. */
  check<T>(file: string, value: Parsed<T>): T | undefined {
    if (!(value instanceof ParseError)) return value;
    this.problems.push({ file, reason: 'parse_error', error: value });
    return undefined;
  }

  keyed(file: string): Map<string, number> | undefined {
    return this.parse(file, (t) => parseFlatKeyed(file, t));
  }

  single(file: string): number | undefined {
    return this.parse(file, (t) => parseSingleValue(file, t));
  }

  /** Sets a value from a finite non-negative number; anything else is a parse problem. */
  /** Divides instead of scaling: 37345608977 / 1e6 is exact where × 1e-6 is not. */
  set(key: MetricKey, value: number | undefined, file: string, divisor = 1): void {
    if (value === undefined) return;
    // "max" is only meaningful in limit files, which handle it before calling this.
    if (!(value >= 0) || !Number.isFinite(value)) {
      this.problems.push({
        file,
        reason: 'parse_error',
        error: new ParseError(file, `invalid value ${value} for ${key}`),
      });
      return;
    }
    this.values[key] = value / divisor;
  }

  quota(q: CpuQuota | undefined): void {
    if (q === undefined || !Number.isFinite(q.quotaMicros)) return;
    this.values.containerSpecCpuQuotaSeconds = q.quotaMicros / 1e6;
    this.values.containerSpecCpuPeriodSeconds = q.periodMicros / 1e6;
  }

  pressure(): void {
    const pairs = [
      ['cpu.pressure', 'containerPressureCpuWaiting', 'containerPressureCpuStalled'],
      ['memory.pressure', 'containerPressureMemoryWaiting', 'containerPressureMemoryStalled'],
      ['io.pressure', 'containerPressureIoWaiting', 'containerPressureIoStalled'],
    ] as const;
    for (const [file, some, full] of pairs) {
      const p = this.parse(file, (t) => parsePressure(file, t));
      this.set(some, p?.someMicros, file, 1e6);
      this.set(full, p?.fullMicros, file, 1e6);
    }
  }

  workingSet(usage: number | undefined, inactiveFile: number | undefined): void {
    // As the kubelet and cAdvisor compute it: usage minus inactive file pages, floored at 0.
    if (usage === undefined || inactiveFile === undefined) return;
    if (!Number.isFinite(usage) || !Number.isFinite(inactiveFile) || usage < 0) return;
    this.values.containerMemoryWorkingSetBytes = Math.max(0, usage - inactiveFile);
  }
}

function statsV2(r: Reader): void {
  const cpu = r.keyed('cpu.stat');
  r.set('containerCpuUsageSeconds', cpu?.get('usage_usec'), 'cpu.stat', 1e6);
  r.set('containerCpuUserSeconds', cpu?.get('user_usec'), 'cpu.stat', 1e6);
  r.set('containerCpuSystemSeconds', cpu?.get('system_usec'), 'cpu.stat', 1e6);
  // Present only when the cpu controller is enabled for the cgroup.
  r.set('containerCpuCfsPeriods', cpu?.get('nr_periods'), 'cpu.stat');
  r.set('containerCpuCfsThrottledPeriods', cpu?.get('nr_throttled'), 'cpu.stat');
  r.set('containerCpuCfsThrottledSeconds', cpu?.get('throttled_usec'), 'cpu.stat', 1e6);
  r.quota(r.parse('cpu.max', parseCpuMax));

  const usage = r.single('memory.current');
  r.set('containerMemoryUsageBytes', usage, 'memory.current');
  const mem = r.keyed('memory.stat');
  r.set('containerMemoryRss', mem?.get('anon'), 'memory.stat');
  r.set('containerMemoryCache', mem?.get('file'), 'memory.stat');
  r.workingSet(usage, mem?.get('inactive_file'));
  r.set('containerMemorySwap', r.single('memory.swap.current'), 'memory.swap.current');
  const limit = r.single('memory.max');
  if (limit !== undefined && Number.isFinite(limit))
    r.set('containerSpecMemoryLimitBytes', limit, 'memory.max');
  r.set('containerOomEvents', r.keyed('memory.events')?.get('oom_kill'), 'memory.events');

  const io = r.parse('io.stat', parseIoStat);
  r.set('containerFsReadsBytes', io?.readBytes, 'io.stat');
  r.set('containerFsWritesBytes', io?.writeBytes, 'io.stat');
  r.set('containerFsReads', io?.reads, 'io.stat');
  r.set('containerFsWrites', io?.writes, 'io.stat');

  r.set('containerThreads', r.single('pids.current'), 'pids.current');
  const pidsMax = r.single('pids.max');
  if (pidsMax !== undefined && Number.isFinite(pidsMax))
    r.set('containerThreadsMax', pidsMax, 'pids.max');
  r.pressure();
}

function statsV1(r: Reader): void {
  r.set('containerCpuUsageSeconds', r.single('cpuacct.usage'), 'cpuacct.usage', 1e9);
  const acct = r.keyed('cpuacct.stat');
  r.set('containerCpuUserSeconds', acct?.get('user'), 'cpuacct.stat', USER_HZ);
  r.set('containerCpuSystemSeconds', acct?.get('system'), 'cpuacct.stat', USER_HZ);
  const cpu = r.keyed('cpu.stat');
  r.set('containerCpuCfsPeriods', cpu?.get('nr_periods'), 'cpu.stat');
  r.set('containerCpuCfsThrottledPeriods', cpu?.get('nr_throttled'), 'cpu.stat');
  r.set('containerCpuCfsThrottledSeconds', cpu?.get('throttled_time'), 'cpu.stat', 1e9);
  const quotaText = r.parse('cpu.cfs_quota_us', (t) => t);
  const periodText = r.parse('cpu.cfs_period_us', (t) => t);
  if (quotaText !== undefined && periodText !== undefined)
    r.quota(r.check('cpu.cfs_quota_us', cpuQuotaV1(quotaText, periodText)));

  const usage = r.single('memory.usage_in_bytes');
  r.set('containerMemoryUsageBytes', usage, 'memory.usage_in_bytes');
  // total_* include child cgroups, like usage_in_bytes does.
  const mem = r.keyed('memory.stat');
  r.set('containerMemoryRss', mem?.get('total_rss'), 'memory.stat');
  r.set('containerMemoryCache', mem?.get('total_cache'), 'memory.stat');
  r.set('containerMemorySwap', mem?.get('total_swap'), 'memory.stat');
  r.workingSet(usage, mem?.get('total_inactive_file'));
  const limit = r.single('memory.limit_in_bytes');
  if (limit !== undefined && limit < V1_UNLIMITED_THRESHOLD)
    r.set('containerSpecMemoryLimitBytes', limit, 'memory.limit_in_bytes');
  r.set('containerOomEvents', r.keyed('memory.oom_control')?.get('oom_kill'), 'memory.oom_control');

  // The *_recursive files include child cgroups like the other v1 values; kernels before 4.11
  // only have the plain ones.
  for (const [recursive, plain, readKey, writeKey] of [
    [
      'blkio.throttle.io_service_bytes_recursive',
      'blkio.throttle.io_service_bytes',
      'containerFsReadsBytes',
      'containerFsWritesBytes',
    ],
    [
      'blkio.throttle.io_serviced_recursive',
      'blkio.throttle.io_serviced',
      'containerFsReads',
      'containerFsWrites',
    ],
  ] as const) {
    const file = r.has(recursive) ? recursive : plain;
    const rw = r.parse(file, (t) => parseBlkio(file, t));
    r.set(readKey, rw?.read, file);
    r.set(writeKey, rw?.write, file);
  }

  r.set('containerThreads', r.single('pids.current'), 'pids.current');
  const pidsMax = r.single('pids.max');
  if (pidsMax !== undefined && Number.isFinite(pidsMax))
    r.set('containerThreadsMax', pidsMax, 'pids.max');
  // Per-cgroup PSI exists only in a cgroup2 hierarchy; on hybrid hosts the caller passes the
  // unified files when the container has its own (non-root) cgroup2 directory.
  r.pressure();
}

export function cgroupStats(
  version: 1 | 2,
  reads: ReadonlyMap<string, FsResult<string>>,
): CgroupStats {
  const r = new Reader(reads);
  if (version === 2) statsV2(r);
  else statsV1(r);
  return { version, values: r.values, problems: r.problems };
}
