// `sidecar-monitor cleanup` against the real API server: it restores workloads page by page
// as it lists them (never the whole fleet with its managedFields in memory), and, being
// destructive, it says which API server and context it is about to change and changes
// nothing without --yes or a "yes" typed at a terminal; --context picks the cluster.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { cleanup } from '../../operator/uninstall/cleanup.ts';
import { type CleanupIo, main } from '../../operator/uninstall/cleanup-cli.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadAccess } from '../../operator/kube/kubeconfig.ts';
import { testCluster, type TestNamespace } from '../cluster/harness.ts';
import { deployment, ref, useOperatorInstall } from './support.ts';

const cluster = testCluster();
useOperatorInstall(cluster);
const REPO = path.resolve(import.meta.dirname, '..', '..');
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'smon-cleanup-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Deployments carrying a field our field manager owns, as an injection leaves them. */
async function ownedDeployments(ns: TestNamespace, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `web-${i}`);
  await cluster.apply(names.map((n) => deployment(ns.name, n, {})));
  await cluster.apply(
    names.map((n) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: n, namespace: ns.name, annotations: { 'sidecarmonitor.io/test': 'ours' } },
    })),
    { fieldManager: 'sidecar-monitor' },
  );
  return names;
}

async function stillOurs(ns: TestNamespace, name: string): Promise<boolean> {
  const d = await cluster.get(ref('Deployment', ns.name, name));
  return d.metadata.annotations?.['sidecarmonitor.io/test'] === 'ours';
}

test('restores workloads page by page, as it lists them', async () => {
  await using ns = await cluster.namespace('cleanup-pages');
  const names = await ownedDeployments(ns, 5);
  const client = KubeClient.fromAccess(await loadAccess(cluster.kubeconfigPath));
  const events: string[] = [];
  const spy = Object.assign(Object.create(client) as KubeClient, {
    list: async (...args: Parameters<KubeClient['list']>) => {
      const page = await client.list(...args);
      if (args[0].includes('/deployments')) events.push(`list ${page.items.length}`);
      return page;
    },
    apply: (...args: Parameters<KubeClient['apply']>) => {
      events.push('restore');
      return client.apply(...args);
    },
  });
  try {
    const report = await cleanup({
      client: spy,
      logger: pino({ level: 'silent' }),
      namespaces: [ns.name],
      dryRun: false,
      pageSize: 2,
    });
    expect(report.workloadsRestored.sort()).toEqual(names.map((n) => `Deployment/${ns.name}/${n}`));
    expect(events).toEqual([
      'list 2',
      'restore',
      'restore',
      'list 2',
      'restore',
      'restore',
      'list 1',
      'restore',
    ]);
    for (const n of names) expect(await stillOurs(ns, n)).toBe(false);
  } finally {
    client.close();
  }
});

function memoryIo(answer?: string): CleanupIo & { out: string; err: string; asked: string[] } {
  const io = {
    out: '',
    err: '',
    asked: [] as string[],
    interactive: answer !== undefined,
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
    ask: (q: string) => {
      io.asked.push(q);
      return Promise.resolve(answer ?? '');
    },
  };
  return io;
}

test('names the server and context, and changes nothing without --yes or a confirmation', async () => {
  await using ns = await cluster.namespace('cleanup-confirm');
  const [name = ''] = await ownedDeployments(ns, 1);
  // Two contexts: the current one leads nowhere (nothing listens on port 1).
  const admin = parse(readFileSync(cluster.kubeconfigPath, 'utf8')) as {
    clusters: { name: string; cluster: Record<string, unknown> }[];
    users: { name: string; user: Record<string, unknown> }[];
  };
  const kubeconfig = path.join(dir, 'two-contexts.yaml');
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'elsewhere',
      clusters: [
        {
          name: 'elsewhere',
          cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true },
        },
        { name: 'test', cluster: admin.clusters[0]!.cluster },
      ],
      users: [{ name: 'admin', user: admin.users[0]!.user }],
      contexts: [
        { name: 'elsewhere', context: { cluster: 'elsewhere', user: 'admin' } },
        { name: 'test', context: { cluster: 'test', user: 'admin' } },
      ],
    }),
  );
  const server = new URL(cluster.info.server).origin;
  const argv = ['--kubeconfig', kubeconfig, '--context', 'test', '--namespace', ns.name];

  // The real CLI, stdin not a terminal: refused without --yes.
  const refused = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO, 'bin/sidecar-monitor.ts'), 'cleanup', ...argv],
      (err, _out, stderr) => {
        resolve({ code: (err as { code?: number } | null)?.code ?? 0, stderr });
      },
    );
  });
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain(
    `removing every sidecar-monitor injection in namespaces ${ns.name} of API server ${server}, context "test"`,
  );
  expect(refused.stderr).toMatch(/pass --yes/);
  expect(await stillOurs(ns, name)).toBe(true);

  // At a terminal: asked, and "no" changes nothing.
  const no = memoryIo('no');
  expect(await main(argv, no)).toBe(1);
  expect(no.asked).toHaveLength(1);
  expect(no.err).toContain(`API server ${server}, context "test"`);
  expect(await stillOurs(ns, name)).toBe(true);

  // --dry-run needs no confirmation and changes nothing.
  const dry = memoryIo();
  expect(await main([...argv, '--dry-run'], dry)).toBe(0);
  expect(dry.out).toContain('would restore 1 workload(s)');
  expect(await stillOurs(ns, name)).toBe(true);

  const yes = memoryIo('yes');
  expect(await main(argv, yes)).toBe(0);
  expect(yes.out).toContain('restored 1 workload(s)');
  expect(await stillOurs(ns, name)).toBe(false);
});
