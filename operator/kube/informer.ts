// The one informer the operator uses. client-node's ListWatch stops for good on any
// error other than 410 and timeouts, calls handlers without awaiting them (so their
// errors vanish), and never notices a dead connection. This one behaves like client-go's
// reflector:
//  - restarts list/watch on any error with capped exponential backoff and jitter, and
//    treats a watch that ends within a second without a single event as an error too, so
//    a server (or proxy) that closes every watch at once is not hammered in a hot loop;
//    a 410 relists after the same backoff, so repeated 410s slow down as well;
//  - asks for bookmarks and counts a watch silent for about twice the bookmark period
//    as dead (a half-open connection would otherwise leave the cache blind for minutes);
//  - lists once and then only watches: resyncs replay the cache (the manager's job),
//    they never relist;
//  - delivers events one at a time to awaited handlers, logging and counting failures;
//  - normalises objects in one place: list items lack apiVersion/kind, watch objects
//    carry them; both come back from the raw client as plain JSON (no Date objects);
//  - never compares resourceVersions except for equality (they are opaque strings).
import type { Logger } from 'pino';
import { type Random, RestartBackoff, type RestartPolicy } from '../runtime/backoff.ts';
import { aborted, type Clock, sleep } from '../runtime/clock.ts';
import { classifyError, KubeApiError } from './errors.ts';
import type { ListPage, Query, WatchEvent } from './client.ts';
import {
  apiVersionOf,
  collectionPath,
  type KubeObject,
  objectKey,
  type ResourceType,
} from './resources.ts';

export interface ListWatchClient {
  list(path: string, query: Query, signal?: AbortSignal): Promise<ListPage>;
  watch(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent) => Promise<void> | void,
    opts: { signal?: AbortSignal; idleTimeoutMs: number },
  ): Promise<void>;
}

export interface InformerHandlers<T> {
  upsert?(obj: T, old: T | undefined): Promise<void> | void;
  delete?(obj: T): Promise<void> | void;
}

export interface InformerOptions<T extends KubeObject> {
  client: ListWatchClient;
  resource: ResourceType;
  /** Watch one namespace; undefined watches all. */
  namespace?: string;
  labelSelector?: string;
  /**
   * Trims an object for the cache (e.g. drop managedFields). It receives a normalised
   * object it may mutate. Cached objects are never written back to the API server.
   */
  transform?: (obj: KubeObject) => T;
  clock: Clock;
  logger: Logger;
  random?: Random;
  backoff?: RestartPolicy;
  /**
   * How often the API server sends a bookmark on a quiet watch (about every minute); a
   * watch silent for IDLE_BOOKMARK_PERIODS times as long is taken for dead and reopened.
   */
  bookmarkPeriodMs?: number;
  /** Shortest server-side watch timeout; each watch asks for between this and twice it. */
  minWatchTimeoutMs?: number;
  pageSize?: number;
  /** Called on every list/watch failure (for metrics): the error kind, or 'short-watch'. */
  onFailure?(reason: string, err: KubeApiError): void;
}

// Capped low: after an API server outage the operator should be back within seconds.
// client-go starts at 800 ms, caps at 30 s and resets after 2 quiet minutes.
const DEFAULT_BACKOFF: RestartPolicy = {
  baseMs: 500,
  maxMs: 8_000,
  jitter: 0.5,
  resetAfterMs: 120_000,
};
/** The kube-apiserver's watch cache sends a bookmark about once a minute. */
export const DEFAULT_BOOKMARK_PERIOD_MS = 60_000;
/**
 * Measured on kube-apiserver 1.35 (README): a quiet watch gets a bookmark every 60 s, but
 * the first one can come 120 s after the watch opened. 2.5 periods (150 s) waits for
 * that first one with room to spare, and is still minutes shorter than the watch's own
 * timeout, which is all that bounded a dead connection before.
 */
const IDLE_BOOKMARK_PERIODS = 2.5;
/** client-go's minWatchTimeout. */
const DEFAULT_MIN_WATCH_TIMEOUT_MS = 5 * 60_000;
/** client-go: a watch shorter than this that delivered nothing is an error. */
const SHORT_WATCH_MS = 1_000;

function describe(r: ResourceType, namespace?: string): string {
  return `${r.plural}${namespace === undefined ? '' : ` in ${namespace}`}`;
}

/** Shared normalisation: the list form of an object gets the apiVersion/kind the watch form has. */
export function normalise(r: ResourceType, raw: Record<string, unknown>): KubeObject {
  const obj = raw as KubeObject;
  obj.apiVersion ??= apiVersionOf(r);
  obj.kind ??= r.kind;
  return obj;
}

/** Drops what the operator never reads but Kubernetes objects carry in bulk. */
export function stripForCache(obj: KubeObject): KubeObject {
  delete obj.metadata.managedFields;
  const annotations = obj.metadata.annotations;
  if (annotations && 'kubectl.kubernetes.io/last-applied-configuration' in annotations) {
    delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  }
  return obj;
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly #opts: InformerOptions<T>;
  readonly #store = new Map<string, T>();
  readonly #byNamespace = new Map<string, Set<string>>();
  readonly #handlers: InformerHandlers<T>[] = [];
  readonly #log: Logger;
  #resourceVersion = '';
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  /** Watch events received (bookmarks included): tells a short but useful watch from a dud. */
  #events = 0;

  constructor(opts: InformerOptions<T>) {
    this.#opts = opts;
    this.#log = opts.logger.child({
      informer: opts.resource.plural,
      ...(opts.namespace === undefined ? {} : { watchNamespace: opts.namespace }),
    });
  }

  get resource(): ResourceType {
    return this.#opts.resource;
  }

  addHandlers(handlers: InformerHandlers<T>): void {
    this.#handlers.push(handlers);
  }

  get hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first list has been delivered to the handlers. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  get size(): number {
    return this.#store.size;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#store.get(namespace ? `${namespace}/${name}` : name);
  }

  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.#store.values()];
    const keys = this.#byNamespace.get(namespace);
    if (!keys) return [];
    const out: T[] = [];
    for (const key of keys) {
      const obj = this.#store.get(key);
      if (obj) out.push(obj);
    }
    return out;
  }

  /** Runs list+watch until signal aborts. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, resource, namespace } = this.#opts;
    const random = this.#opts.random ?? Math.random;
    const backoff = new RestartBackoff(this.#opts.backoff ?? DEFAULT_BACKOFF, random);
    const idleTimeoutMs =
      IDLE_BOOKMARK_PERIODS * (this.#opts.bookmarkPeriodMs ?? DEFAULT_BOOKMARK_PERIOD_MS);
    const minWatchMs = this.#opts.minWatchTimeoutMs ?? DEFAULT_MIN_WATCH_TIMEOUT_MS;
    const path = collectionPath(resource, namespace);
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.#relist(path, signal);
          needList = false;
        }
        // Like client-go, spread watch lifetimes so replicas do not reconnect in lockstep.
        const timeoutSeconds = Math.max(1, Math.floor((minWatchMs / 1000) * (1 + random())));
        const query: Query = {
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
        };
        if (this.#opts.labelSelector) query.labelSelector = this.#opts.labelSelector;
        const started = clock.monotonic();
        const eventsBefore = this.#events;
        await this.#opts.client.watch(path, query, (event) => this.#onEvent(event), {
          signal,
          idleTimeoutMs,
        });
        const ms = clock.monotonic() - started;
        if (this.#events === eventsBefore && ms < SHORT_WATCH_MS && !aborted(signal)) {
          throw new KubeApiError(
            `watch of ${describe(resource, namespace)} ended after ${Math.round(ms)} ms without a single event`,
            { kind: 'unknown', reason: 'ShortWatch' },
          );
        }
        // A watch that ran its course ends normally: carry on from the last resourceVersion.
      } catch (err) {
        if (aborted(signal)) break;
        const apiErr = classifyError(`list/watch of ${describe(resource, namespace)}`, err);
        const reason = apiErr.reason === 'ShortWatch' ? 'short-watch' : apiErr.kind;
        this.#opts.onFailure?.(reason, apiErr);
        // Our resourceVersion is too old for the watch cache: relist, after the same
        // backoff as any failure (a server answering every watch with 410 must not be
        // relisted in a loop).
        if (apiErr.kind === 'gone') needList = true;
        const delay = backoff.next(clock.monotonic());
        const fields = { err: apiErr.message, reason, retryInMs: Math.round(delay) };
        if (apiErr.kind === 'gone') this.#log.info(fields, 'watch expired; relisting');
        else
          this.#log.warn(
            fields,
            `${needList ? 'list' : 'watch'} of ${describe(resource, namespace)} failed; retrying`,
          );
        await sleep(clock, delay, signal);
      }
    }
  }

  async #relist(path: string, signal: AbortSignal): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const query: Query = { limit: this.#opts.pageSize ?? 500 };
      if (cont) query.continue = cont;
      if (this.#opts.labelSelector) query.labelSelector = this.#opts.labelSelector;
      const page = await this.#opts.client.list(path, query, signal);
      for (const item of page.items) {
        const obj = this.#prepare(item);
        fresh.set(objectKey(obj), obj);
      }
      cont = page.continue;
      resourceVersion = page.resourceVersion;
    } while (cont);
    this.#resourceVersion = resourceVersion;
    for (const [key, obj] of fresh) {
      const old = this.#store.get(key);
      if (old?.metadata.resourceVersion === obj.metadata.resourceVersion && old !== undefined)
        continue;
      this.#put(key, obj);
      await this.#deliver('upsert', obj, old);
    }
    for (const [key, old] of [...this.#store]) {
      if (fresh.has(key)) continue;
      this.#remove(key, old);
      await this.#deliver('delete', old, undefined);
    }
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
      this.#log.debug({ objects: this.#store.size }, 'informer synced');
    }
  }

  async #onEvent(event: WatchEvent): Promise<void> {
    this.#events++;
    const rv = (event.object.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    if (event.type === 'BOOKMARK') {
      if (rv) this.#resourceVersion = rv;
      return;
    }
    const obj = this.#prepare(event.object);
    const key = objectKey(obj);
    const old = this.#store.get(key);
    if (event.type === 'DELETED') {
      if (old) this.#remove(key, old);
      if (rv) this.#resourceVersion = rv;
      await this.#deliver('delete', obj, undefined);
      return;
    }
    if (rv) this.#resourceVersion = rv;
    if (old?.metadata.resourceVersion === obj.metadata.resourceVersion && old !== undefined) return;
    this.#put(key, obj);
    await this.#deliver('upsert', obj, old);
  }

  #prepare(raw: Record<string, unknown>): T {
    const obj = normalise(this.#opts.resource, raw);
    return this.#opts.transform ? this.#opts.transform(obj) : (obj as T);
  }

  #put(key: string, obj: T): void {
    this.#store.set(key, obj);
    const ns = obj.metadata.namespace ?? '';
    let keys = this.#byNamespace.get(ns);
    if (!keys) {
      keys = new Set();
      this.#byNamespace.set(ns, keys);
    }
    keys.add(key);
  }

  #remove(key: string, obj: T): void {
    this.#store.delete(key);
    const ns = obj.metadata.namespace ?? '';
    const keys = this.#byNamespace.get(ns);
    keys?.delete(key);
    if (keys?.size === 0) this.#byNamespace.delete(ns);
  }

  async #deliver(kind: 'upsert' | 'delete', obj: T, old: T | undefined): Promise<void> {
    for (const h of this.#handlers) {
      try {
        if (kind === 'upsert') await h.upsert?.(obj, old);
        else await h.delete?.(obj);
      } catch (err) {
        this.#log.error(
          { err, namespace: obj.metadata.namespace, name: obj.metadata.name },
          `informer ${kind} handler failed`,
        );
      }
    }
  }
}
