// Whether kubelet versions are watched, and the Node Table rows turned into the informer's
// small objects (the Table shapes are those kube-apiserver 1.35 sends; the real server is
// in test/operator/native.test.ts).
import { describe, expect, it } from 'vitest';
import {
  NodeVersionTables,
  TABLE_MEDIA_TYPE,
  watchKubeletVersions,
} from '../../../operator/controller/kubelet-versions.ts';
import type { Query, RequestOptions, WatchEvent } from '../../../operator/kube/client.ts';

describe('watchKubeletVersions', () => {
  it.each([
    [{ major: 1, minor: 27 }, 'auto', false],
    [{ major: 1, minor: 28 }, 'auto', false],
    [{ major: 1, minor: 29 }, 'auto', true],
    [{ major: 1, minor: 31 }, 'auto', true],
    [{ major: 1, minor: 32 }, 'auto', false],
    [{ major: 1, minor: 35 }, 'auto', false],
    [undefined, 'auto', false],
    [{ major: 1, minor: 35 }, 'true', true],
    [{ major: 1, minor: 30 }, 'false', false],
  ] as const)('server %o, mode %s: watch %s', (server, mode, watch) => {
    expect(watchKubeletVersions(server, mode).watch).toBe(watch);
  });
});

const columns = ['Name', 'Status', 'Roles', 'Age', 'Version', 'Internal-IP'].map((name) => ({
  name,
  type: 'string',
  format: '',
  description: `${name} ...`,
  priority: 0,
}));
const row = (name: string, version: string) => ({
  cells: [name, 'Ready', '<none>', '2m', version, '10.0.0.1'],
  object: null,
});

class TableServer {
  readonly seen: { accept: string | undefined; query: Query }[] = [];
  events: WatchEvent[] = [];
  request<T>(_method: string, _path: string, opts: RequestOptions = {}): Promise<T> {
    this.seen.push({ accept: opts.accept, query: opts.query ?? {} });
    return Promise.resolve({
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { resourceVersion: '274', continue: 'next' },
      columnDefinitions: columns,
      rows: [row('a', 'v1.30.1'), row('b', 'v1.28.15')],
    } as T);
  }
  async watch(
    _path: string,
    query: Query,
    onEvent: (e: WatchEvent) => Promise<void> | void,
    opts: { accept?: string },
  ): Promise<void> {
    this.seen.push({ accept: opts.accept, query });
    for (const e of this.events) await onEvent(e);
  }
}

describe('NodeVersionTables', () => {
  it('lists Nodes as a Table without objects and keeps only name and kubelet version', async () => {
    const server = new TableServer();
    const page = await new NodeVersionTables(server).list('/api/v1/nodes', { limit: 500 });
    expect(server.seen[0]).toEqual({
      accept: TABLE_MEDIA_TYPE,
      query: { limit: 500, includeObject: 'None' },
    });
    expect(page).toEqual({
      resourceVersion: '274',
      continue: 'next',
      items: [
        {
          metadata: { name: 'a', resourceVersion: '274' },
          status: { nodeInfo: { kubeletVersion: 'v1.30.1' } },
        },
        {
          metadata: { name: 'b', resourceVersion: '274' },
          status: { nodeInfo: { kubeletVersion: 'v1.28.15' } },
        },
      ],
    });
  });

  it('watches: later events carry no column definitions; bookmarks pass through', async () => {
    const server = new TableServer();
    const table = (rv: string, rows: unknown[], defs: unknown = null) => ({
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { resourceVersion: rv },
      columnDefinitions: defs,
      rows,
    });
    server.events = [
      { type: 'MODIFIED', object: table('282', [row('a', 'v1.30.1')], columns) },
      { type: 'ADDED', object: table('283', [row('c', 'v1.29.0')]) },
      // What the server sends as a bookmark: a row with empty cells.
      { type: 'BOOKMARK', object: table('290', [{ cells: ['', 'Unknown'], object: null }]) },
      { type: 'DELETED', object: table('291', [row('b', 'v1.28.15')]) },
    ];
    const got: WatchEvent[] = [];
    await new NodeVersionTables(server).watch(
      '/api/v1/nodes',
      { resourceVersion: '274', allowWatchBookmarks: true },
      (e) => {
        got.push(e);
      },
      { idleTimeoutMs: 1000 },
    );
    expect(server.seen[0]).toEqual({
      accept: TABLE_MEDIA_TYPE,
      query: { resourceVersion: '274', allowWatchBookmarks: true, includeObject: 'None' },
    });
    const version = (v: string) => ({ nodeInfo: { kubeletVersion: v } });
    expect(got).toEqual([
      {
        type: 'MODIFIED',
        object: { metadata: { name: 'a', resourceVersion: '282' }, status: version('v1.30.1') },
      },
      {
        type: 'ADDED',
        object: { metadata: { name: 'c', resourceVersion: '283' }, status: version('v1.29.0') },
      },
      { type: 'BOOKMARK', object: { metadata: { resourceVersion: '290' } } },
      {
        type: 'DELETED',
        object: { metadata: { name: 'b', resourceVersion: '291' }, status: version('v1.28.15') },
      },
    ]);
  });

  it('a Table without a Version column is an error, never a guess', async () => {
    const server = new TableServer();
    server.request = <T>() =>
      Promise.resolve({
        metadata: { resourceVersion: '1' },
        columnDefinitions: [{ name: 'Name' }],
        rows: [{ cells: ['a'] }],
      } as T);
    await expect(new NodeVersionTables(server).list('/api/v1/nodes', {})).rejects.toThrow(
      /no Name or Version column/,
    );
  });
});
