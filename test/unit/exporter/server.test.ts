// The HTTP surface and the scrape pipeline, driven with inject() over a canned snapshot: the
// series cap, the dropped counter, shared snapshots, an isolated collector failure.

import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../../exporter/metrics/catalog.ts';
import { registerFamilies } from '../../../exporter/metrics/families.ts';
import { ScrapePipeline } from '../../../exporter/scrape/pipeline.ts';
import type { Snapshot } from '../../../exporter/scrape/snapshot.ts';
import { chooseVictim } from '../../../exporter/http/connections.ts';
import { buildServer } from '../../../exporter/server.ts';
import { Metrics } from '../../exporter/helpers/metrics.ts';

const logger = pino({ level: 'silent' });

function snapshot(containers: string[]): Snapshot {
  return {
    containers: containers.map((name) => ({
      name,
      processCount: 2,
      cgroup: {
        stats: {
          version: 2,
          values: { containerMemoryUsageBytes: 100, containerCpuUsageSeconds: 1.5 },
          problems: [],
        },
        problems: [],
      },
      process: {
        values: { processThreads: 3 },
        counters: { cpuUser: 1, cpuSystem: 0.5 },
        problems: [],
      },
    })),
    collectors: [
      { name: 'discovery', success: true, seconds: 0.001 },
      { name: 'cgroup', success: false, seconds: 5, error: new Error('timed out') },
      { name: 'process', success: true, seconds: 0.002 },
    ],
    degraded: [
      {
        collector: 'cgroup',
        container: containers[0] ?? 'x',
        reason: 'timeout',
        error: new Error('t'),
      },
    ],
  };
}

function app(containers: string[], seriesLimit: number, ready = true) {
  const registry = new Registry();
  let snapshots = 0;
  const pipeline = new ScrapePipeline({
    registry,
    logger,
    targets: [{ name: 'app', limits: { cpuCores: 2 } }],
    probes: [],
    seriesLimit,
    seriesLimitSetting: '--max-series',
    takeSnapshot: async () => {
      snapshots++;
      await new Promise((r) => setTimeout(r, 20));
      return snapshot(containers);
    },
  });
  const families = registerFamilies({
    registry,
    logger,
    samples: pipeline.samples,
    version: '1.2.3',
    seriesLimit,
  });
  pipeline.setDroppedCounter(families.seriesDropped);
  const { app: server } = buildServer({
    logger,
    render: () => pipeline.render(),
    ready: () => ready,
    now: () => performance.now(),
  });
  return { server, snapshots: () => snapshots };
}

describe('HTTP surface', () => {
  it('serves /metrics in the text format with its content type', async () => {
    const { server } = app(['app'], 500);
    const response = await server.inject('/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const m = new Metrics(response.body);
    expect(m.value(METRICS.containerMemoryUsageBytes.name, { container: 'app' })).toBe(100);
    expect(m.value(METRICS.containerLimitsCpuCores.name, { container: 'app' })).toBe(2);
    expect(m.value(METRICS.processCpuSeconds.name, { container: 'app', mode: 'system' })).toBe(0.5);
    expect(m.value(METRICS.scrapeCollectorSuccess.name, { collector: 'cgroup' })).toBe(0);
    expect(
      m.value(METRICS.collectorDegraded.name, {
        collector: 'cgroup',
        container: 'app',
        reason: 'timeout',
      }),
    ).toBe(1);
    expect(m.value(METRICS.buildInfo.name, { version: '1.2.3' })).toBe(1);
    // prom-client's *_total gauges are filtered (promtool would flag them).
    expect(response.body).not.toMatch(/nodejs_active_handles_total/);
    await server.close();
  });

  it('health and readiness', async () => {
    const ready = app([], 500, true).server;
    expect((await ready.inject('/healthz')).statusCode).toBe(200);
    expect((await ready.inject('/readyz')).statusCode).toBe(200);
    const notReady = app([], 500, false).server;
    expect((await notReady.inject('/readyz')).statusCode).toBe(503);
    expect((await notReady.inject('/nope')).statusCode).toBe(404);
    expect((await notReady.inject({ method: 'POST', url: '/metrics' })).statusCode).toBe(404);
  });

  it('concurrent scrapes share one snapshot', async () => {
    const { server, snapshots } = app(['app'], 500);
    await Promise.all([
      server.inject('/metrics'),
      server.inject('/metrics'),
      server.inject('/metrics'),
    ]);
    expect(snapshots()).toBe(1);
    await server.inject('/metrics');
    expect(snapshots()).toBe(2);
  });
});

describe('series cap', () => {
  it('never exceeds the limit, keeps configured targets first and counts what it dropped', async () => {
    const names = ['zz', 'app', ...Array.from({ length: 40 }, (_, i) => `c${i}`)];
    const { server } = app(names, 150);
    const first = new Metrics((await server.inject('/metrics')).body);
    expect(first.samples.length).toBeLessThanOrEqual(150);
    const kept = first.labelValues(METRICS.containerProcesses.name, 'container');
    expect(kept).toContain('app');
    const dropped = first.value(METRICS.seriesDropped.name);
    expect(dropped).toBeGreaterThan(0);
    expect(first.value(METRICS.seriesLimit.name)).toBe(150);
    // Whole containers: each kept one has all its series.
    for (const c of kept)
      expect(first.all(METRICS.processCpuSeconds.name, { container: c })).toHaveLength(2);
    const second = new Metrics((await server.inject('/metrics')).body);
    expect(second.value(METRICS.seriesDropped.name)).toBe(2 * dropped);
  });
});

describe('bounded HTTP', () => {
  it('concurrent renders share one body (pipelined scrapes of one snapshot send one Buffer)', async () => {
    const registry = new Registry();
    const pipeline = new ScrapePipeline({
      registry,
      logger,
      targets: [],
      probes: [],
      seriesLimit: 500,
      seriesLimitSetting: '--max-series',
      takeSnapshot: () => Promise.resolve(snapshot(['app'])),
    });
    registerFamilies({
      registry,
      logger,
      samples: pipeline.samples,
      version: '1',
      seriesLimit: 500,
    });
    const bodies = await Promise.all([pipeline.render(), pipeline.render(), pipeline.render()]);
    expect(bodies[1]).toBe(bodies[0]);
    expect(bodies[2]).toBe(bodies[0]);
    expect(await pipeline.render()).not.toBe(bodies[0]);
  });

  it('makes room by closing idle connections first, then the one quiet the longest, never the new one', () => {
    const c = (lastActive: number, inFlight: number) => ({ lastActive, inFlight });
    const conns = new Map([
      ['busy-old', c(1, 3)],
      ['idle-new', c(50, 0)],
      ['idle-old', c(10, 0)],
      ['new', c(100, 0)],
    ]);
    expect(chooseVictim(conns.entries(), 'new')).toBe('idle-old');
    conns.delete('idle-old');
    conns.delete('idle-new');
    expect(chooseVictim(conns.entries(), 'new')).toBe('busy-old');
    expect(chooseVictim(new Map([['new', c(1, 0)]]).entries(), 'new')).toBeUndefined();
  });
});

describe('series cap logs', () => {
  it('warns once when dropping starts, naming what and the setting, and once when it ends', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    let containers = Array.from({ length: 40 }, (_, i) => `c${i}`);
    const registry = new Registry();
    const pipeline = new ScrapePipeline({
      registry,
      logger: log,
      targets: [],
      probes: [],
      seriesLimit: 150,
      seriesLimitSetting: '--max-series',
      takeSnapshot: () => Promise.resolve(snapshot(containers)),
    });
    registerFamilies({
      registry,
      logger: log,
      samples: pipeline.samples,
      version: '1',
      seriesLimit: 150,
    });
    await pipeline.render();
    await pipeline.render();
    const msgs = () =>
      lines
        .map((l) => (JSON.parse(l) as { msg: string }).msg)
        .filter((m) => m.startsWith('series'));
    expect(msgs()).toHaveLength(1);
    expect(msgs()[0]).toMatch(
      /^series limit of 150 reached: dropping .*container c39.*; raise --max-series to keep them$/,
    );
    containers = ['c0'];
    await pipeline.render();
    await pipeline.render();
    expect(msgs()).toHaveLength(2);
    expect(msgs()[1]).toMatch(
      /^series back under the limit of 150: nothing dropped any more \(had dropped .*container c39/,
    );
  });
});
