// Which failed requests the client sends again, and when (pure: tested without a server).
// - The server asked us to wait (429, or a 5xx with Retry-After: API priority and fairness,
//   a server shutting down): any request, after that wait, up to 10 times (client-go's
//   rest client does exactly this; the server did not process the request).
// - An idempotent request (GET, and server-side apply, whose result does not depend on how
//   often it is sent) that failed on the network or with a 429/5xx without Retry-After:
//   again with capped exponential backoff and jitter, a few times. Other writes (create,
//   delete, update, JSON and merge patches) are not resent blindly: the caller decides
//   after a fresh read.
// Timeouts are not retried here: the request deadline already spent the caller's patience.
import { backoffDelay, type BackoffPolicy, type Random } from '../runtime/backoff.ts';
import type { KubeApiError } from './errors.ts';

export const APPLY_PATCH = 'application/apply-patch+yaml';

export interface RetryPolicy {
  /** Retries when the server sent Retry-After (client-go's default is 10). */
  maxRetryAfter: number;
  /** The longest Retry-After honoured; a longer one fails the request instead. */
  maxRetryAfterMs: number;
  /** Retries of idempotent requests without Retry-After. */
  maxIdempotent: number;
  backoff: BackoffPolicy;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxRetryAfter: 10,
  maxRetryAfterMs: 60_000,
  maxIdempotent: 4,
  backoff: { baseMs: 200, maxMs: 5_000, jitter: 0.5 },
};

export function isIdempotent(method: string, contentType: string | undefined): boolean {
  if (method === 'GET' || method === 'HEAD') return true;
  return method === 'PATCH' && contentType === APPLY_PATCH;
}

export interface Attempt {
  method: string;
  contentType: string | undefined;
  /** Retries already made for this request (0 after the first attempt). */
  retries: number;
}

/** The delay before sending the request again, or undefined to give up with `error`. */
export function retryDelay(
  error: KubeApiError,
  attempt: Attempt,
  policy: RetryPolicy,
  random: Random,
): number | undefined {
  const code = error.statusCode;
  const wait = error.retryAfterMs;
  if (wait !== undefined && code !== undefined && (code === 429 || code >= 500)) {
    if (attempt.retries >= policy.maxRetryAfter || wait > policy.maxRetryAfterMs) return undefined;
    return wait;
  }
  if (!isIdempotent(attempt.method, attempt.contentType)) return undefined;
  if (attempt.retries >= policy.maxIdempotent) return undefined;
  const transient =
    error.kind === 'network' || error.kind === 'throttled' || error.kind === 'unavailable';
  return transient ? backoffDelay(policy.backoff, attempt.retries, random) : undefined;
}
