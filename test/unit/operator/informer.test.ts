// Retry and relist logic of the informer, against a scripted list/watch client (a
// misbehaving HTTP server and the real API server are in test/operator/watch.test.ts).
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ListPage, Query, WatchEvent } from '../../../operator/kube/client.ts';
import { KubeApiError } from '../../../operator/kube/errors.ts';
import { Informer, stripForCache } from '../../../operator/kube/informer.ts';
import { DEPLOYMENTS, type KubeObject } from '../../../operator/kube/resources.ts';
import { FakeClock, flush } from './fake-clock.ts';

type Step =
  | { list: Record<string, unknown>[]; rv: string }
  | { listError: KubeApiError }
  | { watch: WatchEvent[]; end?: KubeApiError; hang?: boolean; lastsMs?: number };

function obj(
  name: string,
  rv: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { metadata: { name, namespace: 'ns', resourceVersion: rv }, ...extra };
}

function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!signal || signal.aborted) resolve();
    else
      signal.addEventListener('abort', () => {
        resolve();
      });
  });
}

class ScriptedClient {
  readonly calls: { op: 'list' | 'watch'; query: Query; idleTimeoutMs?: number }[] = [];
  readonly steps: Step[];
  readonly clock: FakeClock;
  constructor(steps: Step[], clock: FakeClock) {
    this.steps = steps;
    this.clock = clock;
  }

  list(_path: string, query: Query): Promise<ListPage> {
    this.calls.push({ op: 'list', query });
    const step = this.steps.shift();
    if (step && 'listError' in step) return Promise.reject(step.listError);
    if (!step || !('list' in step))
      throw new Error(`unexpected list, next step ${JSON.stringify(step)}`);
    return Promise.resolve({ items: step.list, resourceVersion: step.rv, continue: undefined });
  }

  async watch(
    _path: string,
    query: Query,
    onEvent: (e: WatchEvent) => Promise<void> | void,
    opts: { signal?: AbortSignal; idleTimeoutMs: number },
  ): Promise<void> {
    this.calls.push({ op: 'watch', query, idleTimeoutMs: opts.idleTimeoutMs });
    const step = this.steps.shift();
    if (!step || !('watch' in step)) {
      // Script exhausted: behave like a quiet watch until aborted.
      await untilAborted(opts.signal);
      return;
    }
    // A watch that stays open for a while (time moves only when the test says so).
    if (step.lastsMs) this.clock.freeze(step.lastsMs);
    for (const e of step.watch) await onEvent(e);
    if (step.end) throw step.end;
    if (step.hang) await untilAborted(opts.signal);
  }
}

const network = (): KubeApiError => new KubeApiError('connect ECONNREFUSED', { kind: 'network' });
const gone = (): KubeApiError =>
  new KubeApiError('too old resource version', { kind: 'gone', statusCode: 410 });

function setup(steps: Step[]): {
  clock: FakeClock;
  client: ScriptedClient;
  informer: Informer;
  events: string[];
  failures: string[];
  stop: () => Promise<void>;
} {
  const clock = new FakeClock();
  const client = new ScriptedClient(steps, clock);
  const events: string[] = [];
  const failures: string[] = [];
  const informer = new Informer({
    client,
    resource: DEPLOYMENTS,
    clock,
    logger: pino({ level: 'silent' }),
    random: () => 0,
    backoff: { baseMs: 1000, maxMs: 8000, jitter: 0.5, resetAfterMs: 120_000 },
    onFailure: (reason) => failures.push(reason),
    transform: stripForCache,
  });
  informer.addHandlers({
    upsert: async (o, old) => {
      await Promise.resolve();
      events.push(`${old ? 'update' : 'add'} ${o.metadata.name}@${o.metadata.resourceVersion}`);
    },
    delete: (o) => {
      events.push(`delete ${o.metadata.name}`);
    },
  });
  const ac = new AbortController();
  const running = informer.run(ac.signal);
  return {
    clock,
    client,
    informer,
    events,
    failures,
    stop: async () => {
      ac.abort();
      await running;
    },
  };
}

describe('Informer', () => {
  it('lists, normalises list items, then watches from the list resourceVersion', async () => {
    const t = setup([
      {
        list: [
          obj('a', '10', {
            metadata: {
              name: 'a',
              namespace: 'ns',
              resourceVersion: '10',
              managedFields: [{ manager: 'x' }],
              annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', keep: 'y' },
            },
          }),
        ],
        rv: '11',
      },
      {
        watch: [
          {
            type: 'ADDED',
            object: { apiVersion: 'apps/v1', kind: 'Deployment', ...obj('b', '12') },
          },
          { type: 'MODIFIED', object: obj('a', '13') },
          { type: 'MODIFIED', object: obj('a', '13') },
          { type: 'BOOKMARK', object: { metadata: { resourceVersion: '20' } } },
          { type: 'DELETED', object: obj('b', '21') },
        ],
        hang: true,
      },
    ]);
    await t.informer.waitForSync();
    await flush();
    expect(t.events).toEqual(['add a@10', 'add b@12', 'update a@13', 'delete b']);
    expect(t.client.calls[1]).toMatchObject({
      op: 'watch',
      query: { resourceVersion: '11', allowWatchBookmarks: true },
    });
    const a = t.informer.get('ns', 'a') as KubeObject;
    expect(a.kind).toBe('Deployment');
    expect(a.apiVersion).toBe('apps/v1');
    expect(t.informer.list('ns').map((o) => o.metadata.name)).toEqual(['a']);
    expect(t.informer.list('other')).toEqual([]);
    await t.stop();
  });

  it('strips managedFields and last-applied-configuration from cached objects', async () => {
    const t = setup([
      {
        list: [
          {
            metadata: {
              name: 'a',
              namespace: 'ns',
              resourceVersion: '1',
              managedFields: [{ manager: 'x' }],
              annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', keep: 'y' },
            },
          },
        ],
        rv: '1',
      },
    ]);
    await t.informer.waitForSync();
    const a = t.informer.get('ns', 'a')!;
    expect(a.metadata.managedFields).toBeUndefined();
    expect(a.metadata.annotations).toEqual({ keep: 'y' });
    await t.stop();
  });

  it('keeps retrying a failing list with capped, growing backoff', async () => {
    const t = setup([
      { listError: network() },
      { listError: network() },
      { listError: network() },
      { listError: network() },
      { listError: network() },
      { list: [obj('a', '1')], rv: '5' },
    ]);
    const listTimes: number[] = [];
    const t0 = t.clock.now();
    for (let i = 0; i < 6; i++) {
      await flush();
      listTimes.push(t.clock.now() - t0);
      await t.clock.advance([1000, 2000, 4000, 8000, 8000, 0][i]!);
    }
    await t.informer.waitForSync();
    expect(t.failures).toEqual(['network', 'network', 'network', 'network', 'network']);
    expect(t.client.calls.filter((c) => c.op === 'list')).toHaveLength(6);
    expect(t.events).toEqual(['add a@1']);
    await t.stop();
  });

  it('restarts a broken watch from its last resourceVersion, and relists on 410 Gone', async () => {
    const t = setup([
      { list: [obj('a', '1'), obj('b', '1')], rv: '5' },
      { watch: [{ type: 'MODIFIED', object: obj('a', '6') }], end: network() },
      { watch: [], end: gone() },
      // The relist shows b gone and c new: delete and add are delivered.
      { list: [obj('a', '6'), obj('c', '8')], rv: '9' },
      { watch: [], hang: true },
    ]);
    await t.informer.waitForSync();
    await flush();
    // After the network error the informer waits (backoff), then watches from rv 6.
    expect(t.client.calls.map((c) => c.op)).toEqual(['list', 'watch']);
    await t.clock.advance(1000);
    // The 410 relists too, after the next (longer) backoff.
    expect(t.client.calls.map((c) => c.op)).toEqual(['list', 'watch', 'watch']);
    await t.clock.advance(1999);
    expect(t.client.calls.map((c) => c.op)).toEqual(['list', 'watch', 'watch']);
    await t.clock.advance(1);
    expect(t.client.calls.map((c) => c.op)).toEqual(['list', 'watch', 'watch', 'list', 'watch']);
    expect(t.client.calls[2]!.query.resourceVersion).toBe('6');
    expect(t.client.calls[4]!.query.resourceVersion).toBe('9');
    expect(t.events).toEqual(['add a@1', 'add b@1', 'update a@6', 'add c@8', 'delete b']);
    expect(t.failures).toEqual(['network', 'gone']);
    await t.stop();
  });

  it('keeps delivering events after a handler throws', async () => {
    const t = setup([
      { list: [], rv: '1' },
      {
        watch: [
          { type: 'ADDED', object: obj('boom', '2') },
          { type: 'ADDED', object: obj('fine', '3') },
        ],
        hang: true,
      },
    ]);
    let calls = 0;
    t.informer.addHandlers({
      upsert: (o) => {
        calls++;
        if (o.metadata.name === 'boom') throw new Error('handler bug');
      },
    });
    await t.informer.waitForSync();
    await flush();
    expect(calls).toBe(2);
    expect(t.informer.size).toBe(2);
    expect(t.events).toEqual(['add boom@2', 'add fine@3']);
    await t.stop();
  });

  it('never relists on its own: a watch that ran its course is reopened from its resourceVersion at once', async () => {
    const t = setup([
      { list: [obj('a', '1')], rv: '1' },
      // Ten quiet minutes ending normally (the server's timeoutSeconds).
      { watch: [], lastsMs: 600_000 },
      { watch: [{ type: 'BOOKMARK', object: { metadata: { resourceVersion: '7' } } }] },
    ]);
    await t.informer.waitForSync();
    await flush();
    expect(t.client.calls.map((c) => c.op)).toEqual(['list', 'watch', 'watch', 'watch']);
    expect(t.client.calls[2]!.query.resourceVersion).toBe('1');
    expect(t.client.calls[3]!.query.resourceVersion).toBe('7');
    expect(t.failures).toEqual([]);
    // Like client-go: watches last between 5 and 10 minutes; a watch silent for 2.5 times
    // the bookmark period (the API server sends one about every minute, the first one
    // up to two minutes after the watch opened) is dead.
    const timeout = Number(t.client.calls[1]!.query.timeoutSeconds);
    expect(timeout).toBeGreaterThanOrEqual(300);
    expect(timeout).toBeLessThanOrEqual(600);
    expect(t.client.calls[1]!.query.allowWatchBookmarks).toBe(true);
    expect(t.client.calls[1]!.idleTimeoutMs).toBe(150_000);
    await t.stop();
  });

  it('a watch that ends within a second without a single event is an error: it backs off, growing', async () => {
    const quick = { watch: [] };
    const t = setup([
      { list: [obj('a', '1')], rv: '1' },
      quick,
      quick,
      quick,
      quick,
      { watch: [], hang: true },
    ]);
    await t.informer.waitForSync();
    await flush();
    const watches = (): number => t.client.calls.filter((c) => c.op === 'watch').length;
    expect(watches()).toBe(1);
    for (const [wait, expected] of [
      [1000, 2],
      [2000, 3],
      [4000, 4],
      [8000, 5],
    ] as const) {
      await t.clock.advance(wait - 1);
      expect(watches()).toBe(expected - 1);
      await t.clock.advance(1);
      expect(watches()).toBe(expected);
    }
    expect(t.failures).toEqual(['short-watch', 'short-watch', 'short-watch', 'short-watch']);
    // Never a relist: the resourceVersion was fine.
    expect(t.client.calls.filter((c) => c.op === 'list')).toHaveLength(1);
    await t.stop();
  });

  it('a short watch that delivered events is not an error', async () => {
    const t = setup([
      { list: [], rv: '1' },
      { watch: [{ type: 'ADDED', object: obj('a', '2') }], lastsMs: 10 },
      { watch: [], hang: true },
    ]);
    await t.informer.waitForSync();
    await flush();
    expect(t.client.calls.map((c) => c.op)).toEqual(['list', 'watch', 'watch']);
    expect(t.failures).toEqual([]);
    await t.stop();
  });

  it('repeated 410s relist ever more slowly, and a quiet spell resets the backoff', async () => {
    const t = setup([
      { list: [], rv: '1' },
      { watch: [], end: gone() },
      { list: [], rv: '2' },
      { watch: [], end: gone() },
      { list: [], rv: '3' },
      { watch: [], end: gone() },
      { list: [], rv: '4' },
      // Healthy for three minutes, then one more 410: back to the first delay.
      { watch: [{ type: 'ADDED', object: obj('a', '5') }], lastsMs: 180_000, end: gone() },
      { list: [], rv: '6' },
      { watch: [], hang: true },
    ]);
    await t.informer.waitForSync();
    await flush();
    const lists = (): number => t.client.calls.filter((c) => c.op === 'list').length;
    for (const [wait, expected] of [
      [1000, 2],
      [2000, 3],
      [4000, 4],
    ] as const) {
      await t.clock.advance(wait - 1);
      expect(lists()).toBe(expected - 1);
      await t.clock.advance(1);
      expect(lists()).toBe(expected);
    }
    await t.clock.advance(999);
    expect(lists()).toBe(4);
    await t.clock.advance(1);
    expect(lists()).toBe(5);
    expect(t.failures).toEqual(['gone', 'gone', 'gone', 'gone']);
    await t.stop();
  });
});
