// The exporter in a simulated pod: shared PID namespace, its own and the app's own mount and
// cgroup namespaces, both non-root without capabilities. Real processes, real cgroups.

import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import {
  APP_UID,
  OTHER_UID,
  eventually,
  startMonitoredPod,
  type MonitoredPod,
} from './helpers/pod.ts';

const MIB = 1024 * 1024;
const M = METRICS;

describe('exporter in a pod, same uid as the app', () => {
  let p: MonitoredPod;
  beforeAll(async () => {
    p = await startMonitoredPod({
      // The cgroup v2 layout (a private cgroup namespace over the container's own cgroup2
      // directory): every family, PSI included, has a value there. On this v1 host runc
      // mounts no cgroup2 in the container (test/e2e/simulated-vs-real.test.ts).
      cgroupNamespace: 'private',
      appLimits: { memoryBytes: 1024 * MIB, pids: 500 },
      config: (port) => ({
        version: 1,
        workload: { kind: 'Deployment', namespace: 'shop', name: 'cart', monitor: 'cart-monitor' },
        targets: [
          {
            name: 'app',
            requests: { cpuCores: 0.25, memoryBytes: 128 * MIB },
            limits: { memoryBytes: 1024 * MIB },
          },
        ],
        probes: [
          {
            type: 'http',
            name: 'healthz',
            source: 'readinessProbe',
            container: 'app',
            port,
            path: '/healthz',
            scheme: 'HTTP',
            headers: [],
            intervalSeconds: 1,
            timeoutSeconds: 1,
            insecureSkipVerify: false,
          },
          {
            type: 'http',
            name: 'missing',
            source: 'monitor',
            port,
            path: '/nope',
            scheme: 'HTTP',
            headers: [{ name: 'Accept', value: 'text/plain' }],
            intervalSeconds: 1,
            timeoutSeconds: 1,
            insecureSkipVerify: false,
          },
          {
            type: 'tcp',
            name: 'port',
            source: 'livenessProbe',
            container: 'app',
            port,
            intervalSeconds: 1,
            timeoutSeconds: 1,
          },
        ],
      }),
    });
  });
  afterAll(async () => {
    await (p as MonitoredPod | undefined)?.stop();
  });

  it('finds the app by its SIDECAR_MONITOR_CONTAINER name and never counts itself or the pause process', async () => {
    const m = await p.scrape();
    expect(m.labelValues(M.containerProcesses.name, 'container')).toEqual(['app']);
    expect(m.value(M.containerProcesses.name, { container: 'app' })).toBe(1);
    for (const name of [M.processCpuSeconds.name, M.containerMemoryUsageBytes.name])
      expect(m.labelValues(name, 'container')).toEqual(['app']);
    for (const collector of ['discovery', 'cgroup', 'process'])
      expect(m.value(M.scrapeCollectorSuccess.name, { collector })).toBe(1);
    expect(m.all(M.collectorDegraded.name)).toEqual([]);
  });

  it('reads the container cgroup: limits, PSI of its own cgroup2 directory, the spec from the config', async () => {
    const m = await p.scrape();
    const app = { container: 'app' };
    expect(m.value(M.containerSpecMemoryLimitBytes.name, app)).toBe(1024 * MIB);
    expect(m.value(M.containerThreadsMax.name, app)).toBe(500);
    expect(m.value(M.containerThreads.name, app)).toBeGreaterThanOrEqual(1);
    expect(m.get(M.containerPressureCpuWaiting.name, app)).toBeGreaterThanOrEqual(0);
    expect(m.value(M.containerRequestsCpuCores.name, app)).toBe(0.25);
    expect(m.value(M.containerRequestsMemoryBytes.name, app)).toBe(128 * MIB);
    expect(m.value(M.containerLimitsMemoryBytes.name, app)).toBe(1024 * MIB);
    expect(m.get(M.containerLimitsCpuCores.name, app)).toBeUndefined();
    expect(m.all(M.workloadInfo.name)[0]?.labels).toEqual({
      workload_kind: 'Deployment',
      workload_namespace: 'shop',
      workload_name: 'cart',
      monitor: 'cart-monitor',
    });
    // The values are the kernel's: compare with the cgroup file read directly from the host.
    const hostUsage = Number(
      await readFile(`${p.pod.cgroupDir('app', 'memory')}/memory.usage_in_bytes`, 'utf8'),
    );
    expect(Math.abs(m.value(M.containerMemoryUsageBytes.name, app) - hostUsage)).toBeLessThan(
      8 * MIB,
    );
  });

  it('CPU seconds grow by roughly the busy time, matching the kernel counter', async () => {
    const cpuacct = `${p.pod.cgroupDir('app', 'cpuacct')}/cpuacct.usage`;
    const before = await p.scrape();
    const c0 = before.value(M.containerCpuUsageSeconds.name, { container: 'app' });
    const p0 = before.sum(M.processCpuSeconds.name, { container: 'app' });
    await p.appGet('/work?cpu_ms=2000');
    const after = await p.scrape();
    const kernel = Number(await readFile(cpuacct, 'utf8')) / 1e9;
    const c1 = after.value(M.containerCpuUsageSeconds.name, { container: 'app' });
    const p1 = after.sum(M.processCpuSeconds.name, { container: 'app' });
    // The app used 2 s of CPU time (however long that took on this shared machine), plus
    // whatever else it did meanwhile: generous bounds, not a timing assertion.
    expect(c1 - c0).toBeGreaterThan(1.9);
    expect(c1 - c0).toBeLessThan(3.5);
    expect(p1 - p0).toBeGreaterThan(1.9);
    expect(p1 - p0).toBeLessThan(3.5);
    expect(kernel - c1).toBeGreaterThanOrEqual(0);
    expect(kernel - c1).toBeLessThan(0.5);
  });

  it('allocating 200 MiB raises the working set and RSS by most of that', async () => {
    const app = { container: 'app' };
    const before = await p.scrape();
    await p.appGet('/hold?mb=200');
    const after = await p.scrape();
    const ws =
      after.value(M.containerMemoryWorkingSetBytes.name, app) -
      before.value(M.containerMemoryWorkingSetBytes.name, app);
    const rss =
      after.value(M.processResidentMemoryBytes.name, app) -
      before.value(M.processResidentMemoryBytes.name, app);
    expect(ws).toBeGreaterThan(0.8 * 200 * MIB);
    expect(ws).toBeLessThan(1.3 * 200 * MIB);
    expect(rss).toBeGreaterThan(0.8 * 200 * MIB);
    expect(after.value(M.containerMemoryRss.name, app)).toBeGreaterThan(200 * MIB);
    await p.appGet('/release');
  });

  it('counts 50 more processes, and their CPU stays counted after they exit', async () => {
    await p.appGet('/spawn?n=50');
    const m = await p.scrape();
    expect(m.value(M.containerProcesses.name, { container: 'app' })).toBe(51);
    expect(m.value(M.processThreads.name, { container: 'app' })).toBeGreaterThanOrEqual(51);
    expect(m.value(M.processOpenFds.name, { container: 'app' })).toBeGreaterThan(50);
    const cpu = m.sum(M.processCpuSeconds.name, { container: 'app' });
    const switches = m.sum(M.processContextSwitches.name, { container: 'app' });
    await p.appGet('/unspawn');
    const later = await eventually(async () => {
      const s = await p.scrape();
      return s.value(M.containerProcesses.name, { container: 'app' }) === 1 ? s : undefined;
    }, 'the children to exit');
    expect(later.sum(M.processCpuSeconds.name, { container: 'app' })).toBeGreaterThanOrEqual(cpu);
    expect(later.sum(M.processContextSwitches.name, { container: 'app' })).toBeGreaterThanOrEqual(
      switches,
    );
  });

  it('probes the app on loopback on their own schedule', async () => {
    const m = await eventually(async () => {
      const s = await p.scrape();
      const ready = ['healthz', 'missing', 'port'].every(
        (probe) => s.get(M.probeSuccess.name, { probe }) !== undefined,
      );
      return ready &&
        (s.get(M.probeFailures.name, { probe: 'missing', reason: 'bad_status' }) ?? 0) >= 1
        ? s
        : undefined;
    }, 'three probe results');
    expect(m.value(M.probeSuccess.name, { probe: 'healthz' })).toBe(1);
    expect(m.value(M.probeStatusCode.name, { probe: 'healthz' })).toBe(200);
    expect(m.value(M.probeSuccess.name, { probe: 'missing' })).toBe(0);
    expect(m.value(M.probeStatusCode.name, { probe: 'missing' })).toBe(404);
    expect(m.value(M.probeSuccess.name, { probe: 'port' })).toBe(1);
    expect(
      m.value(`${M.probeDurationSeconds.name}_count`, { probe: 'healthz' }),
    ).toBeGreaterThanOrEqual(1);
    for (const phase of ['connect', 'first_byte', 'total'])
      expect(
        m.value(M.probePhaseDurationSeconds.name, { probe: 'healthz', phase }),
      ).toBeGreaterThan(0);
    expect(m.all(M.probeInfo.name, { probe: 'healthz' })[0]?.labels).toEqual({
      probe: 'healthz',
      type: 'http',
      container: 'app',
      source: 'readinessProbe',
    });
    // The only healthz failures possible are timeouts while the CPU test blocked the app's
    // event loop for 2 s.
    expect(m.labelValues(M.probeFailures.name, 'reason')).toEqual(
      expect.arrayContaining(['bad_status']),
    );
    for (const s of m.all(M.probeFailures.name, { probe: 'healthz' }))
      expect(s.labels.reason).toBe('timeout');
  });

  it('runs as the pod user with no capabilities', async () => {
    const status = await readFile(`/proc/${p.exporter.hostPid}/status`, 'utf8');
    expect(status).toMatch(
      new RegExp(`^Uid:\\s+${APP_UID}\\s+${APP_UID}\\s+${APP_UID}\\s+${APP_UID}$`, 'm'),
    );
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^CapBnd:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
  });
});

describe('exporter in a pod, app under another uid', () => {
  let p: MonitoredPod;
  beforeAll(async () => {
    p = await startMonitoredPod({ appUid: OTHER_UID, exporterUid: APP_UID });
  });
  afterAll(async () => {
    await (p as MonitoredPod | undefined)?.stop();
  });

  it('degrades cleanly: world-readable series stay, protected ones are absent and say why', async () => {
    const m = await p.scrape();
    // environ is unreadable: a stable fallback name from the command, never a pid.
    expect(m.labelValues(M.containerProcesses.name, 'container')).toEqual(['unknown-node']);
    const c = { container: 'unknown-node' };
    for (const collector of ['discovery', 'cgroup', 'process']) {
      expect(
        m.value(M.collectorDegraded.name, { collector, ...c, reason: 'permission_denied' }),
      ).toBe(1);
      expect(m.value(M.scrapeCollectorSuccess.name, { collector })).toBe(1);
    }
    // /proc/<pid>/stat and status are world-readable.
    expect(m.sum(M.processCpuSeconds.name, c)).toBeGreaterThan(0);
    expect(m.value(M.processResidentMemoryBytes.name, c)).toBeGreaterThan(10 * MIB);
    // /proc/<pid>/io and /proc/<pid>/root are not.
    expect(m.get(M.processReadBytes.name, c)).toBeUndefined();
    expect(m.all(M.containerMemoryWorkingSetBytes.name)).toEqual([]);
    expect(m.all(M.containerCpuUsageSeconds.name)).toEqual([]);
    // The configured target's spec is still known.
    expect(m.labelValues(M.containerProcesses.name, 'container')).not.toContain('app');
  });
});
