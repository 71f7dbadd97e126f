import { describe, expect, it } from 'vitest';
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
import {
  controllerPath,
  parseProcCgroup,
  unifiedPath,
} from '../../../exporter/parse/proc-cgroup.ts';
import { parseProcIo } from '../../../exporter/parse/proc-io.ts';
import { parseProcLimits } from '../../../exporter/parse/proc-limits.ts';
import { parseProcStat } from '../../../exporter/parse/proc-stat.ts';
import { parseProcStatus } from '../../../exporter/parse/proc-status.ts';
import { parseBootTime } from '../../../exporter/parse/system-stat.ts';
import { fixture } from './fixtures.ts';

const AMZN2 =
  '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7a96c459_d529_44ae_9f99_90d3798d6426.slice/cri-containerd-1d3d308a7d48a27814a68bf33a44acf4441c9c02463ca0bc1cdfdc8c0b4a8496.scope';

describe('/proc/<pid>/stat', () => {
  it('reads a normal process', () => {
    expect(parseProcStat(fixture('prometheus-procfs/proc/26231/stat'))).toMatchObject({
      pid: 26231,
      comm: 'vim',
      state: 'R',
      ppid: 5392,
      kernelThread: false,
      utimeTicks: 1677,
      stimeTicks: 44,
      numThreads: 1,
      startTimeTicks: 82375,
      vsizeBytes: 56274944,
      rssPages: 1981,
    });
  });

  it('takes comm up to the last parenthesis, with spaces and a second line after it', () => {
    const stat = parseProcStat(fixture('prometheus-procfs/proc/584/stat'));
    expect(stat).toMatchObject({ pid: 1020, comm: '(a b ) ( c d) ', state: 'R', ppid: 28378 });
  });

  it('survives int64 extremes and flags kernel threads', () => {
    const stat = parseProcStat(fixture('prometheus-procfs/proc/26232/stat'));
    expect(stat).toMatchObject({ comm: 'ata_sff', ppid: 2, kernelThread: true, startTimeTicks: 5 });
    expect(parseProcStat(fixture('node-exporter/proc/11/stat'))).toMatchObject({
      state: 'I',
      kernelThread: true,
    });
  });

  it('reads a file without a trailing newline', () => {
    expect(parseProcStat(fixture('node-exporter/proc/10/stat'))).toMatchObject({
      pid: 17,
      comm: 'khungtaskd',
      utimeTicks: 14,
    });
  });

  it('rejects truncated and garbled files with a ParseError', () => {
    const full = fixture('prometheus-procfs/proc/26231/stat');
    expect(parseProcStat(full.slice(0, 40))).toBeInstanceOf(ParseError);
    expect(parseProcStat('')).toBeInstanceOf(ParseError);
    expect(parseProcStat(full.replace('1677', 'x677'))).toBeInstanceOf(ParseError);
    expect(parseProcStat('12 (a) R')).toBeInstanceOf(ParseError);
  });
});

describe('/proc/<pid>/status', () => {
  it('reads memory, threads, ids and context switches; starts with an empty line', () => {
    expect(parseProcStatus(fixture('prometheus-procfs/proc/26231/status'))).toEqual({
      name: 'prometheus',
      uids: [1000, 1000, 1000, 0],
      gids: [1001, 1001, 1001, 0],
      vmRssBytes: 6716 * 1024,
      vmSwapBytes: 660 * 1024,
      threads: 1,
      voluntaryCtxtSwitches: 4742839,
      nonvoluntaryCtxtSwitches: 1727500,
    });
  });

  it('reads a newer kernel (pause, Kthread, untag_mask) and mixed separators', () => {
    expect(parseProcStatus(fixture('gopsutil/proc/23819/status'))).toMatchObject({
      name: 'pause',
      uids: [4061200383, 4061200383, 4061200383, 4061200383],
      vmRssBytes: 0,
      voluntaryCtxtSwitches: 23,
    });
    const mixed = parseProcStatus(fixture('prometheus-procfs/proc/26235/status'));
    expect(mixed).not.toBeInstanceOf(ParseError);
  });

  it('rejects lines without a key and bad numbers', () => {
    expect(parseProcStatus('garbage')).toBeInstanceOf(ParseError);
    expect(parseProcStatus('VmRSS:\tlots kB\n')).toBeInstanceOf(ParseError);
    expect(parseProcStatus('')).toBeInstanceOf(ParseError);
  });
});

describe('/proc/<pid>/io, limits', () => {
  it('reads io and tolerates a negative cancelled_write_bytes', () => {
    expect(parseProcIo(fixture('prometheus-procfs/proc/26231/io'))).toEqual({
      readBytes: 1024,
      writeBytes: 2048,
    });
    expect(parseProcIo('rchar: 1\n')).toBeInstanceOf(ParseError);
    expect(parseProcIo('read_bytes: -1\nwrite_bytes: 0\n')).toBeInstanceOf(ParseError);
  });

  it('reads the open files limit, with the kernel trailing spaces', () => {
    expect(parseProcLimits(fixture('prometheus-procfs/proc/26231/limits'))).toEqual({
      openFilesSoft: 2048,
      openFilesHard: 4096,
    });
    expect(parseProcLimits(fixture('cadvisor/proc/limits'))).toEqual({
      openFilesSoft: 1073741816,
      openFilesHard: 1073741816,
    });
    expect(parseProcLimits('Max open files unlimited unlimited files')).toEqual({
      openFilesSoft: Infinity,
      openFilesHard: Infinity,
    });
    expect(parseProcLimits('Max open files lots 1')).toBeInstanceOf(ParseError);
  });
});

describe('/proc/<pid>/cgroup', () => {
  it('reads v1 lines with controller lists and the v2 line', () => {
    const m = parseProcCgroup(fixture('elastic-agent-system-metrics/amzn2/proc/493239/cgroup'));
    if (m instanceof ParseError) throw m;
    expect(m).toHaveLength(12);
    expect(controllerPath(m, 'cpuacct')).toBe(AMZN2);
    expect(controllerPath(m, 'memory')).toBe(AMZN2);
    expect(unifiedPath(m)).toBe('/');
  });

  it('reads a pure v2 file without a trailing newline and a path relative to a namespace', () => {
    const m = parseProcCgroup(fixture('elastic-agent-system-metrics/docker2/proc/2233801/cgroup'));
    if (m instanceof ParseError) throw m;
    expect(unifiedPath(m)).toBe('/../../user-1000.slice/session-520.scope');
    expect(controllerPath(m, 'memory')).toBeUndefined();
  });

  it('reads hybrid files and named hierarchies', () => {
    const m = parseProcCgroup(fixture('elastic-agent-system-metrics/ubuntu1804/proc/3757/cgroup'));
    if (m instanceof ParseError) throw m;
    expect(controllerPath(m, 'cpu')).toBe('/system.slice/networkd-dispatcher.service');
    expect(unifiedPath(m)).toBe('/system.slice/networkd-dispatcher.service');
    const noMatch = parseProcCgroup(fixture('automaxprocs/proc/v2/cgroup-no-match'));
    if (noMatch instanceof ParseError) throw noMatch;
    expect(unifiedPath(noMatch)).toBeUndefined();
  });

  it('rejects invalid lines', () => {
    expect(parseProcCgroup(fixture('automaxprocs/proc/v2/cgroup-invalid'))).toBeInstanceOf(
      ParseError,
    );
    expect(parseProcCgroup(fixture('automaxprocs/proc/invalid-cgroup/cgroup'))).toBeInstanceOf(
      ParseError,
    );
    expect(parseProcCgroup('')).toBeInstanceOf(ParseError);
  });
});

describe('mountinfo', () => {
  it('finds v1 and v2 cgroup mounts, controllers from the super options, escaped paths', () => {
    const text = [
      '22 27 0:21 / /proc rw,relatime - proc proc rw',
      '30 29 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct',
      '31 29 0:27 /kubepods/pod1/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory',
      '32 29 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
      '33 29 0:29 /../app /sys/fs/cgroup/unified\\040dir rw shared:10 - cgroup2 cgroup2 rw,nsdelegate',
    ].join('\n');
    expect(parseCgroupMounts(text)).toEqual([
      {
        version: 1,
        root: '/',
        mountPoint: '/sys/fs/cgroup/cpu,cpuacct',
        controllers: ['cpu', 'cpuacct'],
      },
      {
        version: 1,
        root: '/kubepods/pod1/abc',
        mountPoint: '/sys/fs/cgroup/memory',
        controllers: ['memory'],
      },
      { version: 1, root: '/', mountPoint: '/sys/fs/cgroup/systemd', controllers: [] },
      { version: 2, root: '/../app', mountPoint: '/sys/fs/cgroup/unified dir', controllers: [] },
    ]);
  });

  it('drops mounts hidden by a later mount at the same or a parent mount point', () => {
    // What a container with its own cgroup namespace shows: the host mounts it inherited,
    // covered by a tmpfs at /sys/fs/cgroup and its own cgroups mounted on top.
    const text = [
      '71 70 0:29 /../.. /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
      '74 70 0:32 /../../../.. /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '86 70 0:40 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '87 86 0:29 /../app /sys/fs/cgroup/cpu ro,relatime - cgroup cgroup rw,cpu',
      '89 86 0:32 /../app /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory',
    ].join('\n');
    expect(parseCgroupMounts(text)).toEqual([
      { version: 1, root: '/../app', mountPoint: '/sys/fs/cgroup/cpu', controllers: ['cpu'] },
      { version: 1, root: '/../app', mountPoint: '/sys/fs/cgroup/memory', controllers: ['memory'] },
    ]);
  });

  it("reads this machine's own mountinfo", async () => {
    const { readFile } = await import('node:fs/promises');
    const mounts = parseCgroupMounts(await readFile('/proc/self/mountinfo', 'utf8'));
    if (mounts instanceof ParseError) throw mounts;
    expect(mounts.some((m) => m.version === 1 && m.controllers.includes('memory'))).toBe(true);
  });
});

describe('cgroup interface files', () => {
  it('reads flat keyed files', () => {
    const stat = parseFlatKeyed('memory.stat', fixture('telegraf/cgroup/v2/memory.stat'));
    if (stat instanceof ParseError) throw stat;
    expect(stat.get('inactive_file')).toBe(2935459840);
    // A 19-digit value keeps its magnitude; a negative one parses (callers reject negatives).
    const odd = parseFlatKeyed('memory.stat', fixture('telegraf/cgroup/memory/memory.stat'));
    if (odd instanceof ParseError) throw odd;
    expect(odd.get('cache')).toBeCloseTo(1739362304123123123, -5);
    expect(odd.get('dirty')).toBe(-307200);
    expect(parseFlatKeyed('x', fixture('telegraf/cgroup/broken/malformed.file'))).toBeInstanceOf(
      ParseError,
    );
    expect(parseFlatKeyed('x', fixture('telegraf/cgroup/memory/memory.empty'))).toEqual(new Map());
  });

  it('reads single values, "max" as unlimited, and rejects multi-line files', () => {
    expect(parseSingleValue('memory.max', fixture('telegraf/cgroup/v2/memory.max'))).toBe(
      103079215104,
    );
    expect(parseSingleValue('memory.high', fixture('telegraf/cgroup/v2/memory.high'))).toBe(
      Infinity,
    );
    expect(
      parseSingleValue('x', fixture('telegraf/cgroup/memory/memory.max_usage_in_bytes')),
    ).toBeInstanceOf(ParseError);
    expect(parseSingleValue('x', fixture('telegraf/cgroup/memory/memory.empty'))).toBeInstanceOf(
      ParseError,
    );
    expect(parseSingleValue('x', fixture('telegraf/cgroup/cpu/cpu.cfs_quota_us'))).toBe(-1);
  });

  it('reads cpu.max in every upstream variant', () => {
    const v2 = 'automaxprocs/cgroups/v2/';
    expect(parseCpuMax(fixture(`${v2}set`))).toEqual({ quotaMicros: 250000, periodMicros: 100000 });
    expect(parseCpuMax(fixture(`${v2}unset`))).toEqual({
      quotaMicros: Infinity,
      periodMicros: 100000,
    });
    expect(parseCpuMax(fixture(`${v2}only-max`))).toEqual({
      quotaMicros: 500000,
      periodMicros: 100000,
    });
    for (const bad of [
      'empty',
      'invalid-max',
      'invalid-period',
      'too-few-fields',
      'too-many-fields',
      'zero-period',
    ])
      expect(parseCpuMax(fixture(`${v2}${bad}`)), bad).toBeInstanceOf(ParseError);
    expect(parseCpuMax(fixture('telegraf/cgroup/v2/cpu.max'))).toEqual({
      quotaMicros: 4800000,
      periodMicros: 100000,
    });
  });

  it('reads v1 quota and period, -1 as unlimited', () => {
    const dir = (d: string, f: string) => fixture(`automaxprocs/cgroups/${d}/${f}`);
    expect(cpuQuotaV1(dir('cpu', 'cpu.cfs_quota_us'), dir('cpu', 'cpu.cfs_period_us'))).toEqual({
      quotaMicros: 600000,
      periodMicros: 100000,
    });
    expect(
      cpuQuotaV1(dir('undefined', 'cpu.cfs_quota_us'), dir('undefined', 'cpu.cfs_period_us')),
    ).toEqual({
      quotaMicros: Infinity,
      periodMicros: 100000,
    });
    expect(
      cpuQuotaV1(dir('zero-period', 'cpu.cfs_quota_us'), dir('zero-period', 'cpu.cfs_period_us')),
    ).toBeInstanceOf(ParseError);
    expect(cpuQuotaV1(dir('invalid', 'cpu.cfs_quota_us'), '100000')).toBeInstanceOf(ParseError);
    expect(cpuQuotaV1(dir('empty', 'cpu.cfs_quota_us'), '100000')).toBeInstanceOf(ParseError);
  });

  it('reads PSI with only some, only full (no newline), or both', () => {
    expect(parsePressure('cpu', fixture('prometheus-procfs/proc/pressure/cpu'))).toEqual({
      someMicros: 15,
    });
    expect(parsePressure('irq', fixture('node-exporter/proc/pressure/irq'))).toEqual({
      fullMicros: 8494,
    });
    expect(parsePressure('cpu', fixture('telegraf/cgroup/v2/cpu.pressure'))).toEqual({
      someMicros: 293391454,
      fullMicros: 277111656,
    });
    expect(parsePressure('cpu', 'some total=1')).toBeInstanceOf(ParseError);
    expect(parsePressure('cpu', '')).toBeInstanceOf(ParseError);
  });

  it('sums io.stat and blkio over devices', () => {
    expect(parseIoStat(fixture('telegraf/cgroup/v2/io.stat'))).toEqual({
      readBytes: 74526720,
      writeBytes: 3789381632,
      reads: 2936,
      writes: 181928,
    });
    expect(parseIoStat('')).toEqual({ readBytes: 0, writeBytes: 0, reads: 0, writes: 0 });
    expect(parseIoStat('8:0 rbytes=x')).toBeInstanceOf(ParseError);
    expect(parseBlkio('b', fixture('telegraf/cgroup/blkio/blkio.throttle.io_serviced'))).toEqual({
      // 8:0 plus sixteen loop devices with 3 reads each.
      read: 49134 + 16 * 3,
      write: 216703,
    });
    expect(parseBlkio('b', 'Total 0\n')).toEqual({ read: 0, write: 0 });
    expect(parseBlkio('b', '8:0 Read x\n')).toBeInstanceOf(ParseError);
  });
});

describe('environ and /proc/stat', () => {
  it('finds a variable among NUL-separated entries, the last one winning', () => {
    const env = 'PATH=/bin\0SIDECAR_MONITOR_CONTAINER=app\0X=1\0SIDECAR_MONITOR_CONTAINER=web\0';
    expect(environValue(env, 'SIDECAR_MONITOR_CONTAINER')).toBe('web');
    expect(environValue(env, 'NOPE')).toBeUndefined();
    expect(
      environValue('XSIDECAR_MONITOR_CONTAINER=app', 'SIDECAR_MONITOR_CONTAINER'),
    ).toBeUndefined();
  });

  it('reads btime', () => {
    expect(parseBootTime(fixture('prometheus-procfs/proc/stat'))).toBe(1418183276);
    expect(parseBootTime('cpu 1 2 3')).toBeInstanceOf(ParseError);
  });
});
