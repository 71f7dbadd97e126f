// A work queue with the semantics of client-go's workqueue: a key is queued at most
// once however many events name it (dedup), a key is handed to at most one worker at a
// time (a key re-added while in process is queued again only when that worker is done),
// and failed keys come back after a per-key exponential backoff with jitter.
import type { Clock, TimerHandle } from './clock.ts';
import type { KeyedBackoff } from './backoff.ts';

export interface WorkQueueOptions {
  clock: Clock;
  backoff: KeyedBackoff;
}

interface Delayed {
  due: number;
  timer: TimerHandle;
}

export class WorkQueue {
  readonly #clock: Clock;
  readonly #backoff: KeyedBackoff;
  readonly #queue: string[] = [];
  #head = 0;
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, Delayed>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  #shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.#clock = options.clock;
    this.#backoff = options.backoff;
  }

  /** Keys waiting for a worker (not counting those in process or delayed). */
  get length(): number {
    return this.#queue.length - this.#head;
  }

  get processing(): number {
    return this.#processing.size;
  }

  get delayed(): number {
    return this.#delayed.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queue.push(key);
  }

  /** Adds key after ms; an earlier pending add of the same key wins over a later one. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const due = this.#clock.monotonic() + ms;
    const existing = this.#delayed.get(key);
    if (existing && existing.due <= due) return;
    existing?.timer.cancel();
    const timer = this.#clock.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { due, timer });
  }

  /** Re-adds a failed key after its backoff; returns the delay chosen. */
  addRateLimited(key: string): number {
    const ms = this.#backoff.next(key);
    this.addAfter(key, ms);
    return ms;
  }

  /** Resets the key's failure count (after a success). */
  forget(key: string): void {
    this.#backoff.forget(key);
  }

  failures(key: string): number {
    return this.#backoff.failures(key);
  }

  /** The next key for a worker; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.#queue[this.#head];
    if (key !== undefined) {
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.#dirty.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks a key's processing finished; queues it again if it was added meanwhile. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
  }

  /** Stops handing out keys; waiting workers get undefined. Keys in process may finish. */
  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) timer.cancel();
    this.#delayed.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }
}

export interface ReconcileResult {
  /** Look at this key again after this long even if nothing changes (e.g. a deadline). */
  requeueAfterMs?: number;
}

export type Reconcile = (key: string) => Promise<ReconcileResult | undefined>;

export interface WorkerHooks {
  /** Called after each reconcile with its outcome; errors are requeued with backoff. */
  onResult?(key: string, outcome: 'success' | 'error', error?: unknown): void;
}

/** Runs n workers until the queue shuts down; resolves when the last one has stopped. */
export async function runWorkers(
  queue: WorkQueue,
  concurrency: number,
  reconcile: Reconcile,
  hooks: WorkerHooks = {},
): Promise<void> {
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await reconcile(key);
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
        hooks.onResult?.(key, 'success');
      } catch (err) {
        queue.addRateLimited(key);
        hooks.onResult?.(key, 'error', err);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}
