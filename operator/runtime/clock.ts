// Time is injected everywhere in the operator so queue, backoff, lease and rollout
// deadlines can be tested with a fake clock instead of sleeps. Two readings: the wall
// clock for what is written down (timestamps people and the API read), the monotonic
// clock for every duration and deadline, so an NTP step or a VM resume cannot stretch or
// shrink a lease, a backoff or a progress deadline.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch (wall clock: for timestamps, never for durations). */
  now(): number;
  /**
   * Milliseconds on a clock that only moves forward, from an arbitrary origin: for
   * durations and deadlines within this process.
   */
  monotonic(): number;
  /** Runs fn after ms (monotonic); the timer never keeps the process alive on its own. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return {
      cancel: () => {
        clearTimeout(t);
      },
    };
  },
};

/**
 * Reads signal.aborted through a call, so type narrowing does not assume the flag is
 * unchanged across an await.
 */
export function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Resolves when signal aborts (at once if it already has). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else
      signal.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
  });
}

/** Resolves after ms on the given clock, or early (without error) when signal aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      resolve();
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
