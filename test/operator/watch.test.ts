// The informer's watches against servers that misbehave: a local HTTP stub for the
// retry and timing logic (a watch closed at once, a 410 on every watch, a watch that
// never says anything), and the real API server behind a loopback TCP proxy that stops
// forwarding an established connection without closing it (no FIN: a half-open
// connection, as after a NAT or load-balancer timeout).
import http from 'node:http';
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { systemClock } from '../../operator/runtime/clock.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { Informer } from '../../operator/kube/informer.ts';
import { loadAccess } from '../../operator/kube/kubeconfig.ts';
import { DEPLOYMENTS } from '../../operator/kube/resources.ts';
import { testCluster } from '../cluster/harness.ts';
import { deployment } from './support.ts';

const cluster = testCluster();
const logger = pino({ level: 'silent' });
const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

interface Stub {
  readonly url: string;
  readonly lists: number;
  readonly watches: number;
}

/** An API server stub: lists answer an empty DeploymentList, watches do what `watch` says. */
async function stub(watch: (res: http.ServerResponse) => void): Promise<Stub> {
  const counts = { lists: 0, watches: 0 };
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    res.setHeader('Content-Type', 'application/json');
    if (url.searchParams.get('watch') === 'true') {
      counts.watches++;
      watch(res);
      return;
    }
    counts.lists++;
    res.end(
      JSON.stringify({ kind: 'DeploymentList', metadata: { resourceVersion: '1' }, items: [] }),
    );
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  );
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get lists() {
      return counts.lists;
    },
    get watches() {
      return counts.watches;
    },
  };
}

function clientFor(url: string): KubeClient {
  const client = KubeClient.fromAccess({
    server: new URL(url),
    tls: { rejectUnauthorized: true },
    proxy: { kind: 'env', noProxy: '' },
    credential: () => Promise.resolve({ headers: {} }),
    source: 'stub',
  });
  stops.push(() => {
    client.close();
  });
  return client;
}

/** Runs an informer until the test ends. */
function run(
  client: KubeClient,
  options: { namespace?: string; bookmarkPeriodMs?: number; failures?: string[] } = {},
): Informer {
  const informer = new Informer({
    client,
    resource: DEPLOYMENTS,
    clock: systemClock,
    logger,
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    ...(options.bookmarkPeriodMs === undefined
      ? {}
      : { bookmarkPeriodMs: options.bookmarkPeriodMs }),
    onFailure: (reason) => options.failures?.push(reason),
  });
  const stop = new AbortController();
  const running = informer.run(stop.signal);
  stops.push(async () => {
    stop.abort();
    await running;
  });
  return informer;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('against a misbehaving server', () => {
  test('a server that ends every watch at once is not hammered: short watches back off', async () => {
    const server = await stub((res) => res.end());
    const failures: string[] = [];
    run(clientFor(server.url), { failures });
    // Before, this hot loop sent ~20,000 watches a second. With a 0.5 s first delay
    // doubling each time, 4 s hold at most a handful, on any machine.
    await pause(4000);
    expect(server.watches).toBeGreaterThanOrEqual(2);
    expect(server.watches).toBeLessThan(10);
    expect(server.lists).toBe(1);
    expect(failures.every((f) => f === 'short-watch')).toBe(true);
  });

  test('a server that answers every watch with 410 Gone is relisted ever more slowly', async () => {
    const server = await stub((res) => {
      res.end(
        `${JSON.stringify({
          type: 'ERROR',
          object: { kind: 'Status', status: 'Failure', code: 410, reason: 'Expired' },
        })}\n`,
      );
    });
    const failures: string[] = [];
    run(clientFor(server.url), { failures });
    await pause(4000);
    expect(server.lists).toBeGreaterThanOrEqual(2);
    expect(server.lists).toBeLessThan(10);
    expect(failures.every((f) => f === 'gone')).toBe(true);
  });

  test('a watch that never sends anything, not even a bookmark, is given up after its idle timeout', async () => {
    // Headers, then silence on an open connection.
    const server = await stub((res) => {
      res.flushHeaders();
    });
    const failures: string[] = [];
    run(clientFor(server.url), { bookmarkPeriodMs: 200, failures });
    // 2.5 bookmark periods (0.5 s) of silence end each watch; before, only the watch's
    // own timeout (minutes) did.
    await cluster.waitFor('the silent watch to be reopened twice', () => server.watches >= 3, {
      timeoutMs: 30_000,
    });
    expect(failures.length).toBeGreaterThanOrEqual(2);
  });
});

/**
 * A loopback TCP proxy. freeze() stops forwarding on every connection open at that
 * moment, in both directions, without closing anything: the peers see a connection
 * that is up but silent. Connections made later are forwarded normally.
 */
async function freezingProxy(target: URL): Promise<{ url: URL; freeze(): number }> {
  const open = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair = { client, upstream };
    open.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = (): void => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(
    () =>
      new Promise<void>((resolve) => {
        for (const { client, upstream } of open) {
          client.destroy();
          upstream.destroy();
        }
        server.close(() => {
          resolve();
        });
      }),
  );
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(target.href);
  url.host = `127.0.0.1:${port}`;
  return {
    url,
    freeze() {
      for (const { client, upstream } of open) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        // Forget them: they stay open, silent, until the proxy stops.
      }
      const frozen = open.size;
      open.clear();
      return frozen;
    },
  };
}

describe('against the real API server', () => {
  test('a watch connection that goes silent without a FIN is noticed and replaced', async () => {
    await using ns = await cluster.namespace('halfopen');
    const access = await loadAccess(cluster.kubeconfigPath);
    const proxy = await freezingProxy(access.server);
    const client = KubeClient.fromAccess({ ...access, server: proxy.url });
    stops.push(() => {
      client.close();
    });
    const failures: string[] = [];
    // Bookmarks about every second for the test (the API server's are a minute apart):
    // a healthy but quiet watch is reopened every 2.5 s too, which costs nothing here.
    const informer = run(client, { namespace: ns.name, bookmarkPeriodMs: 1000, failures });
    await informer.waitForSync();
    await cluster.apply(deployment(ns.name, 'before', { app: 'x' }));
    await cluster.waitFor('the informer to see the first Deployment', () =>
      informer.get(ns.name, 'before'),
    );

    expect(proxy.freeze()).toBeGreaterThanOrEqual(1);
    await cluster.apply(deployment(ns.name, 'after', { app: 'x' }));
    // The frozen watch delivers nothing more; the informer must notice on its own, open a
    // new connection and catch up. Before, it waited out the watch's timeout plus 30 s
    // (5.5 to 10.5 minutes) while blind.
    const seen = await cluster.waitFor(
      'the informer to see the Deployment made after the freeze',
      () => informer.get(ns.name, 'after'),
      { timeoutMs: 60_000 },
    );
    expect(seen.metadata.name).toBe('after');
    expect(failures.length).toBeGreaterThanOrEqual(1);
  });
});
