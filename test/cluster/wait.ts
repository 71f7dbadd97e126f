// Polling with a deadline and an error that says what was last seen, so a timed-out test
// explains itself ("timed out after 60 s waiting for deployment ns/app to be available;
// last seen: {...}") instead of failing with a bare vitest timeout.
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 60 s). A bound, not a performance assertion. */
  readonly timeoutMs?: number;
  /** First delay between attempts (default 100 ms); it grows to at most 1 s. */
  readonly intervalMs?: number;
  /** Aborting ends the wait at once, rejecting with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Record what the probe saw; the last note is quoted in the timeout error. */
export type Note = (observation: unknown) => void;

export type Probe<T> = (note: Note) => Promise<T | undefined | false> | T | undefined | false;

/**
 * Calls `probe` until it returns something other than `undefined` or `false`, and
 * returns that. A probe that throws counts as "not yet" (the API server may be
 * restarting, a CRD may not be served yet); its last error is quoted on timeout.
 */
export async function waitFor<T>(
  description: string,
  probe: Probe<T>,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let delay = options.intervalMs ?? 100;
  let observed: { value: unknown } | undefined;
  let lastError: unknown;
  const note: Note = (value) => {
    observed = { value };
  };
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const result = await probe(note);
      if (result !== undefined && result !== false) return result;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const details: string[] = [];
      if (observed !== undefined) details.push(`last seen: ${show(observed.value)}`);
      if (lastError !== undefined) details.push(`last error: ${errorText(lastError)}`);
      throw new Error(
        `timed out after ${(timeoutMs / 1000).toFixed(0)} s waiting for ${description}` +
          (details.length > 0 ? `; ${details.join('; ')}` : ''),
        { cause: lastError },
      );
    }
    try {
      await sleep(Math.min(delay, remaining), undefined, { signal: options.signal });
    } catch (error) {
      options.signal?.throwIfAborted();
      throw error;
    }
    delay = Math.min(delay * 1.5, 1000);
  }
}

function show(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 2000 ? `${text.slice(0, 2000)}...` : text;
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
