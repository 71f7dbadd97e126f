// A manual clock for unit tests of timing logic: time moves only when the test says so.
import type { Clock, TimerHandle } from '../../../operator/clock.ts';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #pending: Pending[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const entry: Pending = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#pending.push(entry);
    return {
      cancel: () => {
        this.#pending = this.#pending.filter((p) => p !== entry);
      },
    };
  }

  get pendingTimers(): number {
    return this.#pending.length;
  }

  /** Moves time forward, firing due timers in order (and those they schedule). */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#pending
        .filter((p) => p.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.#pending = this.#pending.filter((p) => p !== next);
      this.#now = next.at;
      next.fn();
      await flush();
    }
    this.#now = target;
    await flush();
  }
}

/** Lets queued promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}
