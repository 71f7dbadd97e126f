import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { PluginRun } from '../../../operator/kube/exec-credential.ts';
import {
  impersonateExtraHeader,
  inClusterAccess,
  type KubeAccess,
  KubeconfigError,
  loadAccess,
  type LoaderIo,
} from '../../../operator/kube/kubeconfig.ts';
import { createControlPlanePki } from '../../cluster/pki.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

interface Run {
  command: string;
  args: string[];
  env: Record<string, string>;
  run: PluginRun;
}

function io(
  files: Record<string, string>,
  env: Record<string, string> = {},
): LoaderIo & { runs: Run[]; clock: { now: number }; plugin: { out: string } } {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const runs: Run[] = [];
  const plugin = { out: '' };
  return {
    runs,
    clock,
    plugin,
    env,
    stdinIsTerminal: false,
    now: () => clock.now,
    readFile: (file) =>
      file in files
        ? Promise.resolve(Buffer.from(files[file]!))
        : Promise.reject(
            Object.assign(new Error(`ENOENT: no such file ${file}`), { code: 'ENOENT' }),
          ),
    runPlugin: (command, args, e, run) => {
      runs.push({ command, args, env: e, run });
      return Promise.resolve(plugin.out);
    },
  };
}

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1:6443', ...cluster } }],
    users: [{ name: 'u', user }],
    contexts: [
      { name: 'other', context: { cluster: 'missing', user: 'u' } },
      { name: 'main', context: { cluster: 'c', user: 'u' } },
    ],
    'current-context': 'main',
  });
}

/** Access from one kubeconfig text at /cfg/config. */
function access(
  text: string,
  fs = io({}),
  context?: string,
): Promise<KubeAccess> & { fs: typeof fs } {
  const p = loadAccess('/cfg/config', {
    io: {
      ...fs,
      readFile: (f) => (f === '/cfg/config' ? Promise.resolve(Buffer.from(text)) : fs.readFile(f)),
    },
    ...(context ? { context } : {}),
  });
  return Object.assign(p, { fs });
}

const headers = async (a: KubeAccess): Promise<Record<string, string | string[]>> =>
  (await a.credential()).headers;

function credential(
  status: Record<string, unknown>,
  apiVersion = 'client.authentication.k8s.io/v1',
) {
  return JSON.stringify({ apiVersion, kind: 'ExecCredential', status });
}

const EXEC = {
  apiVersion: 'client.authentication.k8s.io/v1',
  command: 'get-token',
  interactiveMode: 'Never',
};

describe('several kubeconfig files, merged as kubectl merges them', () => {
  const a = stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'prod',
    clusters: [{ name: 'shared', cluster: { server: 'https://a.example:6443' } }],
    users: [{ name: 'prod-user', user: { tokenFile: 'tokens/prod' } }],
  });
  const b = stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'dev',
    clusters: [
      { name: 'prod', cluster: { server: 'https://prod.example:6443' } },
      { name: 'dev', cluster: { server: 'https://dev.example:6443' } },
      { name: 'shared', cluster: { server: 'https://b.example:6443' } },
    ],
    users: [
      { name: 'prod-user', user: { token: 'from-b' } },
      { name: 'dev-user', user: { token: 'dev' } },
    ],
    contexts: [
      { name: 'prod', context: { cluster: 'prod', user: 'prod-user' } },
      { name: 'dev', context: { cluster: 'dev', user: 'dev-user' } },
      { name: 'shared', context: { cluster: 'shared', user: 'dev-user' } },
    ],
  });
  const files = { '/a/config': a, '/b/config': b, '/a/tokens/prod': 'prod-token\n' };

  it('the first file wins for current-context and per name, whole entry', async () => {
    const fs = io(files, { KUBECONFIG: '/a/config:/missing:/b/config' });
    const prod = await loadAccess(undefined, { io: fs });
    expect(prod.server.href).toBe('https://prod.example:6443/');
    expect(prod.context).toBe('prod');
    // The user of file A, its tokenFile relative to file A.
    expect(await headers(prod)).toEqual({ Authorization: 'Bearer prod-token' });
    const shared = await loadAccess(undefined, { io: fs, context: 'shared' });
    expect(shared.server.href).toBe('https://a.example:6443/');
    const dev = await loadAccess(undefined, { io: fs, context: 'dev' });
    expect(dev.server.href).toBe('https://dev.example:6443/');
    expect(await headers(dev)).toEqual({ Authorization: 'Bearer dev' });
    expect(prod.source).toBe('/a/config:/b/config (context prod)');
  });

  it('an error in any file is an error, never a fall back to another file', async () => {
    const broken = { ...files, '/bad': 'clusters: [' };
    await expect(
      loadAccess(undefined, { io: io(broken, { KUBECONFIG: '/bad:/b/config' }) }),
    ).rejects.toThrow(/\/bad: not valid YAML/);
    await expect(
      loadAccess(undefined, { io: io(broken, { KUBECONFIG: '/b/config:/bad' }) }),
    ).rejects.toThrow(/\/bad: not valid YAML/);
    const unreadable = io(files, { KUBECONFIG: '/a/config:/b/config' });
    const plain = io(files);
    unreadable.readFile = (f) =>
      f === '/b/config'
        ? Promise.reject(Object.assign(new Error('EACCES'), { code: 'EACCES' }))
        : plain.readFile(f);
    await expect(loadAccess(undefined, { io: unreadable })).rejects.toThrow(
      /cannot read kubeconfig \/b\/config: EACCES/,
    );
  });

  it('a name twice in one file, a missing context or none at all are errors', async () => {
    const twice = stringify({
      clusters: [
        { name: 'c', cluster: { server: 'https://1' } },
        { name: 'c', cluster: { server: 'https://2' } },
      ],
    });
    await expect(loadAccess('/t', { io: io({ '/t': twice }) })).rejects.toThrow(
      /duplicate name "c" in clusters/,
    );
    await expect(
      loadAccess(undefined, { io: io(files, { KUBECONFIG: '/b/config' }), context: 'nope' }),
    ).rejects.toThrow(/no context named "nope"/);
    await expect(loadAccess('/e', { io: io({ '/e': '' }) })).rejects.toThrow(
      /no current-context \(set one, or pass --context\)/,
    );
    await expect(loadAccess(undefined, { io: io({}, { KUBECONFIG: '/x:/y' }) })).rejects.toThrow(
      /none of \/x, \/y exists/,
    );
  });
});

describe('one context', () => {
  it('reads embedded certificates', async () => {
    const a = await access(
      kubeconfig(
        { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
        { 'certificate-authority-data': b64('CA'), 'tls-server-name': 'kubernetes' },
      ),
    );
    expect(a.server.href).toBe('https://10.0.0.1:6443/');
    expect(a.tls).toEqual({
      rejectUnauthorized: true,
      ca: Buffer.from('CA'),
      cert: Buffer.from('CERT'),
      key: Buffer.from('KEY'),
      servername: 'kubernetes',
    });
    expect(await headers(a)).toEqual({});
    expect(a.source).toBe('/cfg/config (context main)');
  });

  it('impersonates with one header per group and per extra value, as client-go', async () => {
    const a = await access(
      kubeconfig({
        token: 't',
        as: 'jane',
        'as-uid': '42',
        'as-groups': ['g1', 'g2'],
        'as-user-extra': { 'example.com/scopes': ['a', 'b'], team: ['x'] },
      }),
    );
    expect(await headers(a)).toEqual({
      Authorization: 'Bearer t',
      'Impersonate-User': 'jane',
      'Impersonate-Uid': '42',
      'Impersonate-Group': ['g1', 'g2'],
      'Impersonate-Extra-example.com%2Fscopes': ['a', 'b'],
      'Impersonate-Extra-team': ['x'],
    });
    expect(impersonateExtraHeader('ünï code')).toBe('Impersonate-Extra-%C3%BCn%C3%AF%20code');
  });

  it('resolves file paths against the kubeconfig directory and re-reads token files', async () => {
    const files = {
      '/cfg/ca.pem': 'CA',
      '/cfg/certs/c.pem': 'CERT',
      '/abs/k.pem': 'KEY',
      '/cfg/token': 'one\n',
    };
    const fs = io(files);
    const a = await access(
      kubeconfig(
        { 'client-certificate': 'certs/c.pem', 'client-key': '/abs/k.pem', tokenFile: 'token' },
        { 'certificate-authority': 'ca.pem' },
      ),
      fs,
    );
    expect(a.tls).toMatchObject({
      ca: Buffer.from('CA'),
      cert: Buffer.from('CERT'),
      key: Buffer.from('KEY'),
      rejectUnauthorized: true,
    });
    expect(await headers(a)).toEqual({ Authorization: 'Bearer one' });
    files['/cfg/token'] = 'two';
    fs.clock.now += 30_000;
    const c = await a.credential();
    expect(c.headers.Authorization).toBe('Bearer one');
    // A 401 makes the next request re-read the file at once.
    expect(c.rejected?.()).toBe(true);
    expect((await headers(a)).Authorization).toBe('Bearer two');
    files['/cfg/token'] = 'three';
    fs.clock.now += 61_000;
    expect((await headers(a)).Authorization).toBe('Bearer three');
  });

  it.each([
    [kubeconfig({ 'auth-provider': { name: 'gcp' } }), /auth-provider.*exec plugin/],
    [kubeconfig({ username: 'a', password: 'b' }), /basic authentication/],
    [kubeconfig({ exec: { args: [] } }), /exec needs a command; exec needs an apiVersion/],
    [
      kubeconfig({ exec: { ...EXEC, interactiveMode: undefined } }),
      /exec needs an interactiveMode/,
    ],
    [
      kubeconfig({ exec: { ...EXEC, apiVersion: 'client.authentication.k8s.io/v1alpha1' } }),
      /v1alpha1 is not one of/,
    ],
    [kubeconfig({}, { server: 'https://[bad' }), /is not a URL/],
    [kubeconfig({}, { server: undefined }), /cluster "c" has no server/],
    [
      kubeconfig({}, { 'certificate-authority-data': b64('CA'), 'insecure-skip-tls-verify': true }),
      /certificate-authority with insecure-skip-tls-verify is not allowed/,
    ],
    [
      kubeconfig({}, { 'certificate-authority-data': b64('CA'), 'certificate-authority': '/ca' }),
      /certificate-authority-data and certificate-authority are both specified/,
    ],
    [kubeconfig({ 'client-certificate-data': b64('C') }), /client-certificate without client-key/],
    [kubeconfig({ 'as-groups': ['g'] }), /groups or user-extra without impersonating a user/],
    [kubeconfig({}, { 'proxy-url': 'socks5://proxy:1080' }), /SOCKS5 proxies are not supported/],
    [kubeconfig({}, { 'proxy-url': 'ftp://proxy' }), /unsupported scheme "ftp"/],
    [
      kubeconfig({}).replace('current-context: main', 'current-context: other'),
      /no cluster named "missing"/,
    ],
    [
      kubeconfig({}).replace('current-context: main', 'current-context: nope'),
      /no context named "nope"/,
    ],
    ['clusters: [', /not valid YAML/],
    ['kind: Pod', /kind "Pod" is not a kubeconfig/],
  ])('refuses what it cannot use, saying why (%#)', async (text, message) => {
    await expect(access(text)).rejects.toThrow(message);
    await expect(access(text)).rejects.toBeInstanceOf(KubeconfigError);
  });

  it('a server without a scheme is https when TLS is configured, as client-go', async () => {
    const a = await access(
      kubeconfig({}, { server: '10.0.0.9:6443', 'insecure-skip-tls-verify': true }),
    );
    expect(a.server.href).toBe('https://10.0.0.9:6443/');
  });

  it('proxy-url for every request, else the environment', async () => {
    const viaUrl = await access(kubeconfig({}, { 'proxy-url': 'http://proxy.example:3128' }));
    expect(viaUrl.proxy).toEqual({ kind: 'url', url: new URL('http://proxy.example:3128') });
    const fromEnv = await access(
      kubeconfig({}),
      io({}, { HTTPS_PROXY: 'proxy.example:3128', no_proxy: '.internal' }),
    );
    expect(fromEnv.proxy).toEqual({
      kind: 'env',
      https: new URL('http://proxy.example:3128'),
      noProxy: '.internal',
    });
  });
});

describe('exec credential plugins', () => {
  it('runs the plugin and keeps the credential until it expires', async () => {
    const fs = io({}, { PATH: '/usr/bin', HOME: '/home/me' });
    const a = await access(
      kubeconfig({
        exec: { ...EXEC, args: ['--cluster', 'prod'], env: [{ name: 'REGION', value: 'eu' }] },
      }),
      fs,
    );
    const expires = new Date(fs.clock.now + 10 * 60_000).toISOString();
    fs.plugin.out = credential({ token: 't1', expirationTimestamp: expires });
    expect(await headers(a)).toEqual({ Authorization: 'Bearer t1' });
    expect(fs.runs).toHaveLength(1);
    expect(fs.runs[0]).toMatchObject({
      command: 'get-token',
      args: ['--cluster', 'prod'],
      run: { interactive: false },
    });
    expect(fs.runs[0]!.env).toMatchObject({ PATH: '/usr/bin', REGION: 'eu' });
    expect(JSON.parse(fs.runs[0]!.env.KUBERNETES_EXEC_INFO!)).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      spec: { interactive: false },
    });
    fs.plugin.out = credential({ token: 't2' });
    fs.clock.now += 10 * 60_000 - 1;
    expect((await headers(a)).Authorization).toBe('Bearer t1');
    fs.clock.now += 1;
    expect((await headers(a)).Authorization).toBe('Bearer t2');
    expect(fs.runs).toHaveLength(2);
  });

  it('a credential without expiry is kept until the server refuses it (401)', async () => {
    const fs = io({});
    const a = await access(kubeconfig({ exec: EXEC }), fs);
    fs.plugin.out = credential({ token: 'forever' });
    const first = await a.credential();
    fs.clock.now += 365 * 24 * 3600_000;
    expect((await headers(a)).Authorization).toBe('Bearer forever');
    expect(fs.runs).toHaveLength(1);
    fs.plugin.out = credential({ token: 'fresh' });
    expect(first.rejected?.()).toBe(true);
    expect((await headers(a)).Authorization).toBe('Bearer fresh');
    // A late 401 of the old credential does not throw away the fresh one.
    first.rejected?.();
    expect((await headers(a)).Authorization).toBe('Bearer fresh');
    expect(fs.runs).toHaveLength(2);
  });

  it('refuses output client-go refuses, instead of running the plugin on every request', async () => {
    const fs = io({});
    const a = await access(kubeconfig({ exec: EXEC }), fs);
    const cases: [string, RegExp][] = [
      ['not json', /printed no ExecCredential JSON/],
      [JSON.stringify({ status: { token: 't' } }), /its kind must be ExecCredential/],
      [
        credential({ token: 't' }, 'client.authentication.k8s.io/v1beta1'),
        /configured to use API version client.authentication.k8s.io\/v1, plugin returned version client.authentication.k8s.io\/v1beta1/,
      ],
      [
        JSON.stringify({ apiVersion: EXEC.apiVersion, kind: 'ExecCredential' }),
        /didn't return a status field/,
      ],
      [credential({}), /didn't return a token or cert\/key pair/],
      [
        credential({ token: 't', expirationTimestamp: 'tomorrow' }),
        /"tomorrow" is not an RFC 3339 time/,
      ],
      [credential({ clientKeyData: 'k' }), /returned only certificate or key, not both/],
      [
        credential({ clientCertificateData: 'c', clientKeyData: 'k' }),
        /client certificate that does not parse/,
      ],
    ];
    for (const [out, message] of cases) {
      fs.plugin.out = out;
      await expect(a.credential()).rejects.toThrow(message);
    }
  });

  it('a client certificate from the plugin, alone or with a token', async () => {
    const pki = createControlPlanePki({
      hosts: ['127.0.0.1'],
      clients: { me: { user: 'me' } },
      now: new Date(),
    });
    const { certPem, keyPem } = pki.clients.me!;
    const fs = io({});
    const a = await access(kubeconfig({ exec: EXEC }), fs);
    fs.plugin.out = credential({ clientCertificateData: certPem, clientKeyData: keyPem });
    expect(await a.credential()).toMatchObject({
      headers: {},
      clientCert: { cert: Buffer.from(certPem), key: Buffer.from(keyPem) },
    });
  });

  it('a static token or client certificate wins over the plugin, as client-go', async () => {
    const fs = io({});
    const a = await access(kubeconfig({ token: 'static', exec: EXEC }), fs);
    expect(await headers(a)).toEqual({ Authorization: 'Bearer static' });
    const b = await access(
      kubeconfig({ 'client-certificate-data': b64('C'), 'client-key-data': b64('K'), exec: EXEC }),
      fs,
    );
    expect(await b.credential()).toEqual({ headers: {} });
    expect(fs.runs).toHaveLength(0);
  });

  it('interactiveMode: stdin only on a terminal; Always without one is an error', async () => {
    const fs = io({});
    fs.plugin.out = credential({ token: 't' });
    const never = await access(kubeconfig({ exec: EXEC }), { ...fs, stdinIsTerminal: true });
    await never.credential();
    const ifAvailable = { ...EXEC, interactiveMode: 'IfAvailable' };
    await (
      await access(kubeconfig({ exec: ifAvailable }), { ...fs, stdinIsTerminal: true })
    ).credential();
    await (await access(kubeconfig({ exec: ifAvailable }), fs)).credential();
    // v1beta1 defaults to IfAvailable.
    const beta = {
      ...EXEC,
      apiVersion: 'client.authentication.k8s.io/v1beta1',
      interactiveMode: undefined,
    };
    fs.plugin.out = credential({ token: 't' }, beta.apiVersion);
    await (await access(kubeconfig({ exec: beta }), { ...fs, stdinIsTerminal: true })).credential();
    expect(fs.runs.map((r) => r.run.interactive)).toEqual([false, true, false, true]);
    const info = (r: Run): unknown =>
      (JSON.parse(r.env.KUBERNETES_EXEC_INFO ?? '{}') as { spec: { interactive: boolean } }).spec
        .interactive;
    expect(fs.runs.map(info)).toEqual([false, true, false, true]);
    const always = await access(kubeconfig({ exec: { ...EXEC, interactiveMode: 'Always' } }), fs);
    await expect(always.credential()).rejects.toThrow(
      /interactiveMode Always, but standard input is not a terminal/,
    );
  });

  it('provideClusterInfo hands the plugin the cluster, its CA and its exec extension', async () => {
    const fs = io({ '/cfg/ca.pem': 'CA' });
    const a = await access(
      kubeconfig(
        { exec: { ...EXEC, provideClusterInfo: true } },
        {
          'certificate-authority': 'ca.pem',
          'tls-server-name': 'api.internal',
          'proxy-url': 'http://proxy.example:3128',
          extensions: [
            { name: 'client.authentication.k8s.io/exec', extension: { audience: 'prod' } },
            { name: 'other', extension: { x: 1 } },
          ],
        },
      ),
      fs,
    );
    fs.plugin.out = credential({ token: 't' });
    await a.credential();
    expect(JSON.parse(fs.runs[0]!.env.KUBERNETES_EXEC_INFO!)).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      spec: {
        interactive: false,
        cluster: {
          server: 'https://10.0.0.1:6443',
          'tls-server-name': 'api.internal',
          'certificate-authority-data': b64('CA'),
          'proxy-url': 'http://proxy.example:3128/',
          config: { audience: 'prod' },
        },
      },
    });
  });

  it('requests that need a credential at the same time share one run', async () => {
    const fs = io({});
    const a = await access(kubeconfig({ exec: EXEC }), fs);
    fs.plugin.out = credential({ token: 't' });
    const all = await Promise.all([headers(a), headers(a), headers(a)]);
    expect(all.map((h) => h.Authorization)).toEqual(['Bearer t', 'Bearer t', 'Bearer t']);
    expect(fs.runs).toHaveLength(1);
  });

  it('a plugin that is not installed fails with its installHint', async () => {
    const fs = io({});
    fs.runPlugin = () =>
      Promise.reject(
        new KubeconfigError('exec plugin get-token failed: spawn get-token ENOENT', {
          cause: Object.assign(new Error('spawn get-token ENOENT'), { code: 'ENOENT' }),
        }),
      );
    const a = await access(
      kubeconfig({ exec: { ...EXEC, installHint: 'brew install get-token' } }),
      fs,
    );
    await expect(a.credential()).rejects.toThrow(/ENOENT\nbrew install get-token/);
  });
});

describe('in-cluster and the search order', () => {
  const sa = {
    '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt': 'CA',
    '/var/run/secrets/kubernetes.io/serviceaccount/token': 'sa-token',
  };

  it('in a pod: the service env vars and the ServiceAccount files', async () => {
    const a = await inClusterAccess(
      io(sa, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }),
    );
    expect(a.server.href).toBe('https://[fd00::1]/');
    expect(a.tls).toEqual({ ca: Buffer.from('CA'), rejectUnauthorized: true });
    expect(await headers(a)).toEqual({ Authorization: 'Bearer sa-token' });
    await expect(inClusterAccess(io(sa, {}))).rejects.toThrow(/KUBERNETES_SERVICE_HOST is unset/);
  });

  it('--kubeconfig, then $KUBECONFIG, then in-cluster (not with --context), then ~/.kube/config', async () => {
    const files = {
      ...sa,
      '/a': kubeconfig({ token: 'a' }),
      '/home/me/.kube/config': kubeconfig({ token: 'home' }),
    };
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', HOME: '/home/me' };
    const bearer = async (p: Promise<KubeAccess>): Promise<unknown> =>
      (await headers(await p)).Authorization;
    expect(await bearer(loadAccess('/a', { io: io(files, env) }))).toBe('Bearer a');
    expect(
      await bearer(loadAccess(undefined, { io: io(files, { ...env, KUBECONFIG: '/missing:/a' }) })),
    ).toBe('Bearer a');
    expect((await loadAccess(undefined, { io: io(files, env) })).source).toBe(
      'in-cluster ServiceAccount',
    );
    expect(await bearer(loadAccess(undefined, { io: io(files, env), context: 'main' }))).toBe(
      'Bearer home',
    );
    expect(await bearer(loadAccess(undefined, { io: io(files, { HOME: '/home/me' }) }))).toBe(
      'Bearer home',
    );
    await expect(loadAccess('/nope', { io: io(files, env) })).rejects.toThrow(
      /cannot read kubeconfig \/nope/,
    );
  });
});
