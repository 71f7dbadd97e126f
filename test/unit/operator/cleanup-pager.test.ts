// `cleanup` lists page by page; a continue token that expired (410: etcd compacted the
// revision between pages) restarts the list instead of aborting the cleanup. The real API
// server of the test cluster serves continuations from its watch-cache snapshots, so the
// expiry is played by a stub (retry logic only; the paging itself is tested against the
// real server in test/operator/cleanup.test.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { forEachObject } from '../../../operator/uninstall/cleanup.ts';
import { KubeClient } from '../../../operator/kube/client.ts';
import { DEPLOYMENTS } from '../../../operator/kube/resources.ts';

let server: http.Server;
let client: KubeClient;
let requests: string[];
let pages: Record<string, { status: number; body: unknown }>;

const item = (name: string) => ({ metadata: { name, namespace: 'ns', uid: `uid-${name}` } });
const list = (names: string[], cont?: string) => ({
  status: 200,
  body: { kind: 'DeploymentList', metadata: { continue: cont }, items: names.map(item) },
});
const expired = {
  status: 410,
  body: {
    kind: 'Status',
    code: 410,
    reason: 'Expired',
    message:
      'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
  },
};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const cont = url.searchParams.get('continue') ?? '';
    requests.push(cont);
    const page = pages[cont] ?? { status: 500, body: {} };
    if (cont === '' && pages.second) pages[''] = pages.second;
    res.writeHead(page.status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(page.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = KubeClient.fromAccess({
    server: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    tls: { rejectUnauthorized: true },
    proxy: { kind: 'env', noProxy: '' },
    credential: () => Promise.resolve({ headers: {} }),
    source: 'stub',
  });
});

afterAll(async () => {
  client.close();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  requests = [];
});

async function names(): Promise<string[]> {
  const seen: string[] = [];
  await forEachObject(
    client,
    DEPLOYMENTS,
    ['ns'],
    (o) => {
      seen.push(o.metadata.name);
      return Promise.resolve();
    },
    { pageSize: 2, logger: pino({ level: 'silent' }) },
  );
  return seen;
}

it('restarts a list whose continue token expired, each object handled once', async () => {
  pages = {
    '': list(['a', 'b'], 'c1'),
    c1: expired,
    // The fresh list: b was deleted, e created meanwhile.
    second: list(['a', 'c'], 'c2'),
    c2: list(['d', 'e']),
  };
  expect(await names()).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect(requests).toEqual(['', 'c1', '', 'c2']);
});

it('gives up after a few restarts, and never hides a 410 of a first page', async () => {
  pages = { '': list(['a'], 'again'), again: expired };
  await expect(names()).rejects.toMatchObject({ kind: 'gone' });
  expect(requests).toHaveLength(12);
  pages = { '': expired };
  requests = [];
  await expect(names()).rejects.toMatchObject({ kind: 'gone' });
  expect(requests).toEqual(['']);
});
