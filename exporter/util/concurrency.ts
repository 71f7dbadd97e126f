/** Maps over items with at most `limit` calls in flight, keeping order. `fn` must not throw. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) {
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * Resolves with the promise's value, or rejects with TimeoutError after `ms`. The work itself
 * is not cancelled (a stuck procfs read cannot be), only no longer waited for.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new TimeoutError(what, ms));
    }, ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

/**
 * Maps synchronously in slices, yielding to the event loop between slices so requests,
 * probes and timers keep running while a large pod is read.
 */
export async function mapInSlices<T, R>(
  items: readonly T[],
  slice: number,
  fn: (item: T) => R,
): Promise<R[]> {
  const out: R[] = [];
  for (let start = 0; start < items.length; start += slice) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    for (const item of items.slice(start, start + slice)) out.push(fn(item));
  }
  return out;
}
