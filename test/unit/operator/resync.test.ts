// The periodic resync replays the caches (no list request: the informer never relists on
// its own, test/unit/operator/informer.test.ts) at a jittered period.
import { describe, expect, it } from 'vitest';
import { resyncLoop } from '../../../operator/manager/manager.ts';
import { FakeClock } from './fake-clock.ts';

describe('resyncLoop', () => {
  it('re-enqueues everything every period, jittered by ±12.5%', async () => {
    const clock = new FakeClock();
    const at: number[] = [];
    const randoms = [0, 0.75, 0.5];
    const stop = new AbortController();
    const done = resyncLoop(
      clock,
      600_000,
      stop.signal,
      () => at.push(clock.monotonic()),
      () => randoms.shift() ?? 0.5,
    );
    await clock.advance(2_000_000);
    stop.abort();
    await done;
    // 0.875 × 600 s, then 1.0625 ×, then 1 ×: replicas started together drift apart.
    expect(at.slice(0, 3)).toEqual([525_000, 1_162_500, 1_762_500]);
  });
});
