// A small raw-JSON Kubernetes client. The operator must never round-trip a workload
// through typed serializers (they drop fields they do not know), and it sends thousands
// of server-side-apply patches, so one keep-alive agent serves every request (the
// @kubernetes/client-node 2.x transport builds a new undici Agent, so a new TLS
// connection, per request). Errors are classified in one place (errors.ts).
import type http from 'node:http';
import type { Random } from '../runtime/backoff.ts';
import { type Clock, sleep, systemClock } from '../runtime/clock.ts';
import { apiErrorFromResponse, classifyError, KubeApiError } from './errors.ts';
import type { Credential, KubeAccess } from './kubeconfig.ts';
import { DEFAULT_RETRY, retryDelay, type RetryPolicy } from './retry.ts';
import { type RateLimiter, unlimited } from './throttle.ts';
import { Transport, type TransportOptions } from './transport.ts';
import { RequestVerbs } from './verbs.ts';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** A JSON value, serialised as the body. */
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Per-request deadline; the default is the client's. */
  timeoutMs?: number;
  /** Another representation than plain JSON (e.g. a Table); default application/json. */
  accept?: string;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

export interface ListPage {
  items: Record<string, unknown>[];
  resourceVersion: string;
  continue: string | undefined;
}

export interface ApplyOptions {
  fieldManager: string;
  force?: boolean;
  signal?: AbortSignal;
}

/** Called once per finished attempt, for metrics. */
export type ResponseObserver = (method: string, code: number | 'error', seconds: number) => void;

export interface KubeClientOptions {
  userAgent?: string;
  requestTimeoutMs?: number;
  observe?: ResponseObserver;
  /** Client-side rate limit for every attempt (default: none; the operator's is 20 QPS). */
  limiter?: RateLimiter;
  retry?: RetryPolicy;
  /** For retry backoff and waits (tests use a fake one). */
  clock?: Clock;
  random?: Random;
  transport?: TransportOptions;
}

function buildUrl(server: URL, path: string, query?: Query): URL {
  const base = server.pathname.replace(/\/$/, '');
  const url = new URL(server.origin + base + path);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined) url.searchParams.set(k, String(v));
  }
  return url;
}

interface RawResponse {
  status: number;
  body: string;
  retryAfter: string | undefined;
  credential: Credential;
}

export class KubeClient extends RequestVerbs {
  readonly #transport: Transport;
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  readonly #observe: ResponseObserver | undefined;
  readonly #limiter: RateLimiter;
  readonly #retry: RetryPolicy;
  readonly #clock: Clock;
  readonly #random: Random;

  constructor(transport: Transport, options: KubeClientOptions = {}) {
    super();
    this.#transport = transport;
    this.#userAgent = options.userAgent ?? 'sidecar-monitor';
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#observe = options.observe;
    this.#limiter = options.limiter ?? unlimited;
    this.#retry = options.retry ?? DEFAULT_RETRY;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
  }

  static fromAccess(access: KubeAccess, options: KubeClientOptions = {}): KubeClient {
    return new KubeClient(new Transport(access, options.transport), options);
  }

  /**
   * Another client on the same connections with other options: e.g. its own rate limit,
   * as controller-runtime gives its event recorder a client of its own.
   */
  withOptions(options: KubeClientOptions): KubeClient {
    return new KubeClient(this.#transport, options);
  }

  get server(): URL {
    return this.#transport.server;
  }

  /** The proxy requests go through, if any. */
  get proxy(): URL | undefined {
    return this.#transport.proxy;
  }

  /** Closes idle keep-alive sockets (open watches end through their own signals). */
  close(): void {
    this.#transport.close();
  }

  async #send(method: string, path: string, opts: RequestOptions): Promise<RawResponse> {
    const url = buildUrl(this.#transport.server, path, opts.query);
    const headers: Record<string, string> = {
      Accept: opts.accept ?? 'application/json',
      'User-Agent': this.#userAgent,
    };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const started = performance.now();
    const { req, credential } = await this.#transport.start(method, url, headers, {
      signal: opts.signal,
      timeoutMs,
    });
    return new Promise<RawResponse>((resolve, reject) => {
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          this.#observe?.(method, status, (performance.now() - started) / 1000);
          const retryAfter = res.headers['retry-after'];
          resolve({
            status,
            body: Buffer.concat(chunks).toString('utf8'),
            retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
            credential,
          });
        });
      });
      req.on('timeout', () => {
        req.destroy(
          Object.assign(new Error(`no response within ${timeoutMs} ms`), {
            name: 'TimeoutError',
          }),
        );
      });
      req.on('error', (err) => {
        this.#observe?.(method, 'error', (performance.now() - started) / 1000);
        reject(err);
      });
      req.end(payload);
    });
  }

  /** One attempt: the decoded JSON body, or a KubeApiError (with the credential it used). */
  async #attempt(
    method: string,
    path: string,
    opts: RequestOptions,
  ): Promise<
    { ok: true; body: unknown } | { ok: false; error: KubeApiError; credential?: Credential }
  > {
    const context = `${method} ${path}`;
    let res: RawResponse;
    try {
      await this.#limiter.wait(opts.signal);
      res = await this.#send(method, path, opts);
    } catch (err) {
      return { ok: false, error: classifyError(context, err) };
    }
    let decoded: unknown = res.body;
    if (res.body.length > 0) {
      try {
        decoded = JSON.parse(res.body);
      } catch (err) {
        if (res.status >= 200 && res.status < 300) {
          const error = new KubeApiError(
            `${context}: response is not JSON`,
            { kind: 'unknown', statusCode: res.status },
            { cause: err },
          );
          return { ok: false, error };
        }
      }
    }
    if (res.status < 200 || res.status >= 300) {
      const error = apiErrorFromResponse(context, res.status, decoded, res.retryAfter);
      return { ok: false, error, credential: res.credential };
    }
    return { ok: true, body: decoded };
  }

  /**
   * Sends one request and returns the decoded JSON body; failures are KubeApiErrors.
   * Throttled by the client's rate limiter; retried as retry.ts decides; after a 401, once
   * more with a fresh credential when the source can give one (an exec plugin run again,
   * a token file re-read).
   */
  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<T> {
    let renewed = false;
    for (let retries = 0; ;) {
      const result = await this.#attempt(method, path, opts);
      if (result.ok) return result.body as T;
      const { error, credential } = result;
      if (opts.signal?.aborted) throw error;
      if (error.kind === 'unauthorized' && !renewed && credential?.rejected?.()) {
        renewed = true;
        continue;
      }
      const delay = retryDelay(
        error,
        { method, contentType: opts.contentType, retries },
        this.#retry,
        this.#random,
      );
      if (delay === undefined) throw error;
      retries++;
      await sleep(this.#clock, delay, opts.signal);
      if (opts.signal?.aborted) throw error;
    }
  }

  get<T = Record<string, unknown>>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, signal ? { signal } : {});
  }

  async list(path: string, query: Query = {}, signal?: AbortSignal): Promise<ListPage> {
    const body = await this.request<{
      items?: Record<string, unknown>[] | null;
      metadata?: { resourceVersion?: string; continue?: string };
    }>('GET', path, signal ? { query, signal } : { query });
    return {
      items: body.items ?? [],
      resourceVersion: body.metadata?.resourceVersion ?? '',
      continue: body.metadata?.continue || undefined,
    };
  }

  /** Server-side apply: the body holds only the fields this manager owns. */
  apply<T = Record<string, unknown>>(path: string, body: unknown, opts: ApplyOptions): Promise<T> {
    const query: Query = { fieldManager: opts.fieldManager };
    if (opts.force) query.force = true;
    return this.request<T>('PATCH', path, {
      query,
      body,
      contentType: 'application/apply-patch+yaml',
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /**
   * Streams a watch until the server ends it (resolves) or it fails (rejects with a
   * KubeApiError: an ERROR event such as 410 Gone, an HTTP error, or a network error).
   * Events are delivered one at a time: the next line is not read until onEvent resolves.
   * A connection silent for longer than idleTimeoutMs is treated as dead.
   */
  async watch(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent) => Promise<void> | void,
    opts: { signal?: AbortSignal; idleTimeoutMs: number; accept?: string },
  ): Promise<void> {
    const context = `WATCH ${path}`;
    const url = buildUrl(this.#transport.server, path, { ...query, watch: true });
    const headers = { Accept: opts.accept ?? 'application/json', 'User-Agent': this.#userAgent };
    let res: http.IncomingMessage;
    let req: http.ClientRequest;
    let credential: Credential;
    try {
      await this.#limiter.wait(opts.signal);
      // Until the response headers arrive, the ordinary request deadline applies: an API
      // server that accepts connections while starting up must not hold a watch for the
      // whole (minutes long) idle allowance of an established stream.
      const started = await this.#transport.start('GET', url, headers, {
        signal: opts.signal,
        timeoutMs: Math.min(this.#timeoutMs, opts.idleTimeoutMs),
      });
      ({ req, credential } = started);
      res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        started.req.on('response', (response) => {
          started.req.setTimeout(opts.idleTimeoutMs);
          resolve(response);
        });
        started.req.on('timeout', () => {
          started.req.destroy(
            Object.assign(new Error('watch timed out'), { name: 'TimeoutError' }),
          );
        });
        started.req.on('error', reject);
        started.req.end();
      });
    } catch (err) {
      throw classifyError(context, err);
    }
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      try {
        for await (const c of res) chunks.push(c as Buffer);
      } catch {
        // The status code is enough to classify.
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: keep the text.
      }
      // The informer reopens the watch: with a fresh credential if this one was refused.
      if (res.statusCode === 401) credential.rejected?.();
      throw apiErrorFromResponse(context, res.statusCode ?? 0, body);
    }
    res.setEncoding('utf8');
    let buffered = '';
    try {
      for await (const chunk of res) {
        buffered += chunk as string;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line.length === 0) continue;
          const event = parseWatchLine(line, context);
          if (event.type === 'ERROR') {
            const status = event.object;
            throw apiErrorFromResponse(
              context,
              typeof status.code === 'number' ? status.code : 500,
              status,
            );
          }
          await onEvent(event);
        }
      }
    } catch (err) {
      throw classifyError(context, err);
    } finally {
      req.destroy();
    }
  }
}

function parseWatchLine(line: string, context: string): WatchEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    throw new KubeApiError(
      `${context}: undecodable watch event`,
      { kind: 'unknown' },
      { cause: err },
    );
  }
  const rec = parsed as { type?: unknown; object?: unknown };
  const types = ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'];
  if (
    typeof rec.type !== 'string' ||
    !types.includes(rec.type) ||
    typeof rec.object !== 'object' ||
    rec.object === null
  ) {
    throw new KubeApiError(`${context}: malformed watch event`, { kind: 'unknown' });
  }
  return rec as WatchEvent;
}
