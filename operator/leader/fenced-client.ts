// The client the leader's work writes through. Every request carries the leadership
// signal (so requests in flight are cut the moment leadership ends), and every write is
// refused unless the Leadership still holds at that instant: a deposed or frozen-and-
// resumed leader sends nothing, whatever its queues, timers or caches still hold.
import type {
  KubeClient,
  Query,
  RequestOptions,
  WatchEvent,
  ApplyOptions,
} from '../kube/client.ts';
import type { KubeApi } from '../kube/api.ts';
import { KubeApiError } from '../kube/errors.ts';
import { RequestVerbs } from '../kube/verbs.ts';
import type { Leadership } from './elector.ts';

function both(own: AbortSignal | undefined, leading: AbortSignal): AbortSignal {
  return own ? AbortSignal.any([own, leading]) : leading;
}

export class FencedClient extends RequestVerbs implements KubeApi {
  readonly #inner: KubeClient;
  readonly #leadership: Leadership;

  constructor(inner: KubeClient, leadership: Leadership) {
    super();
    this.#inner = inner;
    this.#leadership = leadership;
  }

  get server(): URL {
    return this.#inner.server;
  }

  /** Throws unless we lead right now; returns the signal to send with. */
  #fence(method: string, path: string, own?: AbortSignal): AbortSignal {
    if (method !== 'GET' && !this.#leadership.valid()) {
      throw new KubeApiError(`${method} ${path}: not sent, this replica no longer leads`, {
        kind: 'unknown',
        reason: 'NotLeader',
      });
    }
    return both(own, this.#leadership.signal);
  }

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<T> {
    const signal = this.#fence(method, path, opts.signal);
    return await this.#inner.request<T>(method, path, { ...opts, signal });
  }

  get<T = Record<string, unknown>>(path: string, signal?: AbortSignal): Promise<T> {
    return this.#inner.get<T>(path, both(signal, this.#leadership.signal));
  }

  list(path: string, query: Query = {}, signal?: AbortSignal): ReturnType<KubeClient['list']> {
    return this.#inner.list(path, query, both(signal, this.#leadership.signal));
  }

  watch(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent) => Promise<void> | void,
    opts: { signal?: AbortSignal; idleTimeoutMs: number; accept?: string },
  ): Promise<void> {
    return this.#inner.watch(path, query, onEvent, {
      ...opts,
      signal: both(opts.signal, this.#leadership.signal),
    });
  }

  async apply<T = Record<string, unknown>>(
    path: string,
    body: unknown,
    opts: ApplyOptions,
  ): Promise<T> {
    const signal = this.#fence('PATCH', path, opts.signal);
    return await this.#inner.apply<T>(path, body, { ...opts, signal });
  }
}
