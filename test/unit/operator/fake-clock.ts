// A manual clock for unit tests of timing logic: time moves only when the test says so.
// Timers run on the monotonic reading, as Node's do; jumpWall() steps only the wall
// clock, as NTP or a VM resume would.
import type { Clock, TimerHandle } from '../../../operator/runtime/clock.ts';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  #mono = 0;
  #wallOffset: number;
  #seq = 0;
  #pending: Pending[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#wallOffset = start;
  }

  now(): number {
    return this.#wallOffset + this.#mono;
  }

  monotonic(): number {
    return this.#mono;
  }

  /** Steps the wall clock only (forwards or backwards); timers and durations are unaffected. */
  jumpWall(ms: number): void {
    this.#wallOffset += ms;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const entry: Pending = { at: this.#mono + Math.max(0, ms), seq: this.#seq++, fn };
    this.#pending.push(entry);
    return {
      cancel: () => {
        this.#pending = this.#pending.filter((p) => p !== entry);
      },
    };
  }

  /**
   * Moves time forward without running any timer, as a process stopped (SIGSTOP, a paused
   * VM) experiences it: when it wakes, its timers are overdue but have not run yet.
   */
  freeze(ms: number): void {
    this.#mono += ms;
  }

  get pendingTimers(): number {
    return this.#pending.length;
  }

  /** Moves time forward, firing due timers in order (and those they schedule). */
  async advance(ms: number): Promise<void> {
    const target = this.#mono + ms;
    for (;;) {
      const next = this.#pending
        .filter((p) => p.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.#pending = this.#pending.filter((p) => p !== next);
      this.#mono = Math.max(this.#mono, next.at);
      next.fn();
      await flush();
    }
    // freeze() from a timer's callback may have moved past the target already.
    this.#mono = Math.max(this.#mono, target);
    await flush();
  }
}

/** Lets queued promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}
