// The operator's kubeconfig loader read side by side with kubectl 1.35 (built from the same
// module as the API server): over a table of kubeconfig files, what `kubectl config view
// --minify --raw --flatten` selects is what the loader selects, and every configuration
// kubectl refuses is refused. Then against the API server itself: the identity a merged
// kubeconfig yields (relative tokenFile, exec plugin, impersonation) is the identity kubectl
// gets (`kubectl auth whoami`, a SelfSubjectReview), and `operator --context` uses the
// context it is told, not the current one.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { KubeClient } from '../../operator/kube/client.ts';
import {
  loadAccess,
  loadKubeconfig,
  type LoaderIo,
  systemIo,
} from '../../operator/kube/kubeconfig.ts';
import { testCluster } from '../cluster/harness.ts';
import {
  deployment,
  injected,
  monitor,
  ref,
  startOperator,
  useOperatorInstall,
} from './support.ts';

const cluster = testCluster();
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'smon-kubeconfig-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Rec = Record<string, unknown>;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(args: readonly string[], kubeconfigEnv: string): Promise<Result> {
  const binary = cluster.info.binaries.kubectl;
  if (!binary) throw new Error('kubectl is not available');
  return new Promise((resolve, reject) => {
    // From another directory: relative paths must resolve from the files, not the cwd.
    const child = spawn(binary, [...args], {
      cwd: '/',
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        KUBECONFIG: kubeconfigEnv,
        KUBECACHEDIR: path.join(dir, 'kube-cache'),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

function ioWith(kubeconfigEnv: string): LoaderIo {
  return { ...systemIo, env: { PATH: process.env.PATH, KUBECONFIG: kubeconfigEnv } };
}

function pick(o: unknown, keys: readonly string[]): Rec {
  const out: Rec = {};
  for (const k of keys) {
    const v = (o as Rec | undefined)?.[k];
    if (v !== undefined && v !== null && v !== '') out[k] = v;
  }
  return out;
}

interface View {
  'current-context'?: string;
  clusters?: { name: string; cluster: Rec }[];
  users?: { name: string; user: Rec }[];
  contexts?: { name: string; context: Rec }[];
}

/** What both views must agree on (kubectl adds defaults and keeps paths as written). */
function project(v: View): Rec {
  const user = v.users?.[0]?.user;
  return {
    current: v['current-context'],
    context: pick(v.contexts?.[0]?.context, ['cluster', 'user', 'namespace']),
    clusterName: v.clusters?.[0]?.name,
    cluster: pick(v.clusters?.[0]?.cluster, [
      'server',
      'certificate-authority-data',
      'tls-server-name',
      'proxy-url',
      'insecure-skip-tls-verify',
    ]),
    userName: v.users?.[0]?.name,
    user: pick(user, [
      'token',
      'client-certificate-data',
      'client-key-data',
      'as',
      'as-uid',
      'as-groups',
      'as-user-extra',
    ]),
    exec: pick(user?.exec, ['apiVersion', 'args']),
  };
}

/** The loader's selection, flattened as `--flatten` does (files embedded as *-data). */
async function ourView(kubeconfigEnv: string, context?: string): Promise<View> {
  const loaded = await loadKubeconfig(undefined, {
    io: ioWith(kubeconfigEnv),
    ...(context ? { context } : {}),
  });
  if (loaded === 'in-cluster') throw new Error('unexpected in-cluster');
  const m = loaded.minified;
  const flatten = (o: Rec, pairs: [string, string][]): Rec => {
    const files = new Set(pairs.map(([file]) => file));
    const out = Object.fromEntries(Object.entries(o).filter(([k]) => !files.has(k)));
    for (const [file, data] of pairs) {
      const f = o[file];
      if (typeof f === 'string' && out[data] === undefined) {
        out[data] = readFileSync(f).toString('base64');
      }
    }
    return out;
  };
  return {
    'current-context': m.contextName,
    contexts: [{ name: m.contextName, context: m.context }],
    clusters: [
      {
        name: m.clusterName,
        cluster: flatten(m.cluster, [['certificate-authority', 'certificate-authority-data']]),
      },
    ],
    users: m.userName
      ? [
          {
            name: m.userName,
            user: flatten(m.user, [
              ['client-certificate', 'client-certificate-data'],
              ['client-key', 'client-key-data'],
            ]),
          },
        ]
      : [],
  };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

interface Case {
  name: string;
  files: Record<string, unknown>;
  /** The KUBECONFIG list, file names relative to the case's directory. */
  order: string[];
  context?: string;
  /** Both must refuse it. */
  refused?: boolean;
}

const config = (o: Rec): Rec => ({ apiVersion: 'v1', kind: 'Config', ...o });
const PROD_DEV = config({
  'current-context': 'dev',
  clusters: [
    { name: 'prod', cluster: { server: 'https://prod.example:6443' } },
    { name: 'dev', cluster: { server: 'https://dev.example:6443', 'proxy-url': 'http://p:3128' } },
  ],
  users: [
    { name: 'prod-user', user: { token: 'prod-from-b' } },
    { name: 'dev-user', user: { token: 'dev' } },
  ],
  contexts: [
    { name: 'prod', context: { cluster: 'prod', user: 'prod-user', namespace: 'shop' } },
    { name: 'dev', context: { cluster: 'dev', user: 'dev-user' } },
  ],
});

const cases: Case[] = [
  {
    name: 'current-context from the first file, its definitions from the second (issue 12)',
    files: { 'a.yaml': config({ 'current-context': 'prod' }), 'b.yaml': PROD_DEV },
    order: ['a.yaml', 'b.yaml'],
  },
  {
    name: 'the first file wins per name, whole entry',
    files: {
      'a.yaml': config({
        users: [{ name: 'prod-user', user: { token: 'prod-from-a', as: 'jane' } }],
        clusters: [{ name: 'prod', cluster: { server: 'https://prod-a.example' } }],
      }),
      'b.yaml': {
        ...PROD_DEV,
        clusters: [
          {
            name: 'prod',
            cluster: {
              server: 'https://prod.example:6443',
              'certificate-authority-data': b64('CA'),
            },
          },
        ],
        'current-context': 'prod',
      },
    },
    order: ['a.yaml', 'b.yaml'],
  },
  {
    name: '--context over current-context',
    files: { 'b.yaml': PROD_DEV },
    order: ['b.yaml'],
    context: 'prod',
  },
  {
    name: 'a missing file in the list is skipped',
    files: { 'b.yaml': PROD_DEV },
    order: ['missing.yaml', 'b.yaml', 'also-missing.yaml'],
  },
  {
    name: 'certificate files relative to the file that defined the entry',
    files: {
      'a.yaml': config({ 'current-context': 'x' }),
      'sub/b.yaml': config({
        clusters: [
          { name: 'x', cluster: { server: 'https://x', 'certificate-authority': 'pki/ca.pem' } },
        ],
        users: [
          { name: 'x', user: { 'client-certificate': 'pki/c.pem', 'client-key': '@BASE@/k.pem' } },
        ],
        contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
      }),
      'sub/pki/ca.pem': 'CA PEM',
      'sub/pki/c.pem': 'CERT PEM',
      'k.pem': 'KEY PEM',
    },
    order: ['a.yaml', 'sub/b.yaml'],
  },
  {
    name: 'impersonation and exec settings',
    files: {
      'a.yaml': config({
        'current-context': 'i',
        clusters: [{ name: 'c', cluster: { server: 'https://c', 'tls-server-name': 'kube' } }],
        users: [
          {
            name: 'u',
            user: {
              as: 'jane',
              'as-uid': '42',
              'as-groups': ['g1', 'g2'],
              'as-user-extra': { 'example.com/scopes': ['a', 'b'] },
              exec: {
                apiVersion: 'client.authentication.k8s.io/v1',
                command: 'get-token',
                args: ['--x'],
                interactiveMode: 'Never',
              },
            },
          },
        ],
        contexts: [
          { name: 'i', context: { cluster: 'c', user: 'u' } },
          { name: 'anon', context: { cluster: 'c' } },
        ],
      }),
    },
    order: ['a.yaml'],
  },
  {
    name: 'a context without a user',
    files: {
      'a.yaml': config({
        'current-context': 'anon',
        clusters: [
          { name: 'c', cluster: { server: 'https://c', 'insecure-skip-tls-verify': true } },
        ],
        contexts: [{ name: 'anon', context: { cluster: 'c' } }],
      }),
    },
    order: ['a.yaml'],
  },
  {
    name: 'invalid YAML in a later file',
    files: {
      'a.yaml': config({ 'current-context': 'prod' }),
      'b.yaml': PROD_DEV,
      'bad.yaml': 'clusters: [',
    },
    order: ['a.yaml', 'b.yaml', 'bad.yaml'],
    refused: true,
  },
  {
    name: 'a name defined twice in one file',
    files: {
      'b.yaml': {
        ...PROD_DEV,
        contexts: [
          { name: 'dev', context: { cluster: 'dev', user: 'dev-user' } },
          { name: 'dev', context: { cluster: 'prod', user: 'dev-user' } },
        ],
      },
    },
    order: ['b.yaml'],
    refused: true,
  },
  {
    name: 'a context naming a missing cluster',
    files: {
      'b.yaml': {
        ...PROD_DEV,
        'current-context': 'x',
        contexts: [{ name: 'x', context: { cluster: 'nope', user: 'dev-user' } }],
      },
    },
    order: ['b.yaml'],
    refused: true,
  },
  {
    name: 'a context naming a missing user',
    files: {
      'b.yaml': {
        ...PROD_DEV,
        'current-context': 'x',
        contexts: [{ name: 'x', context: { cluster: 'dev', user: 'nobody' } }],
      },
    },
    order: ['b.yaml'],
    refused: true,
  },
  {
    name: 'no current-context anywhere',
    files: { 'b.yaml': { ...PROD_DEV, 'current-context': '' } },
    order: ['b.yaml'],
    refused: true,
  },
  {
    name: 'an unknown --context',
    files: { 'b.yaml': PROD_DEV },
    order: ['b.yaml'],
    context: 'staging',
    refused: true,
  },
];

describe('kubeconfig files, read as `kubectl config view --minify --raw --flatten` reads them', () => {
  test.for(cases)('$name', async (c, { task }) => {
    const base = path.join(dir, task.id);
    for (const [name, content] of Object.entries(c.files)) {
      const file = path.join(base, name);
      mkdirSync(path.dirname(file), { recursive: true });
      // @BASE@ stands for the case's directory (an absolute path in a kubeconfig).
      const text = typeof content === 'string' ? content : stringify(content);
      writeFileSync(file, text.replaceAll('@BASE@', base));
    }
    const env = c.order.map((f) => path.join(base, f)).join(path.delimiter);
    const args = ['config', 'view', '--minify', '--raw', '--flatten', '-o', 'json'];
    if (c.context) args.push('--context', c.context);
    const theirs = await kubectl(args, env);
    const ours = await ourView(env, c.context).then(
      (v) => ({ ok: true as const, v }),
      (err: unknown) => ({ ok: false as const, err: (err as Error).message }),
    );
    if (c.refused) {
      expect(theirs.code, theirs.stdout).not.toBe(0);
      expect(ours.ok, ours.ok ? JSON.stringify(ours.v) : '').toBe(false);
      return;
    }
    expect(theirs.code, theirs.stderr).toBe(0);
    expect(ours.ok ? undefined : ours.err).toBeUndefined();
    if (ours.ok) expect(project(ours.v)).toEqual(project(JSON.parse(theirs.stdout) as View));
  });
});

describe('the identity a kubeconfig yields, as the API server sees it', () => {
  const install = useOperatorInstall(cluster);
  const admin = parse(readFileSync(cluster.kubeconfigPath, 'utf8')) as {
    clusters: { cluster: Rec }[];
    users: { user: { 'client-certificate-data': string; 'client-key-data': string } }[];
  };
  const adminCluster = admin.clusters[0]!.cluster;
  const adminUser = admin.users[0]!.user;

  async function whoami(kubeconfigEnv: string): Promise<{ ours: Rec; theirs: Rec }> {
    const access = await loadAccess(undefined, { io: ioWith(kubeconfigEnv) });
    const client = KubeClient.fromAccess(access);
    try {
      const review = await client.create<{ status: { userInfo: Rec } }>(
        '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      );
      const result = await kubectl(['auth', 'whoami', '-o', 'json'], kubeconfigEnv);
      expect(result.code, result.stderr).toBe(0);
      const theirs = (JSON.parse(result.stdout) as { status: { userInfo: Rec } }).status.userInfo;
      return { ours: review.status.userInfo, theirs };
    } finally {
      client.close();
    }
  }

  test('impersonation: one header per group, the uid and the extras, as kubectl sends them', async () => {
    const file = path.join(dir, 'impersonate.yaml');
    writeFileSync(
      file,
      stringify(
        config({
          'current-context': 'c',
          clusters: [{ name: 'c', cluster: adminCluster }],
          users: [
            {
              name: 'u',
              user: {
                ...adminUser,
                as: 'jane',
                'as-uid': '42',
                'as-groups': ['g1', 'g2'],
                'as-user-extra': { 'example.com/scopes': ['a', 'b'], team: ['x'] },
              },
            },
          ],
          contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
        }),
      ),
    );
    const { ours, theirs } = await whoami(file);
    expect(ours).toEqual(theirs);
    expect(ours).toMatchObject({
      username: 'jane',
      uid: '42',
      groups: expect.arrayContaining(['g1', 'g2']) as unknown,
      extra: { 'example.com/scopes': ['a', 'b'], team: ['x'] },
    });
  });

  test('two files: a tokenFile relative to its file, and an exec plugin named relative to its file', async () => {
    const { namespace, name } = install().serviceAccount;
    const token = await cluster.rest.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} } },
    );
    const a = path.join(dir, 'two', 'a');
    const b = path.join(dir, 'two', 'b');
    mkdirSync(path.join(a, 'tokens'), { recursive: true });
    mkdirSync(path.join(b, 'bin'), { recursive: true });
    writeFileSync(path.join(a, 'tokens', 'sa'), token.status.token);
    // The plugin records what it was told, to compare kubectl's KUBERNETES_EXEC_INFO with ours.
    const seen = path.join(dir, 'two', 'exec-info.jsonl');
    const plugin = path.join(b, 'bin', 'plugin.mjs');
    writeFileSync(
      plugin,
      `#!${process.execPath}\n` +
        `import { appendFileSync } from 'node:fs';\n` +
        `appendFileSync(${JSON.stringify(seen)}, process.env.KUBERNETES_EXEC_INFO + '\\n');\n` +
        `console.log(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { clientCertificateData: ${JSON.stringify(Buffer.from(adminUser['client-certificate-data'], 'base64').toString())}, clientKeyData: ${JSON.stringify(Buffer.from(adminUser['client-key-data'], 'base64').toString())} } }));\n`,
    );
    chmodSync(plugin, 0o755);
    writeFileSync(
      path.join(a, 'config'),
      stringify(
        config({
          'current-context': 'sa',
          users: [{ name: 'sa', user: { tokenFile: 'tokens/sa' } }],
        }),
      ),
    );
    writeFileSync(
      path.join(b, 'config'),
      stringify(
        config({
          'current-context': 'exec',
          clusters: [
            {
              name: 'c',
              cluster: {
                ...adminCluster,
                extensions: [
                  { name: 'client.authentication.k8s.io/exec', extension: { audience: 'test' } },
                ],
              },
            },
          ],
          users: [
            { name: 'sa', user: { token: 'shadowed-by-file-a' } },
            {
              name: 'exec',
              user: {
                exec: {
                  apiVersion: 'client.authentication.k8s.io/v1',
                  command: './bin/plugin.mjs',
                  interactiveMode: 'Never',
                  provideClusterInfo: true,
                },
              },
            },
          ],
          contexts: [
            { name: 'sa', context: { cluster: 'c', user: 'sa' } },
            { name: 'exec', context: { cluster: 'c', user: 'exec' } },
          ],
        }),
      ),
    );
    const viaToken = await whoami([path.join(a, 'config'), path.join(b, 'config')].join(':'));
    expect(viaToken.ours).toEqual(viaToken.theirs);
    expect(viaToken.ours.username).toBe(`system:serviceaccount:${namespace}:${name}`);

    const viaExec = await whoami(path.join(b, 'config'));
    expect(viaExec.ours).toEqual(viaExec.theirs);
    const adminIdentity = await kubectl(['auth', 'whoami', '-o', 'json'], cluster.kubeconfigPath);
    expect(viaExec.ours.username).toBe(
      (JSON.parse(adminIdentity.stdout) as { status: { userInfo: Rec } }).status.userInfo.username,
    );
    // Ours first, then kubectl's: the same ExecCredential request, cluster info included.
    const infos = readFileSync(seen, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Rec);
    expect(infos).toHaveLength(2);
    expect(infos[0]).toEqual(infos[1]);
    expect(infos[0]).toMatchObject({
      spec: {
        interactive: false,
        cluster: { server: cluster.info.server, config: { audience: 'test' } },
      },
    });
  });

  test('operator --context: the context it is told, not the current one', async () => {
    await using ns = await cluster.namespace('context');
    const sa = parse(readFileSync(install().kubeconfigPath, 'utf8')) as View;
    const file = path.join(dir, 'two-contexts.yaml');
    writeFileSync(
      file,
      stringify(
        config({
          // Nothing listens on port 1: the current context must not be used.
          'current-context': 'wrong',
          clusters: [
            {
              name: 'wrong',
              cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true },
            },
            ...(sa.clusters ?? []),
          ],
          users: sa.users,
          contexts: [
            { name: 'wrong', context: { cluster: 'wrong', user: sa.users?.[0]?.name } },
            { name: 'real', context: sa.contexts?.[0]?.context },
          ],
        }),
      ),
    );
    await using operator = await startOperator({
      install: { ...install(), kubeconfigPath: file },
      namespaces: [ns.name],
      args: ['--context', 'real'],
    });
    expect(operator.logs.find((l) => typeof l.address === 'string')).toMatchObject({
      credentials: `${file} (context real)`,
      apiServer: new URL(cluster.info.server).origin,
    });
    await cluster.apply([
      deployment(ns.name, 'web', { monitored: 'true' }),
      monitor(ns.name, 'mon'),
    ]);
    await cluster.waitForObject(ref('Deployment', ns.name, 'web'), injected);
  });
});
