// The simulated pod (examples/demo/simulated-pod.ts: `npm start` and the exporter suite)
// against a real pod on the real node: the same container layout (host cgroup paths, the
// container's own cgroup directories bound read-only), and the exporter seeing the same
// things in both — the same container families, the same limits, nothing degraded.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testCluster, type TestNamespace } from '../cluster/harness.ts';
import { startMonitoredPod, type MonitoredPod } from '../exporter/helpers/pod.ts';
import { containerPid } from './host.ts';
import {
  containerStatus,
  EXPORTER_PORT,
  httpGet,
  installChart,
  readyPods,
  sampleApp,
  samples,
  type PodView,
} from './support.ts';

const cluster = testCluster();
const EXPORTER = 'sidecar-monitor-exporter';
const MIB = 1024 * 1024;
const UID = 1000;

/**
 * What the exporter says about the watched container, with the container's name made
 * neutral: family names of its series, the limits it read, and what it could not read.
 * Requests, limits and probes from the operator's config are left out: they are not the
 * runtime's.
 */
function exporterView(
  text: string,
  container: string,
): {
  families: string[];
  memoryLimit: number | undefined;
  cpuQuota: number | undefined;
  cpuPeriod: number | undefined;
  degraded: string[];
  collectorsFailing: string[];
} {
  const lines = text.split('\n').filter((l) => l.startsWith('sidecar_monitor_'));
  const families = new Set<string>();
  for (const line of lines) {
    if (!line.includes(`container="${container}"`)) continue;
    const name = /^([a-z_]+)/.exec(line)?.[1] ?? '';
    if (/_(requests|limits)_|^sidecar_monitor_probe_|collector_degraded/.test(name)) continue;
    families.add(name);
  }
  const one = (name: string): number | undefined =>
    samples(text, name).find((s) => s.labels.container === container)?.value;
  return {
    families: [...families].sort(),
    memoryLimit: one('sidecar_monitor_container_spec_memory_limit_bytes'),
    cpuQuota: one('sidecar_monitor_container_spec_cpu_quota_seconds'),
    cpuPeriod: one('sidecar_monitor_container_spec_cpu_period_seconds'),
    degraded: samples(text, 'sidecar_monitor_collector_degraded')
      .filter((s) => s.labels.container === container && s.value === 1)
      .map((s) => `${s.labels.collector ?? ''}:${s.labels.reason ?? ''}`),
    collectorsFailing: samples(text, 'sidecar_monitor_scrape_collector_success')
      .filter((s) => s.value !== 1)
      .map((s) => s.labels.collector ?? ''),
  };
}

/** How a container process sees its cgroups: its own memory path, and what /sys/fs/cgroup holds. */
function layout(pid: number): { memoryPath: string; ownLimit: number; cgroupMountRo: boolean } {
  const memoryPath =
    readFileSync(`/proc/${String(pid)}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.split(':')[1]?.split(',').includes('memory'))
      ?.split(':')
      .slice(2)
      .join(':') ?? '';
  const ownLimit = Number(
    readFileSync(
      `/proc/${String(pid)}/root/sys/fs/cgroup/memory/memory.limit_in_bytes`,
      'utf8',
    ).trim(),
  );
  const mount = readFileSync(`/proc/${String(pid)}/mountinfo`, 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .findLast((f) => f[4] === '/sys/fs/cgroup/memory'); // the topmost: what the process sees
  return { memoryPath, ownLimit, cgroupMountRo: (mount?.[5] ?? '').split(',').includes('ro') };
}

describe('the simulated pod mirrors a real pod on this cgroup v1 host', () => {
  let ns: TestNamespace;
  let real: PodView;
  let simulated: MonitoredPod;
  let uninstall: () => Promise<void>;

  beforeAll(async () => {
    uninstall = await installChart(cluster, 'smon-sim', 'sidecar-monitor-sim');
    ns = await cluster.namespace('sim');
    await cluster.apply(
      sampleApp(cluster.info, {
        name: 'app',
        uid: UID,
        gid: UID,
        cpuLimit: '500m',
        memoryLimit: '256Mi',
      }),
      { namespace: ns.name },
    );
    await cluster.apply(
      {
        apiVersion: 'sidecarmonitor.io/v1alpha1',
        kind: 'SidecarMonitor',
        metadata: { name: 'app' },
        spec: { selector: { matchLabels: { 'app.kubernetes.io/name': 'app' } } },
      },
      { namespace: ns.name },
    );
    [real] = (await readyPods(
      cluster,
      ns.name,
      'app.kubernetes.io/name=app',
      1,
      (p) => containerStatus(p, EXPORTER)?.started === true,
    )) as [PodView];
    simulated = await startMonitoredPod({
      appUid: UID,
      exporterUid: UID,
      appLimits: { cpuCores: 0.5, memoryBytes: 256 * MIB },
    });
  });
  afterAll(async () => {
    await simulated.stop();
    await ns.delete();
    await uninstall();
  });

  test('the same cgroup layout: host paths, the own directory bound read-only', async () => {
    const realApp = await containerPid(
      cluster.info,
      containerStatus(real.object, 'web')?.containerID ?? '',
    );
    const realView = layout(realApp);
    const simView = layout(simulated.app.hostPid);
    // No cgroup namespace: the process sees the host's path of its cgroup...
    expect(realView.memoryPath).toMatch(/\/kubepods\/.+\/pod[0-9a-f-]+\/[0-9a-f]{64}$/);
    expect(simView.memoryPath).toMatch(/\/app$/);
    // ...and /sys/fs/cgroup/memory is its own directory, read-only.
    expect(realView.ownLimit).toBe(256 * MIB);
    expect(simView.ownLimit).toBe(256 * MIB);
    expect(realView.cgroupMountRo).toBe(true);
    expect(simView.cgroupMountRo).toBe(true);
  });

  test("the exporter's view of the watched container is the same in both", async () => {
    const realText = await cluster.waitFor('the real exporter to answer', async () => {
      const res = await httpGet(`http://${String(real.ip)}:${String(EXPORTER_PORT)}/metrics`);
      return res.status === 200 && res.body.includes('container="web"') ? res.body : undefined;
    });
    const simText = await cluster.waitFor('the simulated exporter to answer', async () => {
      const res = await httpGet(simulated.metricsUrl);
      return res.status === 200 && res.body.includes('container="app"') ? res.body : undefined;
    });
    const realView = exporterView(realText, 'web');
    const simView = exporterView(simText, 'app');
    expect(realView.families.length).toBeGreaterThan(20);
    expect(simView).toEqual(realView);
    expect(realView.degraded).toEqual([]);
    expect(realView.memoryLimit).toBe(256 * MIB);
  });
});
