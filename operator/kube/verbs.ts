// The write verbs of the Kubernetes API in terms of one `request`: shared by our client and
// by the leader's fenced client, which differ only in how a request is sent.
import type { Query, RequestOptions } from './client.ts';

export abstract class RequestVerbs {
  abstract request<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts?: RequestOptions,
  ): Promise<T>;

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
}
