// A small raw-JSON client for the Kubernetes REST API, over node:https with client
// certificates. Tests see objects exactly as the server sent them: no typed serializer
// that turns timestamps into Dates or drops fields it does not know (managedFields of a
// CRD, a new API field), which is what tests of server-side apply need to look at.
import { Agent, request as httpsRequest } from 'node:https';
import type { KubeconfigCredentials } from './kubeconfig.ts';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string }[];
    managedFields?: { manager?: string; operation?: string; fieldsV1?: unknown }[];
    deletionTimestamp?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface StatusCause {
  readonly field?: string;
  readonly message?: string;
  readonly reason?: string;
}

/** A response from the API server with a non-2xx status, with its Status body parsed. */
export class KubeApiError extends Error {
  readonly status: number;
  /** metav1.Status reason: NotFound, AlreadyExists, Conflict, Invalid, Forbidden, ... */
  readonly reason: string | undefined;
  /** details.causes: for Invalid, one entry per rejected field. */
  readonly causes: readonly StatusCause[];
  readonly body: unknown;

  constructor(method: string, path: string, status: number, body: unknown) {
    const parsed = (typeof body === 'object' && body !== null ? body : {}) as {
      message?: unknown;
      reason?: unknown;
      details?: { causes?: StatusCause[] };
    };
    const message =
      typeof parsed.message === 'string' ? parsed.message : JSON.stringify(body).slice(0, 500);
    super(`${method} ${path}: ${status} ${message}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = typeof parsed.reason === 'string' ? parsed.reason : undefined;
    this.causes = parsed.details?.causes ?? [];
    this.body = body;
  }
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Defaults to application/json when there is a body. */
  readonly contentType?: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly timeoutMs?: number;
}

export interface RestClient {
  readonly server: string;
  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<T>;
  /** Closes idle keep-alive connections. */
  close(): void;
}

export function createRestClient(
  creds: KubeconfigCredentials,
  userAgent = 'sidecar-monitor-test',
): RestClient {
  const agent = new Agent({
    keepAlive: true,
    ca: creds.caPem,
    cert: creds.certPem,
    key: creds.keyPem,
  });
  const base = new URL(creds.server);
  return {
    server: creds.server,
    request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
      const url = new URL(path, base);
      for (const [key, value] of Object.entries(options.query ?? {})) {
        if (value !== undefined) url.searchParams.set(key, String(value));
      }
      const payload =
        options.body === undefined
          ? undefined
          : typeof options.body === 'string'
            ? options.body
            : JSON.stringify(options.body);
      const headers: Record<string, string> = {
        accept: 'application/json',
        'user-agent': userAgent,
      };
      if (payload !== undefined) {
        headers['content-type'] = options.contentType ?? 'application/json';
        headers['content-length'] = String(Buffer.byteLength(payload));
      }
      if (creds.impersonate !== undefined) headers['impersonate-user'] = creds.impersonate;
      const target = `${url.pathname}${url.search}`;
      return new Promise<T>((resolve, reject) => {
        const req = httpsRequest(
          url,
          { method, agent, headers, timeout: options.timeoutMs ?? 30_000 },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('error', (error) => {
              reject(
                new Error(`${method} ${target}: reading the response failed`, { cause: error }),
              );
            });
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let body: unknown = text;
              if ((res.headers['content-type'] ?? '').includes('json') && text !== '') {
                try {
                  body = JSON.parse(text);
                } catch {
                  // Keep the text: the error below shows it.
                }
              }
              const status = res.statusCode ?? 0;
              if (status >= 200 && status < 300) resolve(body as T);
              else reject(new KubeApiError(method, target, status, body));
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error('request timed out')));
        req.on('error', (error) => {
          reject(new Error(`${method} ${target} on ${creds.server} failed`, { cause: error }));
        });
        req.end(payload);
      });
    },
    close(): void {
      agent.destroy();
    },
  };
}
