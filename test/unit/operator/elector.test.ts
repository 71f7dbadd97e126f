// Leader election timing against an in-memory Lease (the real API server, two replicas
// and a frozen leader are in test/operator/leader.test.ts).
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { RequestOptions } from '../../../operator/kube/client.ts';
import { KubeApiError } from '../../../operator/kube/errors.ts';
import {
  type LeaseObject,
  LeaderElector,
  type Leadership,
} from '../../../operator/leader/elector.ts';
import { FakeClock, flush } from './fake-clock.ts';

const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** One Lease, optimistic concurrency, and a switch that makes every request hang. */
class LeaseServer {
  lease: LeaseObject | undefined;
  rv = 0;
  hang = false;
  requests = 0;

  request<T>(method: string, _path: string, opts: RequestOptions = {}): Promise<T> {
    this.requests++;
    if (this.hang) {
      // A dead connection: nothing comes back; only the caller's signal ends it.
      return new Promise<T>((_resolve, reject) => {
        opts.signal?.addEventListener('abort', () => {
          reject(new KubeApiError('aborted', { kind: 'network' }));
        });
      });
    }
    const body = opts.body as LeaseObject | undefined;
    if (method === 'GET') {
      if (!this.lease) return Promise.reject(new KubeApiError('nf', { kind: 'not-found' }));
      return Promise.resolve(structuredClone(this.lease) as T);
    }
    if (method === 'POST') {
      if (this.lease) return Promise.reject(new KubeApiError('exists', { kind: 'already-exists' }));
    } else if (body?.metadata.resourceVersion !== String(this.rv)) {
      return Promise.reject(new KubeApiError('conflict', { kind: 'conflict' }));
    }
    this.rv++;
    this.lease = {
      ...structuredClone(body!),
      metadata: { ...body!.metadata, resourceVersion: String(this.rv) },
    };
    return Promise.resolve(structuredClone(this.lease) as T);
  }
}

function start(server: LeaseServer, clock: FakeClock) {
  const elector = new LeaderElector({
    client: server,
    namespace: 'ns',
    name: 'lease',
    identity: 'me',
    clock,
    logger: pino({ level: 'silent' }),
    timing,
    random: () => 0,
  });
  const stop = new AbortController();
  let leadership: Leadership | undefined;
  let lostAt: number | undefined;
  const result = elector.run(stop.signal, async (l) => {
    leadership = l;
    await new Promise<void>((resolve) => {
      l.signal.addEventListener('abort', () => {
        lostAt = clock.monotonic();
        resolve();
      });
    });
  });
  return {
    result,
    stop,
    leadership: () => leadership,
    lostAt: () => lostAt,
  };
}

describe('LeaderElector', () => {
  it('stops leading exactly renewDeadline after its last successful renewal began, even with requests hanging', async () => {
    const clock = new FakeClock();
    const server = new LeaseServer();
    const run = start(server, clock);
    await flush();
    expect(run.leadership()?.valid()).toBe(true);
    // Two renewals succeed (at 2 s and 4 s), then the connection dies.
    await clock.advance(4_000);
    expect(server.lease?.spec?.renewTime).toBe('2026-01-01T00:00:04.000000Z');
    server.hang = true;
    await clock.advance(9_999);
    expect(run.leadership()?.valid()).toBe(true);
    expect(run.lostAt()).toBeUndefined();
    await clock.advance(1);
    expect(run.lostAt()).toBe(14_000);
    expect(run.leadership()?.valid()).toBe(false);
    expect(await run.result).toBe('lost');
  });

  it('a leader frozen past its deadline is no longer valid the instant it wakes, before any timer runs', async () => {
    const clock = new FakeClock();
    const server = new LeaseServer();
    const run = start(server, clock);
    await flush();
    const leadership = run.leadership()!;
    expect(leadership.valid()).toBe(true);
    clock.freeze(30_000);
    const before = server.requests;
    expect(leadership.valid()).toBe(false);
    expect(leadership.signal.aborted).toBe(true);
    await clock.advance(0);
    expect(await run.result).toBe('lost');
    // It did not even try to renew: the lease may be someone else's by now.
    expect(server.requests).toBe(before);
  });

  it('a wall-clock step does not end (or extend) leadership', async () => {
    const clock = new FakeClock();
    const server = new LeaseServer();
    const run = start(server, clock);
    await flush();
    clock.jumpWall(3_600_000);
    await clock.advance(20_000);
    expect(run.leadership()?.valid()).toBe(true);
    clock.jumpWall(-7_200_000);
    await clock.advance(20_000);
    expect(run.leadership()?.valid()).toBe(true);
    run.stop.abort();
    expect(await run.result).toBe('released');
    expect(server.lease?.spec?.holderIdentity).toBeNull();
  });
});
