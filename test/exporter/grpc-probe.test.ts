// The gRPC health probe against a real gRPC server (@grpc/grpc-js with grpc-health-check's
// health service) switched between states, and against HTTP/2 peers that misbehave: every
// attempt ends within its timeout with the right reason, and the exporter reports them.

import { createServer as createHttp2Server, type IncomingHttpHeaders } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GrpcProbe, ProbeConfig } from '../../exporter/config.ts';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import { grpcAttempt } from '../../exporter/probes/grpc-probe.ts';
import { startGrpcPeers, type GrpcPeer, type GrpcPeers } from './helpers/grpc-peers.ts';
import { scrape } from './helpers/metrics.ts';
import { MATCH_NOTHING, rssBytes, startExporter, type ExporterProcess } from './helpers/process.ts';

const now = () => performance.now();
let peers: GrpcPeers;

beforeAll(async () => {
  peers = await startGrpcPeers();
});
afterAll(async () => {
  await (peers as GrpcPeers | undefined)?.close();
});

function grpc(peer: GrpcPeer, extra: Partial<GrpcProbe> = {}): GrpcProbe {
  return {
    type: 'grpc',
    name: peer.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
    source: 'monitor',
    port: peers.ports[peer],
    service: '',
    tls: false,
    insecureSkipVerify: false,
    intervalSeconds: 3,
    timeoutSeconds: 1,
    ...extra,
  };
}

async function attempt(probe: GrpcProbe) {
  const start = now();
  const outcome = await grpcAttempt({ probe, userAgent: 'test', now });
  const seconds = (now() - start) / 1000;
  // Bounded by its timeout (plus generous scheduling slack on a shared machine).
  expect(seconds).toBeLessThan(probe.timeoutSeconds + 2);
  expect(outcome.phases.total).toBeDefined();
  return outcome;
}

describe('a real gRPC server and its health service', () => {
  it('SERVING succeeds, with every phase timed', async () => {
    const outcome = await attempt(grpc('health'));
    expect(outcome, outcome.error?.message).toMatchObject({ success: true, statusCode: 200 });
    expect(outcome.reason).toBeUndefined();
    expect(outcome.phases.connect).toBeGreaterThan(0);
    expect(outcome.phases.first_byte).toBeGreaterThanOrEqual(outcome.phases.connect ?? 0);
    expect(outcome.phases.total).toBeGreaterThanOrEqual(outcome.phases.first_byte ?? 0);
  });

  it('follows the server as it switches between SERVING, NOT_SERVING and back', async () => {
    const cart = grpc('health', { service: 'shop.Cart' });
    try {
      expect((await attempt(cart)).success).toBe(true);
      peers.health.setStatus('shop.Cart', 'NOT_SERVING');
      expect(await attempt(cart)).toMatchObject({ success: false, reason: 'not_serving' });
      peers.health.setStatus('shop.Cart', 'UNKNOWN');
      expect(await attempt(cart)).toMatchObject({ success: false, reason: 'not_serving' });
      // The server as a whole is still SERVING: the service name is what was asked about.
      expect((await attempt(grpc('health'))).success).toBe(true);
    } finally {
      peers.health.setStatus('shop.Cart', 'SERVING');
    }
    expect((await attempt(cart)).success).toBe(true);
  });

  it('a service the health service does not know is service_unknown', async () => {
    const outcome = await attempt(grpc('health', { service: 'shop.Nowhere' }));
    expect(outcome).toMatchObject({ success: false, reason: 'service_unknown' });
    expect(outcome.error?.message).toMatch(/NOT_FOUND/);
  });

  it('a gRPC server without the health service is unimplemented', async () => {
    const outcome = await attempt(grpc('bare'));
    expect(outcome).toMatchObject({ success: false, reason: 'unimplemented' });
    expect(outcome.error?.message).toMatch(/UNIMPLEMENTED/);
  });

  it('TLS: verified by default (a self-signed certificate fails), passes when asked to skip', async () => {
    expect(await attempt(grpc('healthTls', { tls: true }))).toMatchObject({
      success: false,
      reason: 'tls',
    });
    const skipped = await attempt(grpc('healthTls', { tls: true, insecureSkipVerify: true }));
    expect(skipped, skipped.error?.message).toMatchObject({ success: true });
  });

  it('a plaintext port probed with TLS is tls; a TLS port probed in plaintext is reset', async () => {
    expect(await attempt(grpc('health', { tls: true, insecureSkipVerify: true }))).toMatchObject({
      success: false,
      reason: 'tls',
    });
    const plain = await attempt(grpc('healthTls'));
    expect(plain).toMatchObject({ success: false, reason: 'reset' });
    expect(plain.error?.message).toMatch(/TLS port probed in plaintext/);
  });
});

describe('one attempt against each misbehaving HTTP/2 peer', () => {
  it.each([
    ['hang', 'timeout'],
    ['stalled', 'timeout'],
    ['noTrailers', 'timeout'],
    ['garbage', 'protocol'],
    ['http1', 'protocol'],
    ['notGrpc', 'protocol'],
    ['notFound', 'bad_status'],
    ['reset', 'reset'],
    ['refused', 'refused'],
    ['endlessPings', 'protocol'],
    ['endlessData', 'protocol'],
    ['endlessInformational', 'protocol'],
    ['endlessContinuation', 'protocol'],
    ['hugeMessage', 'body_too_large'],
    ['hugeAnnounced', 'body_too_large'],
    ['hugeHeaders', 'protocol'],
    ['twoMessages', 'protocol'],
  ] as const)('%s → %s', async (peer, reason) => {
    const outcome = await attempt(grpc(peer));
    expect(outcome.reason, outcome.error?.message).toBe(reason);
    expect(outcome.success).toBe(false);
  });

  it('an abort (shutdown) ends an attempt in flight at once', async () => {
    const controller = new AbortController();
    const start = now();
    const pending = grpcAttempt({
      probe: grpc('stalled', { timeoutSeconds: 30, intervalSeconds: 30 }),
      userAgent: 'test',
      now,
      signal: controller.signal,
    });
    setTimeout(() => {
      controller.abort();
    }, 100);
    expect((await pending).success).toBe(false);
    expect(now() - start).toBeLessThan(5000);
  });
});

describe('the request on the wire', () => {
  it('is a gRPC POST with the service name, the deadline and our user agent', async () => {
    const seen: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
    const server = createHttp2Server();
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        seen.push({ headers, body: Buffer.concat(chunks) });
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc' },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () => {
          stream.sendTrailers({ 'grpc-status': '0' });
        });
        stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const outcome = await grpcAttempt({
        probe: { ...grpc('health', { service: 'shop.Cart', timeoutSeconds: 2 }), port },
        userAgent: 'sidecar-monitor/test',
        now,
      });
      expect(outcome.success, outcome.error?.message).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(seen).toHaveLength(1);
    const { headers, body } = seen[0]!;
    expect(headers).toMatchObject({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      ':scheme': 'http',
      ':authority': `127.0.0.1:${port}`,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'sidecar-monitor/test',
    });
    // The deadline left of the 2 s timeout, in milliseconds.
    expect(headers['grpc-timeout']).toMatch(/^\d+m$/);
    expect(Number(headers['grpc-timeout']?.slice(0, -1))).toBeGreaterThan(1000);
    expect(Number(headers['grpc-timeout']?.slice(0, -1))).toBeLessThanOrEqual(2000);
    // Uncompressed, length 11, field 1 (string) "shop.Cart".
    expect(body).toEqual(Buffer.from([0, 0, 0, 0, 11, 0x0a, 9, ...Buffer.from('shop.Cart')]));
  });
});

describe('the exporter with gRPC probes', () => {
  let exporter: ExporterProcess;
  const failing: [GrpcPeer, Partial<GrpcProbe>, string][] = [
    ['health', { name: 'unknown-service', service: 'shop.Nowhere' }, 'service_unknown'],
    ['bare', {}, 'unimplemented'],
    ['stalled', {}, 'timeout'],
    ['garbage', {}, 'protocol'],
    ['hugeMessage', {}, 'body_too_large'],
    ['healthTls', { name: 'tls-unverified', tls: true }, 'tls'],
  ];
  beforeAll(async () => {
    peers.health.setStatus('shop.Cart', 'NOT_SERVING');
    const probes: ProbeConfig[] = [
      grpc('health', { intervalSeconds: 1, timeoutSeconds: 0.5 }),
      grpc('health', {
        name: 'cart',
        service: 'shop.Cart',
        intervalSeconds: 1,
        timeoutSeconds: 0.5,
      }),
      ...failing.map(([peer, extra]) =>
        grpc(peer, { intervalSeconds: 1, timeoutSeconds: 0.5, ...extra }),
      ),
      // A long hang: /metrics must not wait for it.
      grpc('stalled', { name: 'stalled-long', intervalSeconds: 5, timeoutSeconds: 4 }),
    ];
    exporter = await startExporter(MATCH_NOTHING, {
      SIDECAR_MONITOR_CONFIG: JSON.stringify({ version: 1, targets: [], probes }),
    });
  });
  afterAll(async () => {
    peers.health.setStatus('shop.Cart', 'SERVING');
    await (exporter as ExporterProcess | undefined)?.stop();
  });

  it('reports success, failures by reason and probe info, with /metrics never waiting', async () => {
    const url = `${exporter.address}/metrics`;
    await scrape(url);
    const baseline = await rssBytes(exporter.child.pid ?? 0);
    const deadline = performance.now() + 6000;
    let slowest = 0;
    while (performance.now() < deadline) {
      const start = performance.now();
      await scrape(url);
      slowest = Math.max(slowest, performance.now() - start);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(slowest).toBeLessThan(2000);
    const m = await scrape(url);
    expect(m.value(METRICS.probeSuccess.name, { probe: 'health' })).toBe(1);
    expect(m.all(METRICS.probeFailures.name, { probe: 'health' })).toEqual([]);
    expect(m.value(METRICS.probeSuccess.name, { probe: 'cart' })).toBe(0);
    expect(
      m.value(METRICS.probeFailures.name, { probe: 'cart', reason: 'not_serving' }),
    ).toBeGreaterThanOrEqual(3);
    for (const [peer, extra, reason] of failing) {
      const probe = extra.name ?? grpc(peer).name;
      expect(m.value(METRICS.probeSuccess.name, { probe }), probe).toBe(0);
      expect(
        m.value(METRICS.probeFailures.name, { probe, reason }),
        `${probe} ${reason}`,
      ).toBeGreaterThanOrEqual(3);
    }
    expect(m.value(METRICS.probeInfo.name, { probe: 'cart', type: 'grpc' })).toBe(1);
    // Histogram observed for every attempt, phases of the last one.
    expect(
      m.value(`${METRICS.probeDurationSeconds.name}_count`, { probe: 'health' }),
    ).toBeGreaterThanOrEqual(3);
    expect(
      m.value(METRICS.probePhaseDurationSeconds.name, { probe: 'health', phase: 'first_byte' }),
    ).toBeGreaterThan(0);
    // gRPC probes report no HTTP status code family (that one is for HTTP probes).
    expect(m.all(METRICS.probeStatusCode.name, { probe: 'health' })).toEqual([]);
    // Dozens of 1 GiB messages were started and refused at their length prefix.
    const grown = (await rssBytes(exporter.child.pid ?? 0)) - baseline;
    expect(grown).toBeLessThan(40 * 1024 * 1024);
  });
});
