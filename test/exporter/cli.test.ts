// The exporter process from the outside: bad settings end with one clear line and a non-zero
// exit code, an unreadable /proc is a metric, SIGTERM ends it within a second or two.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import { startChaosServers } from './helpers/chaos.ts';
import { scrape } from './helpers/metrics.ts';
import { REPO } from './helpers/pod.ts';
import { MATCH_NOTHING, runExporter, startExporter } from './helpers/process.ts';
import { promtoolCheckMetrics } from './helpers/prometheus.ts';

async function failsWith(
  args: string[],
  env: Record<string, string>,
  code: number,
  message: RegExp,
) {
  const run = runExporter(args, env);
  expect(await run.exited).toBe(code);
  const out = run.output().trim();
  expect(out).toMatch(message);
  // One line, no stack trace.
  expect(out.split('\n')).toHaveLength(1);
  expect(out).not.toMatch(/\n\s+at /);
}

describe('startup errors', () => {
  it('an unknown flag', async () => {
    await failsWith(['--bogus'], {}, 2, /^sidecar-monitor exporter: --bogus: unknown flag/);
  });

  it('a bad --listen value', async () => {
    await failsWith(['--listen', 'nowhere'], {}, 2, /--listen: expected HOST:PORT/);
  });

  it('a port in use', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    try {
      await failsWith(
        ['--listen', `127.0.0.1:${port}`, ...MATCH_NOTHING],
        {},
        1,
        /--listen: 127\.0\.0\.1:\d+ is already in use/,
      );
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });

  it('an invalid config names the field', async () => {
    const config = {
      version: 1,
      targets: [],
      probes: [
        {
          type: 'http',
          name: 'x',
          source: 'monitor',
          port: 70000,
          path: '/',
          intervalSeconds: 1,
          timeoutSeconds: 1,
        },
      ],
    };
    await failsWith(
      [],
      { SIDECAR_MONITOR_CONFIG: JSON.stringify(config) },
      2,
      /SIDECAR_MONITOR_CONFIG\.probes\[0\]\.port: must be between 1 and 65535/,
    );
    await failsWith(
      [],
      { SIDECAR_MONITOR_CONFIG: '{' },
      2,
      /SIDECAR_MONITOR_CONFIG: is not valid JSON/,
    );
  });

  it('a probe header from an env var that is not set', async () => {
    const config = {
      version: 1,
      targets: [],
      probes: [
        {
          type: 'http',
          name: 'x',
          source: 'monitor',
          port: 80,
          path: '/',
          intervalSeconds: 1,
          timeoutSeconds: 1,
          headers: [{ name: 'Authorization', valueFromEnv: 'PROBE_TOKEN' }],
        },
      ],
    };
    await failsWith(
      ['--listen', '127.0.0.1:9'],
      { SIDECAR_MONITOR_CONFIG: JSON.stringify(config) },
      2,
      /probes\[0\]\.headers\[0\]: environment variable PROBE_TOKEN is not set/,
    );
  });

  it('--help prints the flags and exits 0, through the product CLI', () => {
    const r = spawnSync(
      process.execPath,
      [`${REPO}/bin/sidecar-monitor.ts`, 'exporter', '--help'],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--listen HOST:PORT/);
    expect(r.stdout).toMatch(/SIDECAR_MONITOR_CONFIG/);
  });
});

describe('running', () => {
  it('a /proc that becomes unreadable is a failed collector, not a crash; the output stays valid', async () => {
    // A proc root that passes the start check (it has procfs' stat) and then goes away.
    const root = await mkdtemp(join(tmpdir(), 'proc-root-'));
    await copyFile('/proc/stat', join(root, 'stat'));
    const exporter = await startExporter(['--proc-root', root, '--pid', '1']);
    try {
      await rm(root, { recursive: true, force: true });
      const m = await scrape(`${exporter.address}/metrics`);
      expect(m.value(METRICS.scrapeCollectorSuccess.name, { collector: 'discovery' })).toBe(0);
      expect(m.all(METRICS.containerProcesses.name)).toEqual([]);
      expect(promtoolCheckMetrics(m.text)).toEqual({ status: 0, output: '' });
      expect(exporter.output()).toMatch(/collector discovery failed/);
      expect((await fetch(`${exporter.address}/healthz`)).status).toBe(200);
      expect((await fetch(`${exporter.address}/readyz`)).status).toBe(200);
    } finally {
      expect(await exporter.stop()).toBe(0);
      await rm(root, { recursive: true, force: true });
    }
  });

  it('SIGTERM drains and exits 0 within a couple of seconds, even with probes hanging', async () => {
    const chaos = await startChaosServers();
    try {
      const probes = ['a', 'b', 'c'].map((name) => ({
        type: 'http',
        name,
        source: 'monitor',
        port: chaos.ports.silent,
        path: '/',
        intervalSeconds: 60,
        timeoutSeconds: 60,
      }));
      const exporter = await startExporter(MATCH_NOTHING, {
        SIDECAR_MONITOR_CONFIG: JSON.stringify({ version: 1, targets: [], probes }),
      });
      // First attempts start within 2 s; then all three hang for up to a minute.
      await new Promise((r) => setTimeout(r, 2500));
      await scrape(`${exporter.address}/metrics`);
      const start = performance.now();
      expect(await exporter.stop()).toBe(0);
      expect(performance.now() - start).toBeLessThan(2500);
      expect(exporter.output()).toMatch(/"msg":"shutting down"/);
      expect(exporter.output()).toMatch(/"clean":true/);
    } finally {
      await chaos.close();
    }
  });

  it('standalone --pid watches a process and its children', async () => {
    const exporter = await startExporter(['--pid', String(process.pid)]);
    try {
      const m = await scrape(`${exporter.address}/metrics`);
      // This test process (vitest's worker) and its children, the exporter excluded.
      const names = m.labelValues(METRICS.containerProcesses.name, 'container');
      expect(names).toHaveLength(1);
      expect(
        m.value(METRICS.containerProcesses.name, { container: names[0]! }),
      ).toBeGreaterThanOrEqual(1);
      expect(m.sum(METRICS.processCpuSeconds.name)).toBeGreaterThan(0);
    } finally {
      await exporter.stop();
    }
  });
});

describe('Node version', () => {
  it('npm test refuses an older Node at once, saying which Node to use', () => {
    const fake = spawnSync(
      process.execPath,
      [
        '--import',
        'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"22.1.0"})',
        `${REPO}/test/check-node.mjs`,
      ],
      { encoding: 'utf8' },
    );
    expect(fake.status).toBe(1);
    expect(fake.stderr).toMatch(/needs Node\.js 24.*this is Node 22\.1\.0/s);
    // The machine's own Node (20 here), when there is one, is refused for real.
    if (existsSync('/usr/bin/node')) {
      const real = spawnSync('/usr/bin/node', [`${REPO}/test/check-node.mjs`], {
        encoding: 'utf8',
      });
      const major = Number(
        spawnSync('/usr/bin/node', ['-p', 'process.versions.node.split(".")[0]'], {
          encoding: 'utf8',
        }).stdout,
      );
      expect(real.status).toBe(major < 24 ? 1 : 0);
    }
  });
});
