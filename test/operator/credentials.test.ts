// The operator's own client against the real API server, for what kubectl users take for
// granted: exec credential plugins (a ServiceAccount token for the whole operator; a token
// without expiry renewed after the server revokes it; client certificates that rotate) and
// proxies (the kubeconfig's proxy-url, HTTPS_PROXY and NO_PROXY), each through a CONNECT
// proxy on loopback that logs what passes.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadAccess, systemIo } from '../../operator/kube/kubeconfig.ts';
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
const install = useOperatorInstall(cluster);
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'smon-exec-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Rec = Record<string, unknown>;
const admin = parse(readFileSync(cluster.kubeconfigPath, 'utf8')) as {
  clusters: { cluster: Rec }[];
  users: { user: { 'client-certificate-data': string; 'client-key-data': string } }[];
};
const adminCluster = admin.clusters[0]!.cluster;

function writeKubeconfig(name: string, cluster: Rec, user: Rec): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'u' } }],
      'current-context': 'test',
    }),
  );
  return file;
}

/** A plugin that logs each run to `<name>.runs` and prints what `script` returns. */
function writePlugin(name: string, body: string): { command: string; runs: () => number } {
  const command = path.join(dir, `${name}.mjs`);
  const runs = path.join(dir, `${name}.runs`);
  writeFileSync(
    command,
    `#!${process.execPath}\n` +
      `import { appendFileSync, readFileSync } from 'node:fs';\n` +
      `appendFileSync(${JSON.stringify(runs)}, 'run\\n');\n` +
      `const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);\n` +
      `const status = (() => { ${body} })();\n` +
      `console.log(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status }));\n`,
  );
  chmodSync(command, 0o755);
  return {
    command,
    runs: () => (existsSync(runs) ? readFileSync(runs, 'utf8').split('\n').length - 1 : 0),
  };
}

async function serviceAccountToken(boundTo?: { name: string; uid: string }): Promise<string> {
  const { namespace, name } = install().serviceAccount;
  const request = await cluster.rest.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          expirationSeconds: 3600,
          ...(boundTo ? { boundObjectRef: { apiVersion: 'v1', kind: 'Secret', ...boundTo } } : {}),
        },
      },
    },
  );
  return request.status.token;
}

async function whoami(client: KubeClient): Promise<string> {
  const review = await client.create<{ status: { userInfo: { username: string } } }>(
    '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  );
  return review.status.userInfo.username;
}

describe('exec credential plugins', () => {
  test('an exec credential plugin supplying a ServiceAccount token', async () => {
    await using ns = await cluster.namespace('exec');
    const token = await serviceAccountToken();
    const plugin = writePlugin(
      'get-token',
      `if (info.kind !== 'ExecCredential' || process.env.CLUSTER !== 'test') process.exit(3);\n` +
        `return { token: ${JSON.stringify(token)} };`,
    );
    const kubeconfig = writeKubeconfig('operator.yaml', adminCluster, {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: plugin.command,
        env: [{ name: 'CLUSTER', value: 'test' }],
        interactiveMode: 'Never',
      },
    });
    await using operator = await startOperator({
      install: { ...install(), kubeconfigPath: kubeconfig },
      namespaces: [ns.name],
    });
    expect(operator.logs.find((l) => typeof l.address === 'string')).toMatchObject({
      credentials: `${kubeconfig} (context test)`,
    });
    await cluster.apply([
      deployment(ns.name, 'web', { monitored: 'true' }),
      monitor(ns.name, 'mon'),
    ]);
    await cluster.waitForObject(ref('Deployment', ns.name, 'web'), injected);
    const web = await cluster.get(ref('Deployment', ns.name, 'web'));
    expect(web.metadata.managedFields?.map((f) => f.manager)).toContain('sidecar-monitor');
  });

  test('a token without expiry is kept until the server refuses it, then the plugin runs again', async () => {
    // A token bound to a Secret (of its ServiceAccount's namespace) dies with it: the API
    // server answers 401 from then on.
    const saNamespace = install().serviceAccount.namespace;
    const secret = await cluster.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'token-anchor', namespace: saNamespace },
    });
    const tokenFile = path.join(dir, 'current-token');
    writeFileSync(
      tokenFile,
      await serviceAccountToken({ name: 'token-anchor', uid: secret.metadata.uid ?? '' }),
    );
    const plugin = writePlugin(
      'revocable',
      `return { token: readFileSync(${JSON.stringify(tokenFile)}, 'utf8') };`,
    );
    const kubeconfig = writeKubeconfig('revocable.yaml', adminCluster, {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: plugin.command,
        interactiveMode: 'Never',
      },
    });
    const client = KubeClient.fromAccess(await loadAccess(kubeconfig));
    try {
      const { namespace, name } = install().serviceAccount;
      const me = `system:serviceaccount:${namespace}:${name}`;
      expect(await whoami(client)).toBe(me);
      expect(await whoami(client)).toBe(me);
      expect(plugin.runs()).toBe(1);
      writeFileSync(tokenFile, await serviceAccountToken());
      await cluster.remove({
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: saNamespace,
        name: 'token-anchor',
      });
      // Every request succeeds: the one refused is sent again with the plugin's new token.
      await cluster.waitFor('the plugin to run again after a 401', async () => {
        expect(await whoami(client)).toBe(me);
        return plugin.runs() === 2;
      });
    } finally {
      client.close();
    }
  });

  test('client certificates from the plugin, rotated when they expire', async () => {
    const kcm = path.join(cluster.info.dir, 'kube-controller-manager.kubeconfig');
    const other = (parse(readFileSync(kcm, 'utf8')) as typeof admin).users[0]!.user;
    const pem = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');
    const firstExpires = new Date(Date.now() + 3000).toISOString();
    const plugin = writePlugin(
      'certs',
      `const n = readFileSync(${JSON.stringify(path.join(dir, 'certs.runs'))}, 'utf8').split('\\n').length - 1;\n` +
        `return n === 1\n` +
        `  ? { clientCertificateData: ${JSON.stringify(pem(admin.users[0]!.user['client-certificate-data']))}, clientKeyData: ${JSON.stringify(pem(admin.users[0]!.user['client-key-data']))}, expirationTimestamp: ${JSON.stringify(firstExpires)} }\n` +
        `  : { clientCertificateData: ${JSON.stringify(pem(other['client-certificate-data']))}, clientKeyData: ${JSON.stringify(pem(other['client-key-data']))} };`,
    );
    const kubeconfig = writeKubeconfig('certs.yaml', adminCluster, {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: plugin.command,
        interactiveMode: 'Never',
      },
    });
    const client = KubeClient.fromAccess(await loadAccess(kubeconfig));
    try {
      const first = await whoami(client);
      expect(first).not.toBe('system:kube-controller-manager');
      // After the expiry, the new certificate on a new connection: a new identity.
      await cluster.waitFor('the rotated client certificate', async () => {
        return (await whoami(client)) === 'system:kube-controller-manager';
      });
      expect(plugin.runs()).toBe(2);
    } finally {
      client.close();
    }
  });
});

interface Proxy extends AsyncDisposable {
  url: string;
  /** CONNECT targets, in order. */
  readonly seen: string[];
}

/** A CONNECT proxy on loopback. Names under .invalid lead to loopback; nothing else leaves it. */
async function connectProxy(): Promise<Proxy> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(405).end();
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    seen.push(target);
    const m = /^(.*):(\d+)$/.exec(target);
    const host = m?.[1] ?? '';
    if (!m || !(host === '127.0.0.1' || host === 'localhost' || host.endsWith('.invalid'))) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = net.connect(Number(m[2]), '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('proxies, as kubectl honours them', () => {
  const server = new URL(cluster.info.server);
  const byName = `https://apiserver.proxy-test.invalid:${server.port}`;
  // The API server's certificate names localhost: tls-server-name lets a name reach it.
  const named = { ...adminCluster, server: byName, 'tls-server-name': 'localhost' };
  const adminUser = admin.users[0]!.user;

  /** Names resolved by the client itself (never by DNS: .invalid goes to loopback). */
  function lookups(): { names: string[]; lookup: net.LookupFunction } {
    const names: string[] = [];
    const lookup = ((hostname: string, options: unknown, callback: unknown) => {
      names.push(hostname);
      const cb = (typeof options === 'function' ? options : callback) as (
        err: Error | null,
        address: string | { address: string; family: number }[],
        family?: number,
      ) => void;
      if ((options as { all?: boolean } | undefined)?.all)
        cb(null, [{ address: '127.0.0.1', family: 4 }]);
      else cb(null, '127.0.0.1', 4);
    }) as net.LookupFunction;
    return { names, lookup };
  }

  async function clientFor(kubeconfig: string, env: Record<string, string>) {
    const resolver = lookups();
    const access = await loadAccess(kubeconfig, { io: { ...systemIo, env } });
    const client = KubeClient.fromAccess(access, { transport: { lookup: resolver.lookup } });
    return { client, names: resolver.names };
  }

  test('proxy-url: every request through it, loopback included', async () => {
    await using proxy = await connectProxy();
    const kubeconfig = writeKubeconfig(
      'proxy-url.yaml',
      { ...adminCluster, 'proxy-url': proxy.url },
      adminUser,
    );
    const { client } = await clientFor(kubeconfig, {});
    try {
      expect(client.proxy?.origin).toBe(proxy.url);
      await client.get('/api/v1/namespaces/default');
      expect(proxy.seen).toEqual([`${server.hostname}:${server.port}`]);
    } finally {
      client.close();
    }
  });

  test('HTTPS_PROXY for a server by name; never for loopback; not for what NO_PROXY names', async () => {
    await using proxy = await connectProxy();
    const byNameConfig = writeKubeconfig('by-name.yaml', named, adminUser);
    const loopbackConfig = writeKubeconfig('loopback.yaml', adminCluster, adminUser);

    const proxied = await clientFor(byNameConfig, { HTTPS_PROXY: proxy.url });
    try {
      await proxied.client.get('/api/v1/namespaces/default');
      expect(proxy.seen).toEqual([`apiserver.proxy-test.invalid:${server.port}`]);
      // The name went to the proxy, never to a resolver here.
      expect(proxied.names).toEqual([]);
    } finally {
      proxied.client.close();
    }

    const exempt = await clientFor(byNameConfig, {
      https_proxy: proxy.url,
      NO_PROXY: 'example.com, proxy-test.invalid',
    });
    const loopback = await clientFor(loopbackConfig, { HTTPS_PROXY: proxy.url });
    try {
      await exempt.client.get('/api/v1/namespaces/default');
      expect(exempt.names).toEqual(['apiserver.proxy-test.invalid']);
      await loopback.client.get('/api/v1/namespaces/default');
      expect(proxy.seen).toHaveLength(1);
    } finally {
      exempt.client.close();
      loopback.client.close();
    }
  });

  test('a proxy that refuses is an error naming it, not a silent direct connection', async () => {
    await using proxy = await connectProxy();
    const refused = writeKubeconfig(
      'refused.yaml',
      { ...named, server: `https://elsewhere.example:${server.port}`, 'proxy-url': proxy.url },
      adminUser,
    );
    const { client, names } = await clientFor(refused, {});
    try {
      await expect(client.get('/api/v1/namespaces/default')).rejects.toThrow(
        /refused CONNECT elsewhere\.example:\d+: HTTP 403/,
      );
      expect(names.filter((n) => n.includes('elsewhere'))).toEqual([]);
    } finally {
      client.close();
    }
  });
});
