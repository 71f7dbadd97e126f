import { describe, expect, it } from 'vitest';
import {
  below,
  cgroupFiles,
  locateCgroup,
  type CgroupView,
} from '../../../exporter/cgroup/locate.ts';
import { cgroupStats } from '../../../exporter/cgroup/stats.ts';
import { ParseError } from '../../../exporter/parse/errors.ts';
import { parseCgroupMounts, type CgroupMount } from '../../../exporter/parse/mountinfo.ts';
import { parseProcCgroup, type CgroupMembership } from '../../../exporter/parse/proc-cgroup.ts';
import { cgroupDir, cgroupDirs, fixture } from './fixtures.ts';

const E = 'elastic-agent-system-metrics';
const AMZN2_SCOPE =
  'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7a96c459_d529_44ae_9f99_90d3798d6426.slice/cri-containerd-1d3d308a7d48a27814a68bf33a44acf4441c9c02463ca0bc1cdfdc8c0b4a8496.scope';
const DOCKER_V2 = `${E}/docker/sys/fs/cgroup/system.slice/docker-1c8fa019edd4b9d4b2856f4932c55929c5c118c808ed5faee9a135ca6e84b039.scope`;

function memberships(path: string): CgroupMembership[] {
  const m = parseProcCgroup(fixture(path));
  if (m instanceof ParseError) throw m;
  return m;
}

describe('cgroup v2 stats', () => {
  it('reads a full v2 directory (telegraf)', () => {
    const { values, problems } = cgroupStats(2, cgroupDir('telegraf/cgroup/v2'));
    expect(problems).toEqual([]);
    expect(values).toEqual({
      containerCpuUsageSeconds: 98701.325189,
      containerCpuUserSeconds: 61355.716211,
      containerCpuSystemSeconds: 37345.608977,
      containerCpuCfsPeriods: 3936904,
      containerCpuCfsThrottledPeriods: 6004,
      containerCpuCfsThrottledSeconds: 19175.137007,
      // 4800000 µs per 100000 µs period: 48 CPUs.
      containerSpecCpuQuotaSeconds: 4.8,
      containerSpecCpuPeriodSeconds: 0.1,
      containerMemoryUsageBytes: 13071106048,
      // memory.current − inactive_file
      containerMemoryWorkingSetBytes: 13071106048 - 2935459840,
      containerMemoryRss: 2471755776,
      containerMemoryCache: 8532865024,
      containerMemorySwap: 0,
      containerSpecMemoryLimitBytes: 103079215104,
      containerOomEvents: 0,
      containerFsReadsBytes: 74526720,
      containerFsWritesBytes: 3789381632,
      containerFsReads: 2936,
      containerFsWrites: 181928,
      containerThreads: 592,
      containerThreadsMax: 629145,
      containerPressureCpuWaiting: 293.391454,
      containerPressureCpuStalled: 277.111656,
      containerPressureMemoryWaiting: 0.250773,
      containerPressureMemoryStalled: 0.250662,
      containerPressureIoWaiting: 185.1624,
      containerPressureIoStalled: 184.607952,
    });
  });

  it('leaves unlimited limits absent and counts OOM kills (docker v2 scope)', () => {
    const { values } = cgroupStats(2, cgroupDir(DOCKER_V2));
    expect(values.containerSpecMemoryLimitBytes).toBeUndefined();
    expect(values.containerSpecCpuQuotaSeconds).toBeUndefined();
    expect(values.containerOomEvents).toBe(1);
    expect(values.containerMemoryWorkingSetBytes).toBe(9125888 - 270336);
    expect(values.containerFsReadsBytes).toBe(512 + 1024);
    // cpu.pressure has only "some" here: no stalled series rather than a made-up zero.
    expect(values.containerPressureCpuWaiting).toBe(1.676316);
    expect(values.containerPressureCpuStalled).toBeUndefined();
  });

  it('reads a session scope with pids (docker2)', () => {
    const { values, problems } = cgroupStats(
      2,
      cgroupDir(`${E}/docker2/sys/fs/cgroup/user.slice/user-1000.slice/session-520.scope`),
    );
    expect(problems).toEqual([]);
    expect(values.containerThreads).toBeGreaterThan(0);
    expect(values.containerMemoryUsageBytes).toBeGreaterThan(0);
  });

  it('turns unreadable and malformed files into problems, never values', () => {
    const reads = cgroupDir('telegraf/cgroup/v2');
    reads.set('memory.stat', {
      ok: false,
      reason: 'permission_denied',
      error: new Error('EACCES'),
    });
    reads.set('cpu.stat', { ok: true, value: fixture('telegraf/cgroup/broken/malformed.file') });
    reads.set('io.pressure', { ok: false, reason: 'missing', error: new Error('ENOENT') });
    const { values, problems } = cgroupStats(2, reads);
    expect(values.containerMemoryWorkingSetBytes).toBeUndefined();
    expect(values.containerCpuUsageSeconds).toBeUndefined();
    expect(values.containerPressureIoWaiting).toBeUndefined();
    expect(values.containerMemoryUsageBytes).toBe(13071106048);
    expect(problems.map((p) => [p.file, p.reason])).toEqual([
      ['cpu.stat', 'parse_error'],
      ['memory.stat', 'permission_denied'],
    ]);
  });
});

describe('cgroup v1 stats', () => {
  it('reads an EKS container on v1 (cpu,cpuacct combined, plain blkio files)', () => {
    const base = `${E}/amzn2/sys/fs/cgroup`;
    const reads = cgroupDirs(
      `${base}/cpu,cpuacct/${AMZN2_SCOPE}`,
      `${base}/memory/${AMZN2_SCOPE}`,
      `${base}/blkio/${AMZN2_SCOPE}`,
      `${base}/pids/${AMZN2_SCOPE}`,
    );
    reads.set('blkio.throttle.io_service_bytes_recursive', {
      ok: false,
      reason: 'missing',
      error: new Error('ENOENT'),
    });
    const { values, problems } = cgroupStats(1, reads);
    expect(problems).toEqual([]);
    expect(values).toMatchObject({
      containerCpuUsageSeconds: 124659.500367,
      containerCpuUserSeconds: 108488.91,
      containerCpuSystemSeconds: 15165.02,
      containerCpuCfsPeriods: 0,
      containerMemoryUsageBytes: 1215860736,
      containerMemoryRss: 1119465472,
      containerMemoryCache: 78397440,
      containerMemorySwap: 0,
      containerSpecMemoryLimitBytes: 2147483648,
      containerFsReadsBytes: 3448832,
      containerFsWritesBytes: 25203200,
      containerThreads: 177,
    });
    expect(values.containerSpecCpuQuotaSeconds).toBeUndefined();
    expect(values.containerThreadsMax).toBeUndefined();
    expect(values.containerMemoryWorkingSetBytes).toBeGreaterThan(0);
    // No PSI on v1: absent, not host-wide values.
    expect(values.containerPressureCpuWaiting).toBeUndefined();
  });

  it('treats the 2^63 "unlimited" memory limit as absent and rejects negatives', () => {
    const reads = cgroupDir('telegraf/cgroup/memory');
    reads.set('memory.limit_in_bytes', { ok: true, value: '9223372036854771712\n' });
    const { values, problems } = cgroupStats(1, reads);
    expect(values.containerSpecMemoryLimitBytes).toBeUndefined();
    expect(values.containerMemoryUsageBytes).toBe(3513667584);
    expect(problems).toEqual([]);
    reads.set('cpuacct.usage', { ok: true, value: '-5\n' });
    expect(cgroupStats(1, reads).problems.map((p) => p.reason)).toEqual(['parse_error']);
  });

  it('uses the unified files for PSI on hybrid hosts', () => {
    const reads = cgroupDir('telegraf/cgroup/memory');
    reads.set('cpu.pressure', { ok: true, value: fixture('telegraf/cgroup/v2/cpu.pressure') });
    expect(cgroupStats(1, reads).values.containerPressureCpuWaiting).toBe(293.391454);
  });
});

const v1 = (
  controllers: string[],
  root = '/',
  mountPoint = `/sys/fs/cgroup/${controllers.join(',')}`,
): CgroupMount => ({
  version: 1,
  root,
  mountPoint,
  controllers,
});
const v2 = (root = '/', mountPoint = '/sys/fs/cgroup'): CgroupMount => ({
  version: 2,
  root,
  mountPoint,
  controllers: [],
});

describe('locating a container cgroup', () => {
  it('below(): the part of a path under a mount root', () => {
    expect(below('/a/b', '/')).toBe('/a/b');
    expect(below('/a/b', '/a/b')).toBe('');
    expect(below('/a/b/c', '/a/b')).toBe('/c');
    expect(below('/a/bc', '/a/b')).toBeUndefined();
  });

  it('v1 without cgroup namespaces: host-wide mounts, long paths (EKS fixture)', () => {
    const view: CgroupView = {
      prefix: '/proc/42/root',
      mounts: [
        v1(['cpu', 'cpuacct']),
        v1(['memory']),
        v1(['pids']),
        v1(['blkio']),
        v1([], '/', '/sys/fs/cgroup/systemd'),
      ],
    };
    const loc = locateCgroup(memberships(`${E}/amzn2/proc/493239/cgroup`), view);
    expect(loc).toEqual({
      version: 1,
      v1: {
        cpu: `/proc/42/root/sys/fs/cgroup/cpu,cpuacct/${AMZN2_SCOPE}`,
        cpuacct: `/proc/42/root/sys/fs/cgroup/cpu,cpuacct/${AMZN2_SCOPE}`,
        memory: `/proc/42/root/sys/fs/cgroup/memory/${AMZN2_SCOPE}`,
        pids: `/proc/42/root/sys/fs/cgroup/pids/${AMZN2_SCOPE}`,
        blkio: `/proc/42/root/sys/fs/cgroup/blkio/${AMZN2_SCOPE}`,
      },
    });
    // The unified line is "/" (the root): never used, even for PSI.
    expect(loc?.unified).toBeUndefined();
  });

  it('v1 with a bind mount of the container cgroup (docker style: root is the container path)', () => {
    const m = memberships(`${E}/docker/proc/985/cgroup`);
    const id = '/docker/b29faf21b7eff959f64b4192c34d5d67a707fe8561e9eaa608cb27693fba4242';
    const loc = locateCgroup(m, {
      prefix: '/proc/7/root',
      mounts: [v1(['memory'], id), v1(['cpuacct'], id)],
    });
    expect(loc?.v1).toEqual({
      memory: '/proc/7/root/sys/fs/cgroup/memory',
      cpuacct: '/proc/7/root/sys/fs/cgroup/cpuacct',
    });
  });

  it('v2 with cgroup namespaces: paths relative to the reader, the mount root is the container', () => {
    const m = memberships(`${E}/docker2/proc/2233801/cgroup`);
    const path = '/../../user-1000.slice/session-520.scope';
    const loc = locateCgroup(m, { prefix: '/proc/9/root', mounts: [v2(path)] });
    expect(loc).toEqual({ version: 2, unified: '/proc/9/root/sys/fs/cgroup', v1: {} });
    expect(cgroupFiles(loc!).map(([name]) => name)).toContain('memory.stat');
    // The exporter's own view does not show a sibling outside its namespace.
    expect(locateCgroup(m, { prefix: '', mounts: [v2('/')] })).toEqual({
      version: 2,
      unified: '/sys/fs/cgroup/../../user-1000.slice/session-520.scope',
      v1: {},
    });
    expect(locateCgroup(m, { prefix: '', mounts: [v2('/kubepods/me')] })).toBeUndefined();
  });

  it("hybrid: controllers from v1, PSI from the container's own unified cgroup", () => {
    const m = memberships(`${E}/ubuntu1804/proc/3757/cgroup`);
    const loc = locateCgroup(m, {
      prefix: '',
      mounts: [v1(['cpu', 'cpuacct']), v1(['memory']), v2('/', '/sys/fs/cgroup/unified')],
    });
    expect(loc?.version).toBe(1);
    expect(loc?.unified).toBe('/sys/fs/cgroup/unified/system.slice/networkd-dispatcher.service');
    expect(cgroupFiles(loc!).map(([name]) => name)).toEqual(
      expect.arrayContaining(['cpuacct.usage', 'memory.stat', 'cpu.pressure']),
    );
  });

  it('a process in the root cgroup has no container cgroup', () => {
    const m = memberships(`${E}/amzn2/proc/1/cgroup`);
    expect(
      locateCgroup(m, { prefix: '', mounts: [v1(['memory']), v1(['cpu', 'cpuacct'])] }),
    ).toBeUndefined();
    expect(
      locateCgroup(memberships('automaxprocs/proc/v2/cgroup-root'), { prefix: '', mounts: [v2()] }),
    ).toBeUndefined();
  });

  it("locates from this machine's real mountinfo", async () => {
    const { readFile } = await import('node:fs/promises');
    const mounts = parseCgroupMounts(await readFile('/proc/self/mountinfo', 'utf8'));
    const mine = parseProcCgroup(await readFile('/proc/self/cgroup', 'utf8'));
    if (mounts instanceof ParseError || mine instanceof ParseError) throw new Error('unparsable');
    const loc = locateCgroup(mine, { prefix: '', mounts });
    // This host runs the memory controller on v1 with this process in a non-root cgroup.
    expect(loc?.version).toBe(1);
    expect(loc?.v1.memory).toMatch(/^\/sys\/fs\/cgroup\/memory\/.+/);
  });
});

describe('cgroup stats edge cases found by fuzzing', () => {
  it('never turns "max" in a usage file into an infinite value', () => {
    const reads = cgroupDir('telegraf/cgroup/v2');
    reads.set('memory.current', { ok: true, value: 'max\n' });
    const { values, problems } = cgroupStats(2, reads);
    expect(values.containerMemoryUsageBytes).toBeUndefined();
    expect(values.containerMemoryWorkingSetBytes).toBeUndefined();
    expect(problems.map((p) => p.file)).toEqual(['memory.current']);
  });
});
