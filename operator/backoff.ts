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
