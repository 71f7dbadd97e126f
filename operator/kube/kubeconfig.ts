// How the operator finds and authenticates to its API server: a kubeconfig (--kubeconfig,
// else $KUBECONFIG, merged as kubectl merges it: kubeconfig-files.ts), else the pod's
// ServiceAccount (in-cluster), else ~/.kube/config: the order controller-runtime uses;
// --context picks a context as with kubectl. Written here rather than taken from
// @kubernetes/client-node: importing that package costs ~57 MB of RSS (its generated API
// surface), more than the rest of the operator together, and the operator needs none of it.
//
// Honoured as client-go honours them: server, certificate-authority(-data),
// insecure-skip-tls-verify, tls-server-name, proxy-url (else HTTPS_PROXY/HTTP_PROXY/
// NO_PROXY: proxy.ts); client-certificate(-data)/client-key(-data), token, tokenFile (re-read
// every minute and after a 401); exec credential plugins (v1 and v1beta1: tokens and client
// certificates, expiry, re-run after a 401, interactiveMode, provideClusterInfo:
// exec-credential.ts); impersonation (as, as-uid, as-groups, as-user-extra). Refused by
// name: auth-provider and basic authentication (Kubernetes removed both), SOCKS5 proxies.
// kubectl's validation errors for the selected context are errors here too.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { isatty } from 'node:tty';
import { KubeconfigError } from './errors.ts';
import {
  EXEC_API_VERSIONS,
  type ExecConfig,
  ExecCredentialSource,
  type ExecIo,
  type InteractiveMode,
  type RunPlugin,
} from './exec-credential.ts';
import { type KubeconfigDoc, minify, type Minified, readKubeconfigs } from './kubeconfig-files.ts';
import { parseProxyUrl, proxyFor, type ProxySettings, proxySettingsFromEnv } from './proxy.ts';

export { KubeconfigError } from './errors.ts';

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

/** What authenticates one request: headers, and a client certificate from an exec plugin. */
export interface Credential {
  /** Authorization and impersonation headers; an array is sent as repeated headers. */
  headers: Record<string, string | string[]>;
  /** Overrides the TLS material's certificate (an exec plugin's, which rotates). */
  clientCert?: { cert: Buffer; key: Buffer };
  /**
   * The API server answered 401 to a request made with this credential: forget it. True
   * when the next credential may differ (a rotating source), so the request is worth
   * one more try.
   */
  rejected?(): boolean;
}

/** Everything needed to talk to one API server as one identity. */
export interface KubeAccess {
  server: URL;
  tls: TlsMaterial;
  proxy: ProxySettings;
  /** The credential for the next request (rotating sources kept fresh). */
  credential(): Promise<Credential>;
  /** Where it came from, for logs: "<file> (context <name>)" or "in-cluster ServiceAccount". */
  source: string;
  /** The kubeconfig context and its files, when there is one. */
  context?: string;
  kubeconfig?: string;
}

/** I/O the loader needs, injected so parsing is testable without files or processes. */
export interface LoaderIo extends ExecIo {
  readFile(file: string): Promise<Buffer>;
}

/** The last bytes of the plugin's stderr kept for an error message (it also goes to ours). */
const STDERR_TAIL = 4096;

/** Bounds on an exec plugin: a prompt may wait for a person; one that runs alone gets a minute. */
const PLUGIN_TIMEOUT_MS = { interactive: 600_000, alone: 60_000 };
const PLUGIN_MAX_STDOUT = 1 << 20;

/** Runs an exec plugin as client-go does: our stderr is its stderr, stdin only when interactive. */
const runPlugin: RunPlugin = (command, args, env, run) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env,
      stdio: [run.interactive ? 'inherit' : 'ignore', 'pipe', 'pipe'],
      timeout: run.interactive ? PLUGIN_TIMEOUT_MS.interactive : PLUGIN_TIMEOUT_MS.alone,
    });
    const stdout: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let failure: Error | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > PLUGIN_MAX_STDOUT) {
        failure ??= new Error(`printed more than ${PLUGIN_MAX_STDOUT} bytes`);
        child.kill();
      } else {
        stdout.push(chunk);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    child.on('error', (err) => {
      failure ??= err;
    });
    child.on('close', (code, signal) => {
      if (!failure && code !== 0) {
        failure = new Error(signal ? `killed by ${signal}` : `exit code ${code ?? '?'}`);
      }
      if (failure) {
        const detail = stderr.trim() ? `${failure.message}: ${stderr.trim()}` : failure.message;
        reject(new KubeconfigError(`exec plugin ${command} failed: ${detail}`, { cause: failure }));
      } else {
        resolve(Buffer.concat(stdout).toString('utf8'));
      }
    });
  });

export const systemIo: LoaderIo = {
  readFile: (file) => readFile(file),
  runPlugin,
  env: process.env,
  now: () => Date.now(),
  stdinIsTerminal: isatty(0),
};

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Token files (projected tokens rotate) are re-read this often, as client-go does. */
const TOKEN_FILE_TTL_MS = 60_000;
/** Where client-go finds the exec plugin's per-cluster configuration (provideClusterInfo). */
const EXEC_EXTENSION = 'client.authentication.k8s.io/exec';

type Rec = Record<string, unknown>;

function rec(v: unknown): Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A token read from a file: re-read every minute, and at once after a 401. */
function fileToken(io: LoaderIo, file: string): () => Promise<{ token: string; reset(): void }> {
  let cached: { at: number; token: string } | undefined;
  return async () => {
    const now = io.now();
    if (!cached || now - cached.at > TOKEN_FILE_TTL_MS) {
      cached = { at: now, token: (await io.readFile(file)).toString('utf8').trim() };
    }
    const used = cached;
    return {
      token: used.token,
      reset: () => {
        if (cached === used) cached = undefined;
      },
    };
  };
}

async function readMaterial(
  io: LoaderIo,
  data: unknown,
  file: unknown,
  what: string,
  where: string,
): Promise<Buffer | undefined> {
  const inline = str(data);
  if (inline) return Buffer.from(inline, 'base64');
  const f = str(file);
  if (!f) return undefined;
  try {
    return await io.readFile(f);
  } catch (err) {
    throw new KubeconfigError(`${where}: cannot read ${what} ${f}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** client-go's escaping of Impersonate-Extra-<key>: legal header bytes stay, others %XX. */
export function impersonateExtraHeader(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9!#$&'*+\-.^_`|~]/.test(c)
      ? c
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return `Impersonate-Extra-${out}`;
}

function stringList(v: unknown, what: string, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string')) {
    throw new KubeconfigError(`${where}: ${what} must be a list of strings`);
  }
  return v;
}

/** Impersonate-* headers: one header line per group and per extra value, as client-go. */
function impersonationHeaders(user: Rec, where: string): Record<string, string | string[]> {
  const as = str(user.as);
  const uid = str(user['as-uid']);
  const groups = stringList(user['as-groups'], 'as-groups', where);
  const extra = rec(user['as-user-extra']);
  const h: Record<string, string | string[]> = {};
  if (!as) {
    if (uid || groups.length > 0 || Object.keys(extra).length > 0) {
      throw new KubeconfigError(
        `${where}: requesting uid, groups or user-extra without impersonating a user (set as)`,
      );
    }
    return h;
  }
  h['Impersonate-User'] = as;
  if (uid) h['Impersonate-Uid'] = uid;
  if (groups.length > 0) h['Impersonate-Group'] = groups;
  for (const [key, values] of Object.entries(extra)) {
    const list = stringList(values, `as-user-extra.${key}`, where);
    if (list.length > 0) h[impersonateExtraHeader(key)] = list;
  }
  return h;
}

const MODES: readonly InteractiveMode[] = ['Never', 'IfAvailable', 'Always'];

function parseExec(v: Rec, where: string): ExecConfig & { provideClusterInfo: boolean } {
  const errors: string[] = [];
  const command = str(v.command);
  if (!command) errors.push('exec needs a command');
  const apiVersion = str(v.apiVersion);
  if (!apiVersion) errors.push('exec needs an apiVersion');
  else if (!(EXEC_API_VERSIONS as readonly string[]).includes(apiVersion)) {
    errors.push(`exec apiVersion ${apiVersion} is not one of ${EXEC_API_VERSIONS.join(', ')}`);
  }
  // v1 must say; v1beta1 defaults to IfAvailable (client-go's kubeconfig defaulting).
  let mode = str(v.interactiveMode);
  if (!mode && apiVersion === 'client.authentication.k8s.io/v1beta1') mode = 'IfAvailable';
  if (!mode) errors.push('exec needs an interactiveMode (Never, IfAvailable or Always)');
  else if (!MODES.includes(mode as InteractiveMode)) {
    errors.push(`exec interactiveMode ${mode} is not one of ${MODES.join(', ')}`);
  }
  const env: Record<string, string> = {};
  for (const e of Array.isArray(v.env) ? v.env.map(rec) : []) {
    const name = str(e.name);
    if (!name) errors.push('every exec env entry needs a name');
    else env[name] = typeof e.value === 'string' ? e.value : '';
  }
  if (errors.length > 0 || !command || !apiVersion) {
    throw new KubeconfigError(`${where}: ${errors.join('; ')}`);
  }
  const exec: ExecConfig & { provideClusterInfo: boolean } = {
    apiVersion,
    command,
    args: stringList(v.args, 'exec args', where),
    env,
    interactiveMode: mode as InteractiveMode,
    provideClusterInfo: v.provideClusterInfo === true,
  };
  const hint = str(v.installHint);
  if (hint) exec.installHint = hint;
  return exec;
}

/** KUBERNETES_EXEC_INFO.spec.cluster, as client-go fills it for provideClusterInfo. */
function execClusterInfo(
  server: URL,
  tls: TlsMaterial,
  cluster: Rec,
  proxy: ProxySettings,
): Record<string, unknown> {
  const info: Record<string, unknown> = { server: str(cluster.server) ?? server.href };
  if (tls.servername) info['tls-server-name'] = tls.servername;
  if (!tls.rejectUnauthorized) info['insecure-skip-tls-verify'] = true;
  if (tls.ca) info['certificate-authority-data'] = tls.ca.toString('base64');
  if (proxy.kind === 'url') info['proxy-url'] = proxy.url.href;
  if (cluster['disable-compression'] === true) info['disable-compression'] = true;
  const extension = (Array.isArray(cluster.extensions) ? cluster.extensions : [])
    .map(rec)
    .find((e) => e.name === EXEC_EXTENSION);
  if (extension?.extension !== undefined) info.config = extension.extension;
  return info;
}

/** client-go's DefaultServerURL: a server without a scheme is https when TLS is configured. */
function serverUrl(text: string, tlsConfigured: boolean, where: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // retried with a scheme below
  }
  if ((!url || url.host === '') && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    try {
      url = new URL(`${tlsConfigured ? 'https' : 'http'}://${text}`);
    } catch (err) {
      throw new KubeconfigError(`${where}: server ${text} is not a URL`, { cause: err });
    }
  }
  if (!url || url.host === '') throw new KubeconfigError(`${where}: server ${text} is not a URL`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new KubeconfigError(`${where}: server ${text} is not an http(s) URL`);
  }
  return url;
}

/** Builds access for one context, refusing what kubectl would refuse for it. */
export async function accessFromMinified(
  m: Minified,
  io: LoaderIo,
  source: string,
): Promise<KubeAccess> {
  const { cluster, user } = m;
  const where = `${source} (context ${m.contextName})`;
  const userWhere = `${where}: user "${m.userName ?? ''}"`;
  const clusterWhere = `${where}: cluster "${m.clusterName}"`;
  const errors: string[] = [];
  if (user['auth-provider'] !== undefined) {
    errors.push(
      `${userWhere} uses an auth-provider, which Kubernetes replaced with exec credential plugins; use the provider's exec plugin (e.g. gke-gcloud-auth-plugin, kubelogin)`,
    );
  }
  if (user.username !== undefined || user.password !== undefined) {
    errors.push(`${userWhere}: basic authentication is not supported (Kubernetes removed it)`);
  }
  const both = (data: string, file: string, owner: Rec, what: string): void => {
    if (str(owner[data]) && str(owner[file])) {
      errors.push(`${what}: ${data} and ${file} are both specified`);
    }
  };
  both('certificate-authority-data', 'certificate-authority', cluster, clusterWhere);
  both('client-certificate-data', 'client-certificate', user, userWhere);
  both('client-key-data', 'client-key', user, userWhere);
  const hasCert = !!(str(user['client-certificate-data']) || str(user['client-certificate']));
  const hasKey = !!(str(user['client-key-data']) || str(user['client-key']));
  if (hasCert && !hasKey) errors.push(`${userWhere}: client-certificate without client-key`);
  const serverText = str(cluster.server);
  if (!serverText) errors.push(`${clusterWhere} has no server`);
  const insecure = cluster['insecure-skip-tls-verify'] === true;
  const hasCa = !!(
    str(cluster['certificate-authority-data']) || str(cluster['certificate-authority'])
  );
  if (insecure && hasCa) {
    errors.push(
      `${clusterWhere}: certificate-authority with insecure-skip-tls-verify is not allowed`,
    );
  }
  let proxy: ProxySettings | undefined;
  const proxyText = str(cluster['proxy-url']);
  try {
    proxy = proxyText
      ? { kind: 'url', url: parseProxyUrl(proxyText, `${clusterWhere}: proxy-url`) }
      : proxySettingsFromEnv(io.env);
  } catch (err) {
    errors.push((err as Error).message);
  }
  let impersonation: Record<string, string | string[]> = {};
  try {
    impersonation = impersonationHeaders(user, userWhere);
  } catch (err) {
    errors.push((err as Error).message);
  }
  let exec: ReturnType<typeof parseExec> | undefined;
  try {
    if (user.exec !== undefined) exec = parseExec(rec(user.exec), userWhere);
  } catch (err) {
    errors.push((err as Error).message);
  }
  if (errors.length > 0 || !serverText || !proxy) throw new KubeconfigError(errors.join('; '));

  const tls: TlsMaterial = { rejectUnauthorized: !insecure };
  const ca = await readMaterial(
    io,
    cluster['certificate-authority-data'],
    cluster['certificate-authority'],
    'certificate-authority',
    clusterWhere,
  );
  const cert = await readMaterial(
    io,
    user['client-certificate-data'],
    user['client-certificate'],
    'client-certificate',
    userWhere,
  );
  const key = await readMaterial(
    io,
    user['client-key-data'],
    user['client-key'],
    'client-key',
    userWhere,
  );
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  const servername = str(cluster['tls-server-name']);
  if (servername) tls.servername = servername;
  const server = serverUrl(serverText, !!(ca || cert || insecure), clusterWhere);

  const inline = str(user.token);
  const tokenFile = str(user.tokenFile);
  let credential: () => Promise<Credential>;
  if (inline) {
    const fixed: Credential = {
      headers: { ...impersonation, Authorization: `Bearer ${inline}` },
    };
    credential = () => Promise.resolve(fixed);
  } else if (tokenFile) {
    const token = fileToken(io, tokenFile);
    // Unreadable now is an error now, as with client-go.
    try {
      await token();
    } catch (err) {
      throw new KubeconfigError(`${userWhere}: cannot read tokenFile ${tokenFile}`, { cause: err });
    }
    credential = async () => {
      const t = await token();
      return {
        headers: { ...impersonation, Authorization: `Bearer ${t.token}` },
        rejected: () => {
          t.reset();
          return true;
        },
      };
    };
  } else if (exec && !cert) {
    // As client-go, a static token or client certificate wins over the plugin.
    if (exec.provideClusterInfo) exec.cluster = execClusterInfo(server, tls, cluster, proxy);
    const source = new ExecCredentialSource(exec, io);
    credential = async () => {
      const got = await source.get();
      const c: Credential = {
        headers: { ...impersonation },
        rejected: () => {
          source.rejected(got);
          return true;
        },
      };
      if (got.token) c.headers.Authorization = `Bearer ${got.token}`;
      if (got.clientCert) c.clientCert = got.clientCert;
      return c;
    };
  } else {
    const fixed: Credential = { headers: impersonation };
    credential = () => Promise.resolve(fixed);
  }
  return {
    server,
    tls,
    proxy,
    credential,
    source: where,
    context: m.contextName,
    kubeconfig: source,
  };
}

/** The pod's ServiceAccount: API server from the service env vars, token re-read as it rotates. */
export async function inClusterAccess(io: LoaderIo, dir = SA_DIR): Promise<KubeAccess> {
  const host = io.env.KUBERNETES_SERVICE_HOST;
  const port = io.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host)
    throw new KubeconfigError('not running in a cluster (KUBERNETES_SERVICE_HOST is unset)');
  const server = new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`);
  const ca = await io.readFile(path.join(dir, 'ca.crt'));
  const token = fileToken(io, path.join(dir, 'token'));
  await token();
  return {
    server,
    tls: { ca, rejectUnauthorized: true },
    proxy: proxySettingsFromEnv(io.env),
    source: 'in-cluster ServiceAccount',
    credential: async () => {
      const t = await token();
      return {
        headers: { Authorization: `Bearer ${t.token}` },
        rejected: () => {
          t.reset();
          return true;
        },
      };
    },
  };
}

export interface LoadOptions {
  /** kubectl's --context: a context of the kubeconfig instead of its current-context. */
  context?: string;
  io?: LoaderIo;
}

/** The kubeconfig files to merge, as kubectl and controller-runtime choose them. */
function kubeconfigFiles(
  explicit: string | undefined,
  io: LoaderIo,
  context: string | undefined,
): { files: string[]; skipMissing: boolean } | 'in-cluster' {
  if (explicit) return { files: [explicit], skipMissing: false };
  const env = io.env.KUBECONFIG;
  if (env) return { files: env.split(path.delimiter), skipMissing: true };
  // A --context asks for a kubeconfig: never silently the ServiceAccount instead.
  if (io.env.KUBERNETES_SERVICE_HOST && !context) return 'in-cluster';
  return { files: [path.join(io.env.HOME ?? homedir(), '.kube', 'config')], skipMissing: false };
}

/** The merged kubeconfig and its selected context, without building access (for views). */
export async function loadKubeconfig(
  explicit: string | undefined,
  options: LoadOptions = {},
): Promise<{ doc: KubeconfigDoc; minified: Minified } | 'in-cluster'> {
  const io = options.io ?? systemIo;
  const choice = kubeconfigFiles(explicit, io, options.context);
  if (choice === 'in-cluster') return choice;
  const doc = await readKubeconfigs(choice.files, io, choice.skipMissing);
  return { doc, minified: minify(doc, options.context) };
}

/**
 * --kubeconfig when given; else $KUBECONFIG (its files merged as kubectl merges them); else
 * the pod's ServiceAccount when in a cluster (and no --context); else ~/.kube/config.
 */
export async function loadAccess(
  explicit: string | undefined,
  options: LoadOptions = {},
): Promise<KubeAccess> {
  const io = options.io ?? systemIo;
  const loaded = await loadKubeconfig(explicit, { ...options, io });
  if (loaded === 'in-cluster') return inClusterAccess(io);
  const { doc } = loaded;
  const source = doc.files.length === 1 ? (doc.files[0] ?? '') : doc.files.join(path.delimiter);
  return accessFromMinified(loaded.minified, io, source);
}

/** Whether a request to the access's server goes through a proxy, and which (for logs). */
export function proxyOf(access: KubeAccess): URL | undefined {
  return proxyFor(access.server, access.proxy);
}
