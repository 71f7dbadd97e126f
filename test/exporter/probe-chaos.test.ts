// Health probes against servers that misbehave: every attempt ends within its timeout with
// the right reason, memory stays bounded, and /metrics never waits for a probe.

import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpProbe, ProbeConfig } from '../../exporter/config.ts';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import { httpAttempt } from '../../exporter/probes/http-probe.ts';
import { tcpAttempt } from '../../exporter/probes/tcp-probe.ts';
import { startChaosServers, type ChaosCase, type ChaosServers } from './helpers/chaos.ts';
import { scrape } from './helpers/metrics.ts';
import { MATCH_NOTHING, rssBytes, startExporter, type ExporterProcess } from './helpers/process.ts';

const now = () => performance.now();
let chaos: ChaosServers;

beforeAll(async () => {
  chaos = await startChaosServers();
});
afterAll(async () => {
  await (chaos as ChaosServers | undefined)?.close();
});

function http(name: ChaosCase, extra: Partial<HttpProbe> = {}): HttpProbe {
  return {
    type: 'http',
    name: name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
    source: 'monitor',
    port: chaos.ports[name],
    path: '/healthz',
    scheme: name === 'tls' ? 'HTTPS' : 'HTTP',
    headers: [],
    intervalSeconds: 3,
    timeoutSeconds: 1,
    insecureSkipVerify: false,
    ...extra,
  };
}

describe('one probe attempt against each misbehaving server', () => {
  it.each([
    ['ok', undefined],
    ['silent', 'timeout'],
    ['hugeBody', 'body_too_large'],
    ['slowBytes', 'timeout'],
    ['redirectLoop', 'redirect_limit'],
    ['redirectOut', 'redirect_refused'],
    ['garbage', 'protocol'],
    ['refused', 'refused'],
    ['reset', 'reset'],
    ['badStatus', 'bad_status'],
    ['tls', 'tls'],
    ['endlessContinue', 'protocol'],
  ] as const)('%s → %s', async (name, reason) => {
    const probe = http(name);
    const start = now();
    const outcome = await httpAttempt({ probe, headers: {}, userAgent: 'test', now });
    const seconds = (now() - start) / 1000;
    expect(outcome.reason, outcome.error?.message).toBe(reason);
    expect(outcome.success).toBe(reason === undefined);
    // Bounded by its timeout (plus generous scheduling slack on a shared machine).
    expect(seconds).toBeLessThan(probe.timeoutSeconds + 2);
    expect(outcome.phases.total).toBeDefined();
  });

  it('self-signed TLS passes only when the monitor asks to skip verification', async () => {
    const outcome = await httpAttempt({
      probe: http('tls', { insecureSkipVerify: true }),
      headers: {},
      userAgent: 'test',
      now,
    });
    expect(outcome).toMatchObject({ success: true, statusCode: 200 });
  });

  it('reports the status code and phases of a bad status', async () => {
    const outcome = await httpAttempt({
      probe: http('badStatus'),
      headers: {},
      userAgent: 'test',
      now,
    });
    expect(outcome.statusCode).toBe(503);
    expect(outcome.phases.connect).toBeGreaterThan(0);
    expect(outcome.phases.first_byte).toBeGreaterThanOrEqual(outcome.phases.connect ?? 0);
  });

  it('TCP: connect succeeds on a silent server and is refused on a closed port', async () => {
    const tcp = (port: number) => ({
      type: 'tcp' as const,
      name: 't',
      source: 'monitor' as const,
      port,
      intervalSeconds: 1,
      timeoutSeconds: 1,
    });
    expect((await tcpAttempt(tcp(chaos.ports.silent), now)).success).toBe(true);
    expect((await tcpAttempt(tcp(chaos.ports.refused), now)).reason).toBe('refused');
  });

  it('an abort (shutdown) ends an attempt in flight at once', async () => {
    const controller = new AbortController();
    const start = now();
    const attempt = httpAttempt({
      probe: http('silent', { timeoutSeconds: 30, intervalSeconds: 30 }),
      headers: {},
      userAgent: 'test',
      now,
      signal: controller.signal,
    });
    setTimeout(() => {
      controller.abort();
    }, 100);
    expect((await attempt).success).toBe(false);
    expect(now() - start).toBeLessThan(5000);
  });
});

describe('the exporter with every misbehaving probe at once', () => {
  let exporter: ExporterProcess;
  const cases: ChaosCase[] = [
    'ok',
    'silent',
    'hugeBody',
    'slowBytes',
    'redirectLoop',
    'redirectOut',
    'garbage',
    'refused',
    'reset',
    'badStatus',
    'tls',
    'endlessContinue',
  ];
  beforeAll(async () => {
    const probes: ProbeConfig[] = cases.map((c) =>
      http(c, { intervalSeconds: 1, timeoutSeconds: 1 }),
    );
    // Long hangs: /metrics must not wait for these.
    probes.push(http('silent', { name: 'silent-long', intervalSeconds: 5, timeoutSeconds: 5 }));
    probes.push(http('slowBytes', { name: 'slow-long', intervalSeconds: 5, timeoutSeconds: 5 }));
    exporter = await startExporter(MATCH_NOTHING, {
      SIDECAR_MONITOR_CONFIG: JSON.stringify({ version: 1, targets: [], probes }),
    });
  });
  afterAll(async () => {
    await (exporter as ExporterProcess | undefined)?.stop();
  });

  it('keeps /metrics fast while probes hang, counts every reason, and holds its memory', async () => {
    const url = `${exporter.address}/metrics`;
    await scrape(url);
    const baseline = await rssBytes(exporter.child.pid ?? 0);
    const deadline = performance.now() + 8000;
    let slowest = 0;
    while (performance.now() < deadline) {
      const start = performance.now();
      await scrape(url);
      slowest = Math.max(slowest, performance.now() - start);
      await new Promise((r) => setTimeout(r, 200));
    }
    // The long probes hang 5 s each; a scrape that waited for them would take seconds.
    expect(slowest).toBeLessThan(2000);
    const m = await scrape(url);
    const reasons: Record<string, string> = {
      silent: 'timeout',
      'huge-body': 'body_too_large',
      'slow-bytes': 'timeout',
      'redirect-loop': 'redirect_limit',
      'redirect-out': 'redirect_refused',
      garbage: 'protocol',
      refused: 'refused',
      reset: 'reset',
      'bad-status': 'bad_status',
      tls: 'tls',
      'endless-continue': 'protocol',
    };
    for (const [probe, reason] of Object.entries(reasons)) {
      expect(m.value(METRICS.probeFailures.name, { probe, reason }), probe).toBeGreaterThanOrEqual(
        3,
      );
      expect(m.labelValues(METRICS.probeFailures.name, 'reason')).toContain(reason);
      expect(m.value(METRICS.probeSuccess.name, { probe })).toBe(0);
    }
    expect(m.value(METRICS.probeSuccess.name, { probe: 'ok' })).toBe(1);
    expect(m.all(METRICS.probeFailures.name, { probe: 'ok' })).toEqual([]);
    // Dozens of 1 GiB responses were started and cut at 64 KiB: no growth to speak of.
    const grown = (await rssBytes(exporter.child.pid ?? 0)) - baseline;
    expect(grown).toBeLessThan(40 * 1024 * 1024);
    expect(m.value(METRICS.probeSuccess.name, { probe: 'silent-long' })).toBe(0);
  });
});
