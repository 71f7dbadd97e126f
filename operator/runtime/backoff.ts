// Exponential backoff with jitter. Jitter spreads retries of many keys (or of many
// replicas after an API server restart) so they do not hit the server in lockstep.

export interface BackoffPolicy {
  /** Delay of the first retry. */
  baseMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /** Fraction (0-1) of the delay that is randomised: the delay lies in [(1-j)·d, d]. */
  jitter: number;
}

export type Random = () => number;

export function backoffDelay(policy: BackoffPolicy, attempt: number, random: Random): number {
  const exponent = Math.min(Math.max(0, attempt), 52);
  const raw = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return raw * (1 - jitter * random());
}

/** Counts failures per key; the delay grows with each failure until forget(). */
export class KeyedBackoff {
  readonly #policy: BackoffPolicy;
  readonly #random: Random;
  readonly #failures = new Map<string, number>();

  constructor(policy: BackoffPolicy, random: Random = Math.random) {
    this.#policy = policy;
    this.#random = random;
  }

  next(key: string): number {
    const attempt = this.#failures.get(key) ?? 0;
    this.#failures.set(key, attempt + 1);
    return backoffDelay(this.#policy, attempt, this.#random);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }
}

export interface RestartPolicy extends BackoffPolicy {
  /** A spell this long without a restart resets the delay to baseMs. */
  resetAfterMs: number;
}

/**
 * The delay before each restart of something that keeps failing (a watch, a list), like
 * client-go's exponential backoff manager: every restart waits longer, whatever ended the
 * previous run, and only a quiet spell of resetAfterMs brings the delay back down. So a
 * server that answers every request at once, but uselessly (a watch closed at once, a
 * 410 on every watch), is retried ever more slowly instead of in a hot loop.
 */
export class RestartBackoff {
  readonly #policy: RestartPolicy;
  readonly #random: Random;
  #attempt = 0;
  #last: number | undefined;

  constructor(policy: RestartPolicy, random: Random = Math.random) {
    this.#policy = policy;
    this.#random = random;
  }

  /** The delay before the next restart; now is a monotonic reading. */
  next(now: number): number {
    if (this.#last !== undefined && now - this.#last > this.#policy.resetAfterMs) this.#attempt = 0;
    this.#last = now;
    return backoffDelay(this.#policy, this.#attempt++, this.#random);
  }
}
