// Client-side rate limiting as client-go's flowcontrol token bucket (golang.org/x/time/rate):
// `qps` tokens a second, up to `burst` saved; every request, retries included, takes one,
// waiting its turn in order when none is left. The operator's defaults are
// controller-runtime's (20 QPS, burst 30): a relist of every informer or a fleet-wide
// injection must not swamp the API server's priority-and-fairness queues.
import { type Clock, sleep } from '../runtime/clock.ts';

export interface RateLimiter {
  /** Resolves when the request may go; with an aborted signal, at once (nothing taken). */
  wait(signal?: AbortSignal): Promise<void>;
}

export class TokenBucket implements RateLimiter {
  readonly #qps: number;
  readonly #burst: number;
  readonly #clock: Clock;
  /** May go negative: requests queued behind the ones already waiting. */
  #tokens: number;
  #last: number;

  constructor(qps: number, burst: number, clock: Clock) {
    if (!(qps > 0) || !(burst >= 1)) throw new RangeError('qps must be > 0 and burst >= 1');
    this.#qps = qps;
    this.#burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#last = clock.now();
  }

  async wait(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    const now = this.#clock.now();
    // now < last after a wall-clock step back: refill nothing rather than a negative amount.
    this.#tokens = Math.min(
      this.#burst,
      this.#tokens + (Math.max(0, now - this.#last) * this.#qps) / 1000,
    );
    this.#last = Math.max(this.#last, now);
    this.#tokens -= 1;
    if (this.#tokens >= 0) return;
    await sleep(this.#clock, (-this.#tokens * 1000) / this.#qps, signal);
    // An abandoned wait gives its token back to those behind it.
    if (signal?.aborted) this.#tokens += 1;
  }
}

/** No client-side limit (--kube-api-qps 0): the API server's fairness alone. */
export const unlimited: RateLimiter = { wait: () => Promise.resolve() };

/** The limiter for --kube-api-qps/--kube-api-burst: 0 QPS means none. */
export function rateLimiter(qps: number, burst: number, clock: Clock): RateLimiter {
  return qps > 0 ? new TokenBucket(qps, burst, clock) : unlimited;
}
