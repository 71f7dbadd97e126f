// A real Prometheus scrapes the exporter in a simulated pod; promtool lints its output; the
// output matches the metric catalog that dashboards and alerts are built from.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS, METRIC_LIST, metricByName } from '../../exporter/metrics/catalog.ts';
import { Metrics } from './helpers/metrics.ts';
import { eventually, startMonitoredPod, type MonitoredPod } from './helpers/pod.ts';
import {
  promtoolCheckMetrics,
  startPrometheus,
  type PrometheusServer,
} from './helpers/prometheus.ts';

const MIB = 1024 * 1024;
let p: MonitoredPod;
let prometheus: PrometheusServer;

beforeAll(async () => {
  p = await startMonitoredPod({
    // The cgroup v2 layout (a private cgroup namespace over the container's own cgroup2
    // directory): every family, PSI included, has a value there. On this v1 host runc
    // mounts no cgroup2 in the container (test/e2e/simulated-vs-real.test.ts).
    cgroupNamespace: 'private',
    appLimits: { memoryBytes: 512 * MIB, cpuCores: 1.5, pids: 200 },
    config: (port) => ({
      version: 1,
      workload: { kind: 'StatefulSet', namespace: 'db', name: 'pg', monitor: 'pg' },
      targets: [
        {
          name: 'app',
          requests: { cpuCores: 0.5, memoryBytes: 256 * MIB },
          limits: { cpuCores: 1.5, memoryBytes: 512 * MIB },
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
          name: 'gone',
          source: 'monitor',
          port,
          path: '/gone',
          scheme: 'HTTP',
          headers: [],
          intervalSeconds: 1,
          timeoutSeconds: 1,
          insecureSkipVerify: false,
        },
        {
          type: 'tcp',
          name: 'tcp',
          source: 'livenessProbe',
          port,
          intervalSeconds: 1,
          timeoutSeconds: 1,
        },
      ],
    }),
  });
  prometheus = await startPrometheus([new URL(p.metricsUrl).host]);
});

afterAll(async () => {
  await (prometheus as PrometheusServer | undefined)?.stop();
  await (p as MonitoredPod | undefined)?.stop();
});

/** Waits until probes have results, so every family that can appear does. */
async function fullScrape(): Promise<Metrics> {
  return eventually(async () => {
    const m = await p.scrape();
    return m.get(METRICS.probeFailures.name, { probe: 'gone' }) !== undefined &&
      m.get(METRICS.probeSuccess.name, { probe: 'tcp' }) !== undefined
      ? m
      : undefined;
  }, 'probe results');
}

describe('Prometheus and promtool', () => {
  it('promtool check metrics reports nothing', async () => {
    const m = await fullScrape();
    expect(promtoolCheckMetrics(m.text)).toEqual({ status: 0, output: '' });
  });

  it('a real Prometheus scrapes the exporter: up == 1 and the series are queryable', async () => {
    const up = await eventually(
      async () => {
        const r = await prometheus.query('up{job="sidecar-monitor"}');
        return r.length === 1 && r[0]?.value[1] === '1' ? r : undefined;
      },
      'up == 1',
      60_000,
    );
    expect(up).toHaveLength(1);
    const ws = await eventually(async () => {
      const r = await prometheus.query(
        `${METRICS.containerMemoryWorkingSetBytes.name}{container="app"}`,
      );
      return r.length === 1 ? r : undefined;
    }, 'the working set series');
    expect(Number(ws[0]?.value[1])).toBeGreaterThan(MIB);
    // Counters work with rate(), histograms with histogram_quantile().
    const rate = await eventually(async () => {
      const r = await prometheus.query(
        `rate(${METRICS.containerCpuUsageSeconds.name}{container="app"}[5s])`,
      );
      return r.length === 1 ? r : undefined;
    }, 'a CPU rate');
    expect(Number(rate[0]?.value[1])).toBeGreaterThanOrEqual(0);
    const p99 = await eventually(async () => {
      const r = await prometheus.query(
        `histogram_quantile(0.99, rate(${METRICS.probeDurationSeconds.name}_bucket{probe="healthz"}[5s]))`,
      );
      return r.length === 1 && r[0]?.value[1] !== 'NaN' ? r : undefined;
    }, 'a probe latency quantile');
    expect(Number(p99[0]?.value[1])).toBeGreaterThan(0);
    // No target labels of our own: Prometheus adds job and instance.
    const series = await prometheus.query(METRICS.containerProcesses.name);
    expect(Object.keys(series[0]?.metric ?? {}).sort()).toEqual([
      '__name__',
      'container',
      'instance',
      'job',
    ]);
  });
});

describe('the output matches the catalog', () => {
  it('every exposed family is in the catalog with its type, help and labels', async () => {
    const m = await fullScrape();
    const seen = new Set<string>();
    const lines = m.text.split('\n');
    for (const line of lines.filter((l) => l.startsWith('# TYPE '))) {
      const [, , name, type] = line.split(' ');
      const spec = metricByName(name ?? '');
      expect(spec, `${name} is not in the catalog`).toBeDefined();
      expect(type).toBe(spec?.type);
      expect(lines).toContain(`# HELP ${name} ${spec?.help}`);
      seen.add(name ?? '');
    }
    for (const s of m.samples) {
      const family = s.name.replace(/_(bucket|sum|count)$/, '');
      const spec = metricByName(metricByName(s.name) ? s.name : family);
      const allowed = new Set([
        ...(spec?.labels ?? []),
        ...(s.name.endsWith('_bucket') ? ['le'] : []),
      ]);
      for (const label of Object.keys(s.labels))
        expect(allowed.has(label), `${s.name} has label ${label}`).toBe(true);
    }
    // With limits, probes and permissions all in place, only what this host cannot have is missing.
    const absent = METRIC_LIST.filter((spec) => !seen.has(spec.name)).map((spec) => spec.name);
    expect(absent).toEqual([]);
  });

  it('every container and process family has a value for the app', async () => {
    const m = await fullScrape();
    for (const spec of METRIC_LIST.filter((s) => s.group === 'container' || s.group === 'process'))
      expect(m.all(spec.name, { container: 'app' }).length, spec.name).toBeGreaterThan(0);
  });
});
