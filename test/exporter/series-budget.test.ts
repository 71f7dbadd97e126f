// The series cap protects what users came for: with more probes than fit (the CRD allows 64),
// the watched container keeps all its series and probes are dropped whole, last ones first,
// after the exporter's own runtime series; a warning says what was dropped and what to raise.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeConfig } from '../../exporter/config.ts';
import { FAILURE_REASONS_ASSUMED, probeSeries } from '../../exporter/metrics/budget.ts';
import { METRICS, METRIC_LIST } from '../../exporter/metrics/catalog.ts';
import { scrape } from './helpers/metrics.ts';
import { eventually } from './helpers/pod.ts';
import { startExporter, type ExporterProcess } from './helpers/process.ts';

let ok: Server;
let app: ChildProcess;
let exporter: ExporterProcess;
let probes: ProbeConfig[];
const PROBES = 24;
const names = Array.from({ length: PROBES }, (_, i) => `p${String(i).padStart(2, '0')}`);

beforeAll(async () => {
  ok = createServer((_req, res) => res.end('ok\n'));
  await new Promise<void>((r) => ok.listen(0, '127.0.0.1', r));
  const port = (ok.address() as { port: number }).port;
  app = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], {
    env: { ...process.env, SIDECAR_MONITOR_CONTAINER: 'app' },
    stdio: 'ignore',
  });
  probes = names.map((name) => ({
    type: 'http',
    name,
    source: 'monitor',
    port,
    path: '/healthz',
    scheme: 'HTTP',
    headers: [],
    intervalSeconds: 1,
    timeoutSeconds: 1,
    insecureSkipVerify: false,
  }));
  exporter = await startExporter(['--pid', String(app.pid)], {
    SIDECAR_MONITOR_CONFIG: JSON.stringify({ version: 1, targets: [{ name: 'app' }], probes }),
  });
});

afterAll(async () => {
  await (exporter as ExporterProcess | undefined)?.stop();
  (app as ChildProcess | undefined)?.kill('SIGKILL');
  await new Promise((r) => {
    (ok as Server | undefined)?.close(r);
  });
});

describe('series budget', () => {
  it('at the default 500 series, 24 probes never crowd out the watched container', async () => {
    const url = `${exporter.address}/metrics`;
    // Every probe has run at least once (first attempts within a second, then every second).
    await new Promise((r) => setTimeout(r, 3500));
    const m = await eventually(async () => {
      const metrics = await scrape(url);
      return metrics.value(METRICS.containerProcesses.name, { container: 'app' }) === 1
        ? metrics
        : undefined;
    }, 'the app container in the output');
    expect(m.samples.length).toBeLessThanOrEqual(500);
    expect(m.value(METRICS.seriesDropped.name)).toBeGreaterThan(0);
    // The container keeps all of its process series.
    expect(m.all(METRICS.processCpuSeconds.name, { container: 'app' })).toHaveLength(2);
    expect(m.all(METRICS.processResidentMemoryBytes.name, { container: 'app' })).toHaveLength(1);
    // Essential exporter families stay.
    expect(m.value(METRICS.buildInfo.name, {})).toBe(1);
    expect(m.value(METRICS.seriesLimit.name)).toBe(500);
    // Runtime series go first: only what fits in the room a dropped probe left (22 series).
    const runtime = METRIC_LIST.filter((s) => s.group === 'runtime').map((s) => s.name);
    const runtimeKept = m.samples.filter((s) => runtime.some((r) => s.name.startsWith(r)));
    expect(runtimeKept.length).toBeLessThan(22);
    // Probes kept are a prefix of the config order, each whole.
    const kept = m.labelValues(METRICS.probeSuccess.name, 'probe').sort();
    expect(kept.length).toBeGreaterThan(5);
    expect(kept.length).toBeLessThan(PROBES);
    expect(kept).toEqual(names.slice(0, kept.length));
    for (const probe of kept) {
      expect(m.all(METRICS.probeInfo.name, { probe })).toHaveLength(1);
      expect(m.all(`${METRICS.probeDurationSeconds.name}_count`, { probe })).toHaveLength(1);
      expect(m.all(METRICS.probeStatusCode.name, { probe })).toHaveLength(1);
      // The operator's estimate (budget.ts) for a probe that never failed.
      expect(m.samples.filter((s) => s.labels.probe === probe)).toHaveLength(
        probeSeries(probes[0]!) - FAILURE_REASONS_ASSUMED,
      );
    }
    for (const probe of names.slice(kept.length))
      expect(m.samples.filter((s) => s.labels.probe === probe)).toEqual([]);
    // One warning naming what was dropped and the setting to raise, not one per scrape.
    await scrape(url);
    const warnings = exporter.output().match(/series limit of 500 reached[^\n]*/g) ?? [];
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`probe ${names.at(-1)}`));
    expect(warnings[0]).toMatch(/Node\.js runtime families/);
    expect(warnings[0]).toMatch(/raise spec\.exporter\.maxSeries of the SidecarMonitor/);
  });
});
