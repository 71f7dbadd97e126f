import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  accessFromKubeconfig,
  inClusterAccess,
  KubeconfigError,
  loadAccess,
  type LoaderIo,
} from '../../../operator/kube/kubeconfig.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function io(
  files: Record<string, string>,
  env: Record<string, string> = {},
): LoaderIo & {
  runs: { command: string; args: string[]; env: Record<string, string> }[];
  clock: { now: number };
  plugin: { out: string };
} {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const runs: { command: string; args: string[]; env: Record<string, string> }[] = [];
  const plugin = { out: '' };
  return {
    runs,
    clock,
    plugin,
    env,
    now: () => clock.now,
    readFile: (file) =>
      file in files
        ? Promise.resolve(Buffer.from(files[file]!))
        : Promise.reject(new Error(`ENOENT: ${file}`)),
    runPlugin: (command, args, e) => {
      runs.push({ command, args, env: e });
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

describe('accessFromKubeconfig', () => {
  it('reads embedded certificates and impersonation', async () => {
    const text = kubeconfig(
      {
        'client-certificate-data': b64('CERT'),
        'client-key-data': b64('KEY'),
        as: 'system:serviceaccount:sm:op',
        'as-groups': ['g1', 'g2'],
      },
      { 'certificate-authority-data': b64('CA'), 'tls-server-name': 'kubernetes' },
    );
    const a = await accessFromKubeconfig(text, '/home/me/.kube/config', io({}));
    expect(a.server.href).toBe('https://10.0.0.1:6443/');
    expect(a.tls).toEqual({
      rejectUnauthorized: true,
      ca: Buffer.from('CA'),
      cert: Buffer.from('CERT'),
      key: Buffer.from('KEY'),
      servername: 'kubernetes',
    });
    expect(await a.headers()).toEqual({
      'Impersonate-User': 'system:serviceaccount:sm:op',
      'Impersonate-Group': 'g1, g2',
    });
    expect(a.source).toBe('/home/me/.kube/config (context main)');
  });

  it('resolves file paths against the kubeconfig directory and re-reads token files', async () => {
    const files = {
      '/cfg/ca.pem': 'CA',
      '/cfg/certs/c.pem': 'CERT',
      '/abs/k.pem': 'KEY',
      '/cfg/token': 'one\n',
    };
    const fs = io(files);
    const text = kubeconfig(
      { 'client-certificate': 'certs/c.pem', 'client-key': '/abs/k.pem', tokenFile: 'token' },
      { 'certificate-authority': 'ca.pem', 'insecure-skip-tls-verify': true },
    );
    const a = await accessFromKubeconfig(text, '/cfg/config', fs);
    expect(a.tls).toMatchObject({
      ca: Buffer.from('CA'),
      cert: Buffer.from('CERT'),
      key: Buffer.from('KEY'),
      rejectUnauthorized: false,
    });
    expect(await a.headers()).toEqual({ Authorization: 'Bearer one' });
    files['/cfg/token'] = 'two';
    fs.clock.now += 30_000;
    expect((await a.headers()).Authorization).toBe('Bearer one');
    fs.clock.now += 31_000;
    expect((await a.headers()).Authorization).toBe('Bearer two');
  });

  it('runs exec credential plugins and keeps the token until shortly before it expires', async () => {
    const fs = io({}, { PATH: '/usr/bin', HOME: '/home/me' });
    const text = kubeconfig({
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: 'get-token',
        args: ['--cluster', 'prod'],
        env: [{ name: 'REGION', value: 'eu' }],
        interactiveMode: 'Never',
      },
    });
    const a = await accessFromKubeconfig(text, '/cfg/config', fs);
    const expires = new Date(fs.clock.now + 10 * 60_000).toISOString();
    fs.plugin.out = JSON.stringify({
      kind: 'ExecCredential',
      status: { token: 't1', expirationTimestamp: expires },
    });
    expect(await a.headers()).toEqual({ Authorization: 'Bearer t1' });
    expect(fs.runs).toHaveLength(1);
    expect(fs.runs[0]).toMatchObject({ command: 'get-token', args: ['--cluster', 'prod'] });
    expect(fs.runs[0]!.env).toMatchObject({ PATH: '/usr/bin', REGION: 'eu' });
    expect(JSON.parse(fs.runs[0]!.env.KUBERNETES_EXEC_INFO!)).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      spec: { interactive: false },
    });
    fs.plugin.out = JSON.stringify({ status: { token: 't2' } });
    fs.clock.now += 9 * 60_000;
    expect((await a.headers()).Authorization).toBe('Bearer t1');
    fs.clock.now += 40_000;
    expect((await a.headers()).Authorization).toBe('Bearer t2');
    expect(fs.runs).toHaveLength(2);
  });

  it.each([
    [kubeconfig({ 'auth-provider': { name: 'gcp' } }), /auth-provider.*exec plugin/],
    [kubeconfig({ username: 'a', password: 'b' }), /basic authentication/],
    [kubeconfig({ exec: { args: [] } }), /exec needs a command/],
    [kubeconfig({}, { server: 'not a url' }), /is not a URL/],
    [
      kubeconfig({}).replace('current-context: main', 'current-context: other'),
      /no cluster named "missing"/,
    ],
    [
      kubeconfig({}).replace('current-context: main', 'current-context: nope'),
      /no context named "nope"/,
    ],
    ['clusters: [', /not valid YAML/],
  ])('refuses what it cannot use, saying why (%#)', async (text, message) => {
    await expect(accessFromKubeconfig(text, '/cfg/config', io({}))).rejects.toThrow(message);
    await expect(accessFromKubeconfig(text, '/cfg/config', io({}))).rejects.toBeInstanceOf(
      KubeconfigError,
    );
  });

  it('requests that need a token at the same time share one run of the exec plugin', async () => {
    const fs = io({});
    const a = await accessFromKubeconfig(kubeconfig({ exec: { command: 'x' } }), '/cfg/config', fs);
    fs.plugin.out = JSON.stringify({ status: { token: 't' } });
    const all = await Promise.all([a.headers(), a.headers(), a.headers()]);
    expect(all.map((h) => h.Authorization)).toEqual(['Bearer t', 'Bearer t', 'Bearer t']);
    expect(fs.runs).toHaveLength(1);
  });

  it('an exec plugin that prints no token is an error', async () => {
    const fs = io({});
    const a = await accessFromKubeconfig(kubeconfig({ exec: { command: 'x' } }), '/cfg/config', fs);
    fs.plugin.out = 'not json';
    await expect(a.headers()).rejects.toThrow(/no ExecCredential JSON/);
    fs.plugin.out = JSON.stringify({ status: { clientCertificateData: 'c', clientKeyData: 'k' } });
    await expect(a.headers()).rejects.toThrow(/returned no token/);
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
    expect(await a.headers()).toEqual({ Authorization: 'Bearer sa-token' });
    await expect(inClusterAccess(io(sa, {}))).rejects.toThrow(/KUBERNETES_SERVICE_HOST is unset/);
  });

  it('--kubeconfig, then $KUBECONFIG (first usable file), then in-cluster, then ~/.kube/config', async () => {
    const files = {
      ...sa,
      '/a': kubeconfig({ token: 'a' }),
      '/home/me/.kube/config': kubeconfig({ token: 'home' }),
    };
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', HOME: '/home/me' };
    expect((await (await loadAccess('/a', io(files, env))).headers()).Authorization).toBe(
      'Bearer a',
    );
    expect(
      (
        await (
          await loadAccess(undefined, io(files, { ...env, KUBECONFIG: '/missing:/a' }))
        ).headers()
      ).Authorization,
    ).toBe('Bearer a');
    expect((await loadAccess(undefined, io(files, env))).source).toBe('in-cluster ServiceAccount');
    expect(
      (await (await loadAccess(undefined, io(files, { HOME: '/home/me' }))).headers())
        .Authorization,
    ).toBe('Bearer home');
    await expect(loadAccess('/nope', io(files, env))).rejects.toThrow(
      /cannot read kubeconfig \/nope/,
    );
  });
});
