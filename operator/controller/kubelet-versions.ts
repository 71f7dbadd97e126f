// Kubelet versions, for the native-sidecar decision, without Node objects.
//
// From API server 1.32 on, the version-skew policy (kubelets at most three minors behind
// the API server) already guarantees kubelets >= 1.29, and below 1.29 native sidecars are
// off whatever the kubelets run: only 1.29-1.31 servers need the versions at all.
// There the operator watches Nodes as the server-side printed Table kubectl uses
// (`as=Table`, includeObject=None): each event carries the row's cells (name, status,
// version...), about 300 bytes, instead of the whole Node (KBs to tens of KBs with its
// image list), and nothing but name and version is kept. A metadata-only watch
// (PartialObjectMetadata) would be smaller still but does not carry the kubelet version.
// The rows go through the ordinary Informer, so the watch keeps every reflector
// behaviour (backoff, bookmarks, idle timeout, 410 relist).
import { atLeast, type KubeVersion } from './cluster-facts.ts';
import type { KubeApi } from '../kube/api.ts';
import type { ListPage, Query, WatchEvent } from '../kube/client.ts';
import { KubeApiError } from '../kube/errors.ts';
import type { ListWatchClient } from '../kube/informer.ts';

/** --watch-kubelet-versions: auto (only where needed), or always / never. */
export type KubeletVersionMode = 'auto' | 'true' | 'false';

export function watchKubeletVersions(
  server: KubeVersion | undefined,
  mode: KubeletVersionMode,
): { watch: boolean; reason: string } {
  if (mode === 'true') return { watch: true, reason: '--watch-kubelet-versions=true' };
  if (mode === 'false') return { watch: false, reason: '--watch-kubelet-versions=false' };
  if (!atLeast(server, 1, 29)) {
    return { watch: false, reason: 'the API server is older than 1.29: no native sidecars' };
  }
  if (atLeast(server, 1, 32)) {
    return {
      watch: false,
      reason:
        'the API server is 1.32 or newer: the version-skew policy guarantees kubelets of 1.29 or newer',
    };
  }
  return { watch: true, reason: 'the API server is 1.29-1.31: kubelets may be older than 1.29' };
}

export const TABLE_MEDIA_TYPE = 'application/json;as=Table;g=meta.k8s.io;v=v1';

interface Table {
  metadata?: { resourceVersion?: string; continue?: string };
  columnDefinitions?: { name?: string }[] | null;
  rows?: { cells?: unknown[] }[] | null;
}

/** What the informer caches per Node: its name and kubelet version, nothing else. */
export interface NodeVersion {
  metadata: { name: string; resourceVersion?: string };
  status: { nodeInfo: { kubeletVersion: string | undefined } };
}

/**
 * Lists and watches Nodes as Tables and hands the informer one small object per row. A
 * row has no resourceVersion of its own: a listed row carries the list's (the state as
 * of it), a watched row its event's (the Table of one event is that object's).
 */
export class NodeVersionTables implements ListWatchClient {
  readonly #client: Pick<KubeApi, 'request' | 'watch'>;
  #columns: { name: number; version: number } | undefined;

  constructor(client: Pick<KubeApi, 'request' | 'watch'>) {
    this.#client = client;
  }

  /** The first Table of a list or watch names its columns; later watch events do not. */
  #learn(table: Table, context: string): { name: number; version: number } {
    const defs = table.columnDefinitions;
    if (defs) {
      const name = defs.findIndex((d) => d.name === 'Name');
      const version = defs.findIndex((d) => d.name === 'Version');
      if (name < 0 || version < 0) {
        throw new KubeApiError(
          `${context}: the Node table has no Name or Version column (columns: ${defs.map((d) => d.name ?? '?').join(', ')})`,
          { kind: 'unknown' },
        );
      }
      this.#columns = { name, version };
    }
    if (!this.#columns) {
      throw new KubeApiError(`${context}: a Node table without column definitions`, {
        kind: 'unknown',
      });
    }
    return this.#columns;
  }

  #rows(table: Table, resourceVersion: string, context: string): NodeVersion[] {
    const rows = table.rows ?? [];
    if (rows.length === 0) return [];
    const columns = this.#learn(table, context);
    const out: NodeVersion[] = [];
    for (const row of rows) {
      const name = row.cells?.[columns.name];
      const version = row.cells?.[columns.version];
      if (typeof name !== 'string' || name === '') continue;
      out.push({
        metadata: { name, resourceVersion },
        status: { nodeInfo: { kubeletVersion: typeof version === 'string' ? version : undefined } },
      });
    }
    return out;
  }

  async list(path: string, query: Query, signal?: AbortSignal): Promise<ListPage> {
    const table = await this.#client.request<Table>('GET', path, {
      query: { ...query, includeObject: 'None' },
      accept: TABLE_MEDIA_TYPE,
      ...(signal ? { signal } : {}),
    });
    if (table.columnDefinitions) this.#learn(table, `GET ${path}`);
    const resourceVersion = table.metadata?.resourceVersion ?? '';
    return {
      items: this.#rows(table, resourceVersion, `GET ${path}`) as unknown as Record<
        string,
        unknown
      >[],
      resourceVersion,
      continue: table.metadata?.continue || undefined,
    };
  }

  watch(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent) => Promise<void> | void,
    opts: { signal?: AbortSignal; idleTimeoutMs: number },
  ): Promise<void> {
    const context = `WATCH ${path}`;
    return this.#client.watch(
      path,
      { ...query, includeObject: 'None' },
      async (event) => {
        const table = event.object as Table;
        const resourceVersion = table.metadata?.resourceVersion ?? '';
        if (event.type === 'BOOKMARK') {
          await onEvent({ type: 'BOOKMARK', object: { metadata: { resourceVersion } } });
          return;
        }
        for (const row of this.#rows(table, resourceVersion, context)) {
          await onEvent({ type: event.type, object: row as unknown as Record<string, unknown> });
        }
      },
      { ...opts, accept: TABLE_MEDIA_TYPE },
    );
  }
}
