// A small raw-JSON Kubernetes client. The operator must never round-trip a workload
// through typed serializers (they drop fields they do not know), and it sends thousands
// of server-side-apply patches, so one keep-alive agent serves every request (the
// @kubernetes/client-node 2.x transport builds a new undici Agent, so a new TLS
// connection, per request). Errors are classified in one place (errors.ts).
import http from 'node:http';
import https from 'node:https';
import type { KubeAccess } from './kubeconfig.ts';
import { apiErrorFromResponse, classifyError, KubeApiError } from './errors.ts';

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

/** Called once per finished request, for metrics. */
export type ResponseObserver = (method: string, code: number | 'error', seconds: number) => void;

export interface ConnectionSettings {
  server: URL;
  agent: http.Agent;
  /** Auth and impersonation headers (the access keeps rotating tokens fresh). */
  headers: () => Promise<Record<string, string>>;
}

export interface KubeClientOptions {
  userAgent?: string;
  requestTimeoutMs?: number;
  observe?: ResponseObserver;
}

/** One keep-alive agent for the access's server and TLS material. */
export function connectionFromAccess(access: KubeAccess): ConnectionSettings {
  const { server, tls } = access;
  const agent =
    server.protocol === 'http:'
      ? new http.Agent({ keepAlive: true, keepAliveMsecs: 30_000 })
      : new https.Agent({
          keepAlive: true,
          keepAliveMsecs: 30_000,
          rejectUnauthorized: tls.rejectUnauthorized,
          ...(tls.ca ? { ca: tls.ca } : {}),
          ...(tls.cert ? { cert: tls.cert } : {}),
          ...(tls.key ? { key: tls.key } : {}),
          ...(tls.servername ? { servername: tls.servername } : {}),
        });
  return { server, agent, headers: () => access.headers() };
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
}

export class KubeClient {
  readonly #conn: ConnectionSettings;
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  readonly #observe: ResponseObserver | undefined;

  constructor(conn: ConnectionSettings, options: KubeClientOptions = {}) {
    this.#conn = conn;
    this.#userAgent = options.userAgent ?? 'sidecar-monitor';
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#observe = options.observe;
  }

  static fromAccess(access: KubeAccess, options?: KubeClientOptions): KubeClient {
    return new KubeClient(connectionFromAccess(access), options);
  }

  get server(): URL {
    return this.#conn.server;
  }

  /** Closes idle keep-alive sockets (open watches end through their own signals). */
  close(): void {
    this.#conn.agent.destroy();
  }

  async #send(method: string, path: string, opts: RequestOptions): Promise<RawResponse> {
    const url = buildUrl(this.#conn.server, path, opts.query);
    const headers: Record<string, string> = {
      ...(await this.#conn.headers()),
      Accept: opts.accept ?? 'application/json',
      'User-Agent': this.#userAgent,
    };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const mod = url.protocol === 'http:' ? http : https;
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const started = performance.now();
    return new Promise<RawResponse>((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          headers,
          agent: this.#conn.agent,
          signal: opts.signal,
          timeout: timeoutMs,
        },
        (res) => {
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
            });
          });
        },
      );
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

  /** Sends one request and returns the decoded JSON body; failures are KubeApiErrors. */
  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<T> {
    const context = `${method} ${path}`;
    let res: RawResponse;
    try {
      res = await this.#send(method, path, opts);
    } catch (err) {
      throw classifyError(context, err);
    }
    let decoded: unknown = res.body;
    if (res.body.length > 0) {
      try {
        decoded = JSON.parse(res.body);
      } catch (err) {
        if (res.status >= 200 && res.status < 300) {
          throw new KubeApiError(
            `${context}: response is not JSON`,
            { kind: 'unknown', statusCode: res.status },
            { cause: err },
          );
        }
      }
    }
    if (res.status < 200 || res.status >= 300) {
      throw apiErrorFromResponse(context, res.status, decoded, res.retryAfter);
    }
    return decoded as T;
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

  mergePatch<T = Record<string, unknown>>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request<T>('PATCH', path, {
      body,
      contentType: 'application/merge-patch+json',
      ...(query ? { query } : {}),
    });
  }

  jsonPatch<T = Record<string, unknown>>(path: string, ops: unknown[], query?: Query): Promise<T> {
    return this.request<T>('PATCH', path, {
      body: ops,
      contentType: 'application/json-patch+json',
      ...(query ? { query } : {}),
    });
  }

  create<T = Record<string, unknown>>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request<T>('POST', path, { body, ...(query ? { query } : {}) });
  }

  replace<T = Record<string, unknown>>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request<T>('PUT', path, { body, ...(query ? { query } : {}) });
  }

  delete(path: string, body?: unknown): Promise<Record<string, unknown>> {
    return this.request('DELETE', path, body === undefined ? {} : { body });
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
    const url = buildUrl(this.#conn.server, path, { ...query, watch: true });
    const headers = {
      ...(await this.#conn.headers()),
      Accept: opts.accept ?? 'application/json',
      'User-Agent': this.#userAgent,
    };
    const mod = url.protocol === 'http:' ? http : https;
    let res: http.IncomingMessage;
    let req: http.ClientRequest;
    try {
      ({ req, res } = await new Promise<{ req: http.ClientRequest; res: http.IncomingMessage }>(
        (resolve, reject) => {
          // Until the response headers arrive, the ordinary request deadline applies: an
          // API server that accepts connections while starting up must not hold a watch
          // for the whole (minutes long) idle allowance of an established stream.
          const r = mod.request(url, {
            method: 'GET',
            headers,
            agent: this.#conn.agent,
            signal: opts.signal,
            timeout: Math.min(this.#timeoutMs, opts.idleTimeoutMs),
          });
          r.on('response', (response) => {
            r.setTimeout(opts.idleTimeoutMs);
            resolve({ req: r, res: response });
          });
          r.on('timeout', () => {
            r.destroy(Object.assign(new Error('watch timed out'), { name: 'TimeoutError' }));
          });
          r.on('error', reject);
          r.end();
        },
      ));
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
