// The one informer the operator uses. client-node's ListWatch stops for good on any
// error other than 410 and timeouts, calls handlers without awaiting them (so their
// errors vanish), and never relists. This one:
//  - restarts list/watch on any error with capped exponential backoff and jitter;
//  - relists periodically, so a missed event cannot leave the cache wrong for long;
//  - delivers events one at a time to awaited handlers, logging and counting failures;
//  - normalises objects in one place: list items lack apiVersion/kind, watch objects
//    carry them; both come back from the raw client as plain JSON (no Date objects);
//  - never compares resourceVersions except for equality (they are opaque strings).
import type { Logger } from 'pino';
import { type BackoffPolicy, backoffDelay, type Random } from '../backoff.ts';
import { aborted, type Clock, sleep } from '../clock.ts';
import type { KubeApiError } from './errors.ts';
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
  backoff?: BackoffPolicy;
  /** Full relist period (also bounds how long one watch runs). */
  relistIntervalMs?: number;
  pageSize?: number;
  /** Called on every list/watch failure (for metrics). */
  onFailure?(err: KubeApiError): void;
}

// Capped low: after an API server outage the operator should be back within seconds.
const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 8_000, jitter: 0.5 };

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
  #failures = 0;

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
    const relistMs = this.#opts.relistIntervalMs ?? 10 * 60_000;
    const random = this.#opts.random ?? Math.random;
    const path = collectionPath(resource, namespace);
    let needList = true;
    let listedAt = 0;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.#relist(path, signal);
          listedAt = clock.now();
          needList = false;
        }
        const untilRelist = Math.max(1000, listedAt + relistMs - clock.now());
        // Like client-go, spread watch lifetimes so replicas do not reconnect in lockstep.
        const timeoutSeconds = Math.max(1, Math.floor((untilRelist / 1000) * (0.5 + random() / 2)));
        const query: Query = {
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
        };
        if (this.#opts.labelSelector) query.labelSelector = this.#opts.labelSelector;
        await this.#opts.client.watch(path, query, (event) => this.#onEvent(event), {
          signal,
          idleTimeoutMs: timeoutSeconds * 1000 + 30_000,
        });
        if (clock.now() - listedAt >= relistMs) needList = true;
      } catch (err) {
        if (aborted(signal)) break;
        const apiErr = err as KubeApiError;
        this.#opts.onFailure?.(apiErr);
        if (apiErr.kind === 'gone') {
          // Our resourceVersion is too old for the watch cache: relist now, no backoff.
          this.#log.debug({ err: apiErr.message }, 'watch expired, relisting');
          needList = true;
          continue;
        }
        const delay = backoffDelay(this.#opts.backoff ?? DEFAULT_BACKOFF, this.#failures++, random);
        this.#log.warn(
          { err: apiErr.message, kind: apiErr.kind, retryInMs: Math.round(delay) },
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
    this.#failures = 0;
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
    this.#failures = 0;
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
