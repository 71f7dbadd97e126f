import { describe, expect, it } from 'vitest';
import { backoffDelay, KeyedBackoff } from '../../../operator/runtime/backoff.ts';
import { runWorkers, WorkQueue } from '../../../operator/runtime/queue.ts';
import { FakeClock, flush } from './fake-clock.ts';

const policy = { baseMs: 100, maxMs: 10_000, jitter: 0.5 };

function newQueue(
  clock = new FakeClock(),
  random = () => 0,
): { queue: WorkQueue; clock: FakeClock } {
  return { queue: new WorkQueue({ clock, backoff: new KeyedBackoff(policy, random) }), clock };
}

describe('backoffDelay', () => {
  it('doubles per attempt up to the cap', () => {
    const noJitter = { ...policy, jitter: 0 };
    expect([0, 1, 2, 3].map((a) => backoffDelay(noJitter, a, Math.random))).toEqual([
      100, 200, 400, 800,
    ]);
    expect(backoffDelay(noJitter, 20, Math.random)).toBe(10_000);
    expect(backoffDelay(noJitter, 5000, Math.random)).toBe(10_000);
  });

  it('jitter keeps the delay within [(1-j)·d, d]', () => {
    expect(backoffDelay(policy, 3, () => 0)).toBe(800);
    expect(backoffDelay(policy, 3, () => 0.999999)).toBeCloseTo(400, 0);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(policy, 4, Math.random);
      expect(d).toBeGreaterThanOrEqual(800);
      expect(d).toBeLessThanOrEqual(1600);
    }
  });

  it('counts failures per key and forgets them', () => {
    const b = new KeyedBackoff({ ...policy, jitter: 0 });
    expect([b.next('a'), b.next('a'), b.next('b'), b.next('a')]).toEqual([100, 200, 100, 400]);
    b.forget('a');
    expect(b.next('a')).toBe(100);
    expect(b.failures('b')).toBe(1);
  });
});

describe('WorkQueue', () => {
  it('dedups keys that are waiting', async () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.length).toBe(2);
    expect(await queue.get()).toBe('a');
    expect(await queue.get()).toBe('b');
    expect(queue.length).toBe(0);
  });

  it('never hands a key to two workers at once; a re-add while processing runs again after done', async () => {
    const { queue } = newQueue();
    queue.add('a');
    const first = await queue.get();
    expect(first).toBe('a');
    queue.add('a');
    queue.add('a');
    expect(queue.length).toBe(0);
    let second: string | undefined;
    void queue.get().then((k) => (second = k));
    await flush();
    expect(second).toBeUndefined();
    queue.done('a');
    await flush();
    expect(second).toBe('a');
    queue.done('a');
    expect(queue.length).toBe(0);
  });

  it('hands a new key straight to a waiting worker', async () => {
    const { queue } = newQueue();
    const got = queue.get();
    queue.add('x');
    expect(await got).toBe('x');
    expect(queue.processing).toBe(1);
  });

  it('addAfter waits on the clock and keeps the earliest due time', async () => {
    const { queue, clock } = newQueue();
    queue.addAfter('a', 1000);
    queue.addAfter('a', 5000);
    queue.addAfter('b', 2000);
    queue.addAfter('b', 500);
    expect(queue.delayed).toBe(2);
    await clock.advance(499);
    expect(queue.length).toBe(0);
    await clock.advance(1);
    expect(queue.length).toBe(1);
    expect(await queue.get()).toBe('b');
    await clock.advance(500);
    expect(await queue.get()).toBe('a');
    await clock.advance(10_000);
    expect(queue.length).toBe(0);
  });

  it('requeues failures with growing backoff, reset by forget', async () => {
    const { queue, clock } = newQueue();
    expect(queue.addRateLimited('a')).toBe(100);
    await clock.advance(100);
    expect(await queue.get()).toBe('a');
    queue.done('a');
    expect(queue.addRateLimited('a')).toBe(200);
    expect(queue.addRateLimited('a')).toBe(400);
    expect(queue.failures('a')).toBe(3);
    queue.forget('a');
    expect(queue.addRateLimited('a')).toBe(100);
  });

  it('shutDown releases waiting workers and drops delayed keys', async () => {
    const { queue, clock } = newQueue();
    const waiting = queue.get();
    queue.addAfter('late', 1000);
    queue.shutDown();
    expect(await waiting).toBeUndefined();
    expect(clock.pendingTimers).toBe(0);
    queue.add('ignored');
    expect(queue.length).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });
});

describe('runWorkers', () => {
  it('processes keys concurrently, never the same key twice at once', async () => {
    const { queue } = newQueue();
    const active = new Set<string>();
    let maxParallel = 0;
    let overlap = false;
    const seen: string[] = [];
    const release: (() => void)[] = [];
    const running = runWorkers(queue, 3, async (key) => {
      if (active.has(key)) overlap = true;
      active.add(key);
      maxParallel = Math.max(maxParallel, active.size);
      seen.push(key);
      await new Promise<void>((r) => release.push(r));
      active.delete(key);
      return undefined;
    });
    for (const k of ['a', 'b', 'c', 'd']) queue.add(k);
    await flush();
    queue.add('a');
    await flush();
    expect(maxParallel).toBe(3);
    while (seen.length < 5 || release.length > 0) {
      release.shift()?.();
      await flush();
    }
    queue.shutDown();
    await running;
    expect(overlap).toBe(false);
    expect(seen.sort()).toEqual(['a', 'a', 'b', 'c', 'd']);
  });

  it('retries a throwing reconcile with backoff and honours requeueAfterMs', async () => {
    const { queue, clock } = newQueue();
    const calls: [string, number][] = [];
    let fail = 2;
    const outcomes: string[] = [];
    const running = runWorkers(
      queue,
      1,
      async (key) => {
        calls.push([key, clock.now()]);
        await Promise.resolve();
        if (key === 'bad' && fail-- > 0) throw new Error('boom');
        return key === 'timed' ? { requeueAfterMs: 60_000 } : undefined;
      },
      { onResult: (_k, outcome) => outcomes.push(outcome) },
    );
    const t0 = clock.now();
    queue.add('bad');
    queue.add('timed');
    await flush();
    await clock.advance(100);
    await clock.advance(200);
    await clock.advance(60_000);
    queue.shutDown();
    await running;
    expect(calls.map(([k, t]) => [k, t - t0])).toEqual([
      ['bad', 0],
      ['timed', 0],
      ['bad', 100],
      ['bad', 300],
      ['timed', 60_000],
    ]);
    expect(outcomes).toEqual(['error', 'success', 'error', 'success', 'success']);
    expect(queue.failures('bad')).toBe(0);
  });
});
