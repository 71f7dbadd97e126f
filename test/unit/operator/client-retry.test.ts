// Retry, throttling and credential renewal of the operator's client: pure decisions, and the
// request loop against a stub HTTP server on loopback that misbehaves on cue (a stub is
// fine for retry and timing logic; everything else is tested against the real API server).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../operator/runtime/clock.ts';
import { KubeClient } from '../../../operator/kube/client.ts';
import { KubeApiError } from '../../../operator/kube/errors.ts';
import type { Credential, KubeAccess } from '../../../operator/kube/kubeconfig.ts';
import { APPLY_PATCH, DEFAULT_RETRY, retryDelay } from '../../../operator/kube/retry.ts';
import { TokenBucket } from '../../../operator/kube/throttle.ts';
import { FakeClock } from './fake-clock.ts';

describe('TokenBucket', () => {
  it('lets a burst through, then one request per 1/qps, in order', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(2, 3, clock);
    const done: number[] = [];
    const waits = [0, 1, 2, 3, 4].map((i) =>
      bucket.wait().then(() => {
        done.push(i);
      }),
    );
    await clock.advance(0);
    expect(done).toEqual([0, 1, 2]);
    await clock.advance(499);
    expect(done).toEqual([0, 1, 2]);
    await clock.advance(1);
    expect(done).toEqual([0, 1, 2, 3]);
    await clock.advance(500);
    await Promise.all(waits);
    expect(done).toEqual([0, 1, 2, 3, 4]);
    // Idle time refills up to the burst, not beyond.
    await clock.advance(60_000);
    const later: number[] = [];
    void Promise.all([0, 1, 2, 3].map((i) => bucket.wait().then(() => later.push(i))));
    await clock.advance(0);
    expect(later).toEqual([0, 1, 2]);
  });

  it('an abandoned wait gives its token back', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1, 1, clock);
    await bucket.wait();
    const stop = new AbortController();
    const abandoned = bucket.wait(stop.signal);
    stop.abort();
    await abandoned;
    let next = false;
    void bucket.wait().then(() => (next = true));
    await clock.advance(999);
    expect(next).toBe(false);
    await clock.advance(1);
    expect(next).toBe(true);
  });
});

describe('retryDelay', () => {
  const err = (statusCode: number | undefined, kind: KubeApiError['kind'], retryAfterMs?: number) =>
    new KubeApiError('x', {
      kind,
      ...(statusCode === undefined ? {} : { statusCode }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  const at = (method: string, contentType?: string, retries = 0) => ({
    method,
    contentType,
    retries,
  });
  const half = () => 0.5;

  it('honours Retry-After on 429 and 5xx for any request, up to 10 times (client-go)', () => {
    expect(retryDelay(err(429, 'throttled', 2000), at('POST'), DEFAULT_RETRY, half)).toBe(2000);
    expect(retryDelay(err(503, 'unavailable', 1000), at('DELETE'), DEFAULT_RETRY, half)).toBe(1000);
    expect(
      retryDelay(err(429, 'throttled', 1000), at('POST', undefined, 10), DEFAULT_RETRY, half),
    ).toBeUndefined();
    // A Retry-After on another status is no invitation; an absurd one fails instead.
    expect(retryDelay(err(409, 'conflict', 1000), at('POST'), DEFAULT_RETRY, half)).toBeUndefined();
    expect(
      retryDelay(err(429, 'throttled', 3_600_000), at('GET'), DEFAULT_RETRY, half),
    ).toBeUndefined();
  });

  it('backs off idempotent requests (GET, server-side apply) on transient failures', () => {
    expect(retryDelay(err(undefined, 'network'), at('GET'), DEFAULT_RETRY, half)).toBe(150);
    expect(retryDelay(err(503, 'unavailable'), at('GET', undefined, 2), DEFAULT_RETRY, half)).toBe(
      600,
    );
    expect(retryDelay(err(429, 'throttled'), at('PATCH', APPLY_PATCH), DEFAULT_RETRY, half)).toBe(
      150,
    );
    expect(
      retryDelay(err(undefined, 'network'), at('GET', undefined, 4), DEFAULT_RETRY, half),
    ).toBeUndefined();
    for (const [method, type] of [
      ['POST', 'application/json'],
      ['PUT', 'application/json'],
      ['DELETE', undefined],
      ['PATCH', 'application/merge-patch+json'],
      ['PATCH', 'application/json-patch+json'],
    ] as const) {
      expect(
        retryDelay(err(undefined, 'network'), at(method, type), DEFAULT_RETRY, half),
        `${method} ${type}`,
      ).toBeUndefined();
    }
    for (const kind of ['timeout', 'conflict', 'invalid', 'forbidden'] as const) {
      expect(
        retryDelay(err(undefined, kind), at('GET'), DEFAULT_RETRY, half),
        kind,
      ).toBeUndefined();
    }
  });
});

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

describe('KubeClient against a misbehaving server', () => {
  let server: http.Server;
  let handler: Handler;
  let seen: { method: string; auth: string | undefined }[];
  let base: URL;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ method: req.method ?? '', auth: req.headers.authorization });
      req.resume();
      req.on('end', () => {
        handler(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    seen = [];
  });

  /** Sleeps are recorded and skipped. */
  function instantClock(): Clock & { sleeps: number[] } {
    const sleeps: number[] = [];
    return {
      sleeps,
      now: () => Date.now(),
      monotonic: () => performance.now(),
      setTimeout: (fn, ms) => {
        sleeps.push(ms);
        const t = setImmediate(fn);
        return {
          cancel: () => {
            clearImmediate(t);
          },
        };
      },
    };
  }

  function client(credential: () => Promise<Credential>, clock = instantClock()) {
    const access: KubeAccess = {
      server: base,
      tls: { rejectUnauthorized: true },
      proxy: { kind: 'env', noProxy: '' },
      credential,
      source: 'stub',
    };
    let waits = 0;
    const c = KubeClient.fromAccess(access, {
      clock,
      random: () => 0.5,
      limiter: {
        wait: () => {
          waits++;
          return Promise.resolve();
        },
      },
    });
    return { c, clock, waits: () => waits };
  }
  const fixed = () => Promise.resolve({ headers: { Authorization: 'Bearer t' } });

  function status(res: http.ServerResponse, code: number, headers: Record<string, string> = {}) {
    res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify({ kind: 'Status', code, message: `status ${code}` }));
  }

  it('waits as Retry-After says, even for a create, each attempt through the limiter', async () => {
    let n = 0;
    handler = (_req, res) => {
      if (++n <= 2) status(res, 429, { 'Retry-After': '3' });
      else res.end('{"ok":true}');
    };
    const { c, clock, waits } = client(fixed);
    expect(await c.create('/api/v1/namespaces', { kind: 'Namespace' })).toEqual({ ok: true });
    expect(seen.map((s) => s.method)).toEqual(['POST', 'POST', 'POST']);
    expect(clock.sleeps).toEqual([3000, 3000]);
    expect(waits()).toBe(3);
    c.close();
  });

  it('backs off a GET on a reset connection or a 503, but never resends a create', async () => {
    let n = 0;
    handler = (req, res) => {
      n++;
      if (n === 1) req.socket.destroy();
      else if (n === 2) status(res, 503);
      else res.end('{"kind":"ConfigMap"}');
    };
    const { c, clock } = client(fixed);
    expect(await c.get('/api/v1/namespaces/x/configmaps/y')).toEqual({ kind: 'ConfigMap' });
    expect(clock.sleeps).toEqual([150, 300]);
    seen = [];
    handler = (req) => {
      req.socket.destroy();
    };
    await expect(c.create('/api/v1/namespaces', {})).rejects.toMatchObject({ kind: 'network' });
    expect(seen).toHaveLength(1);
    c.close();
  });

  it('after a 401, renews a rotating credential and tries once more', async () => {
    let token = 'old';
    let rejected = 0;
    const rotating = (): Promise<Credential> => {
      const used = token;
      return Promise.resolve({
        headers: { Authorization: `Bearer ${used}` },
        rejected: () => {
          rejected++;
          if (token === used) token = 'new';
          return true;
        },
      });
    };
    handler = (req, res) => {
      if (req.headers.authorization === 'Bearer new') res.end('{}');
      else status(res, 401);
    };
    const { c } = client(rotating);
    expect(await c.get('/api/v1/pods')).toEqual({});
    expect(seen.map((s) => s.auth)).toEqual(['Bearer old', 'Bearer new']);
    // A source that keeps being refused is not asked again and again.
    seen = [];
    handler = (_req, res) => {
      status(res, 401);
    };
    await expect(c.get('/api/v1/pods')).rejects.toMatchObject({ kind: 'unauthorized' });
    expect(seen).toHaveLength(2);
    expect(rejected).toBe(2);
    // A static credential is not renewable: one attempt.
    seen = [];
    const { c: fixedClient } = client(fixed);
    await expect(fixedClient.get('/api/v1/pods')).rejects.toMatchObject({ kind: 'unauthorized' });
    expect(seen).toHaveLength(1);
    c.close();
    fixedClient.close();
  });

  it('withOptions: another rate limit on the same connections (the event recorder)', async () => {
    handler = (_req, res) => {
      res.end('{}');
    };
    const { c, waits } = client(fixed);
    let eventWaits = 0;
    const events = c.withOptions({
      limiter: {
        wait: () => {
          eventWaits++;
          return Promise.resolve();
        },
      },
    });
    await events.create('/api/v1/namespaces/x/events', {});
    await c.get('/api/v1/pods');
    expect([waits(), eventWaits]).toEqual([1, 1]);
    c.close();
  });

  it('stops retrying when the caller aborts', async () => {
    handler = (_req, res) => {
      status(res, 429, { 'Retry-After': '1' });
    };
    const stop = new AbortController();
    const clock = instantClock();
    const { c } = client(fixed, {
      ...clock,
      setTimeout: (fn, ms) => {
        stop.abort();
        return clock.setTimeout(fn, ms);
      },
    });
    await expect(c.request('GET', '/api/v1/pods', { signal: stop.signal })).rejects.toMatchObject({
      kind: 'throttled',
    });
    expect(seen).toHaveLength(1);
    c.close();
  });
});
