// How the operator finds and authenticates to its API server: the pod's ServiceAccount
// (in-cluster), or a kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config), the order
// controller-runtime uses. Written here rather than taken from @kubernetes/client-node:
// importing that package costs ~57 MB of RSS (its generated API surface), more than the
// rest of the operator together, and the operator needs none of it.
//
// Supported: server, certificate-authority(-data), insecure-skip-tls-verify,
// tls-server-name; client-certificate(-data)/client-key(-data), token, tokenFile, exec
// credential plugins (client.authentication.k8s.io v1 and v1beta1, token output);
// impersonation (as, as-groups). Legacy auth-provider and basic auth are refused with a
// message (Kubernetes removed them in favour of exec plugins).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

/** Everything needed to talk to one API server as one identity. */
export interface KubeAccess {
  server: URL;
  tls: TlsMaterial;
  /** Authorization and impersonation headers, fresh enough for the next request. */
  headers(): Promise<Record<string, string>>;
  /** Where it came from, for logs. */
  source: string;
}

export class KubeconfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KubeconfigError';
  }
}

/** I/O the loader needs, injected so parsing is testable without files or processes. */
export interface LoaderIo {
  readFile(file: string): Promise<Buffer>;
  /** Runs an exec credential plugin; resolves with its stdout. */
  runPlugin(command: string, args: string[], env: Record<string, string>): Promise<string>;
  env: Record<string, string | undefined>;
  now(): number;
}

export const systemIo: LoaderIo = {
  readFile: (file) => readFile(file),
  runPlugin: (command, args, env) =>
    new Promise((resolve, reject) => {
      execFile(
        command,
        args,
        { env, timeout: 60_000, maxBuffer: 1 << 20 },
        (err, stdout, stderr) => {
          if (err) {
            reject(
              new KubeconfigError(
                `exec plugin ${command} failed: ${stderr.trim() || err.message}`,
                { cause: err },
              ),
            );
          } else {
            resolve(stdout);
          }
        },
      );
    }),
  env: process.env,
  now: () => Date.now(),
};

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Projected tokens are rotated by the kubelet; re-read the file this often. */
const TOKEN_FILE_TTL_MS = 60_000;

type Rec = Record<string, unknown>;

function rec(v: unknown): Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function named(list: unknown, name: string, what: string, source: string): Rec {
  const found = (Array.isArray(list) ? list : []).map(rec).find((e) => e.name === name);
  if (!found) throw new KubeconfigError(`${source}: no ${what} named "${name}"`);
  return rec(found[what]);
}

/** A token read from a file, re-read now and then (it rotates). */
function fileToken(io: LoaderIo, file: string): () => Promise<string> {
  let cached: { at: number; token: string } | undefined;
  return async () => {
    const now = io.now();
    if (!cached || now - cached.at > TOKEN_FILE_TTL_MS) {
      cached = { at: now, token: (await io.readFile(file)).toString('utf8').trim() };
    }
    return cached.token;
  };
}

interface ExecConfig {
  apiVersion: string;
  command: string;
  args: string[];
  env: Record<string, string>;
}

function execToken(io: LoaderIo, exec: ExecConfig, source: string): () => Promise<string> {
  let cached: { token: string; expires: number } | undefined;
  // Concurrent requests share one run of the plugin.
  let running: Promise<string> | undefined;
  return async () => {
    if (cached && io.now() < cached.expires) return cached.token;
    running ??= refresh().finally(() => {
      running = undefined;
    });
    return running;
  };

  async function refresh(): Promise<string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(io.env)) if (v !== undefined) env[k] = v;
    Object.assign(env, exec.env, {
      KUBERNETES_EXEC_INFO: JSON.stringify({
        apiVersion: exec.apiVersion,
        kind: 'ExecCredential',
        spec: { interactive: false },
      }),
    });
    const out = await io.runPlugin(exec.command, exec.args, env);
    let parsed: unknown;
    try {
      parsed = JSON.parse(out);
    } catch (err) {
      throw new KubeconfigError(
        `${source}: exec plugin ${exec.command} printed no ExecCredential JSON`,
        { cause: err },
      );
    }
    const status = rec(rec(parsed).status);
    const token = str(status.token);
    if (!token) {
      throw new KubeconfigError(
        `${source}: exec plugin ${exec.command} returned no token (client certificates from exec plugins are not supported)`,
      );
    }
    const expiry = str(status.expirationTimestamp);
    // Without an expiry the credential stays valid (the plugin protocol says so); renew
    // a little early otherwise.
    const expires = expiry ? Date.parse(expiry) - 30_000 : Number.POSITIVE_INFINITY;
    cached = { token, expires: Number.isFinite(expires) || expiry === undefined ? expires : 0 };
    return token;
  }
}

async function readMaterial(
  io: LoaderIo,
  base: string,
  data: unknown,
  file: unknown,
  what: string,
  source: string,
): Promise<Buffer | undefined> {
  const inline = str(data);
  if (inline) return Buffer.from(inline, 'base64');
  const f = str(file);
  if (!f) return undefined;
  try {
    return await io.readFile(path.resolve(base, f));
  } catch (err) {
    throw new KubeconfigError(`${source}: cannot read ${what} ${f}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function parseExec(v: Rec, source: string): ExecConfig {
  const command = str(v.command);
  if (!command) throw new KubeconfigError(`${source}: exec needs a command`);
  const apiVersion = str(v.apiVersion) ?? 'client.authentication.k8s.io/v1';
  const env: Record<string, string> = {};
  for (const e of Array.isArray(v.env) ? v.env.map(rec) : []) {
    const name = str(e.name);
    if (name) env[name] = typeof e.value === 'string' ? e.value : '';
  }
  return {
    apiVersion,
    command,
    args: (Array.isArray(v.args) ? v.args : []).filter((a): a is string => typeof a === 'string'),
    env,
  };
}

/** Parses a kubeconfig (one document, already merged) into access for its current context. */
export async function accessFromKubeconfig(
  text: string,
  file: string,
  io: LoaderIo,
  context?: string,
): Promise<KubeAccess> {
  let doc: Rec;
  try {
    doc = rec(parse(text));
  } catch (err) {
    throw new KubeconfigError(`${file}: not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const base = path.dirname(file);
  const contextName = context ?? str(doc['current-context']);
  if (!contextName) throw new KubeconfigError(`${file}: no current-context`);
  const ctx = named(doc.contexts, contextName, 'context', file);
  const clusterName = str(ctx.cluster);
  const userName = str(ctx.user);
  if (!clusterName) throw new KubeconfigError(`${file}: context "${contextName}" names no cluster`);
  const cluster = named(doc.clusters, clusterName, 'cluster', file);
  const user = userName ? named(doc.users, userName, 'user', file) : {};
  const serverText = str(cluster.server);
  if (!serverText) throw new KubeconfigError(`${file}: cluster "${clusterName}" has no server`);
  let server: URL;
  try {
    server = new URL(serverText);
  } catch (err) {
    throw new KubeconfigError(`${file}: server ${serverText} is not a URL`, { cause: err });
  }
  if (user['auth-provider'] !== undefined) {
    throw new KubeconfigError(
      `${file}: user "${userName ?? ''}" uses an auth-provider, which Kubernetes replaced with exec credential plugins; use the provider's exec plugin (e.g. gke-gcloud-auth-plugin, kubelogin)`,
    );
  }
  if (user.username !== undefined || user.password !== undefined) {
    throw new KubeconfigError(
      `${file}: basic authentication is not supported (Kubernetes removed it)`,
    );
  }
  const tls: TlsMaterial = { rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true };
  const ca = await readMaterial(
    io,
    base,
    cluster['certificate-authority-data'],
    cluster['certificate-authority'],
    'certificate-authority',
    file,
  );
  const cert = await readMaterial(
    io,
    base,
    user['client-certificate-data'],
    user['client-certificate'],
    'client-certificate',
    file,
  );
  const key = await readMaterial(
    io,
    base,
    user['client-key-data'],
    user['client-key'],
    'client-key',
    file,
  );
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  const servername = str(cluster['tls-server-name']);
  if (servername) tls.servername = servername;

  let token: (() => Promise<string>) | undefined;
  const inline = str(user.token);
  const tokenFile = str(user.tokenFile);
  if (inline) token = () => Promise.resolve(inline);
  else if (tokenFile) token = fileToken(io, path.resolve(base, tokenFile));
  else if (user.exec !== undefined) token = execToken(io, parseExec(rec(user.exec), file), file);

  const impersonation: Record<string, string> = {};
  const as = str(user.as);
  if (as) impersonation['Impersonate-User'] = as;
  const groups = (Array.isArray(user['as-groups']) ? user['as-groups'] : []).filter(
    (g): g is string => typeof g === 'string',
  );
  return {
    server,
    tls,
    source: `${file} (context ${contextName})`,
    headers: async () => {
      const h: Record<string, string> = { ...impersonation };
      if (groups.length > 0) h['Impersonate-Group'] = groups.join(', ');
      if (token) h.Authorization = `Bearer ${await token()}`;
      return h;
    },
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
    source: 'in-cluster ServiceAccount',
    headers: async () => ({ Authorization: `Bearer ${await token()}` }),
  };
}

/**
 * --kubeconfig when given; else $KUBECONFIG (the first file with a current-context, as
 * kubectl merges); else the pod's ServiceAccount when in a cluster; else ~/.kube/config.
 */
export async function loadAccess(
  explicit: string | undefined,
  io: LoaderIo = systemIo,
): Promise<KubeAccess> {
  const fromFile = async (file: string): Promise<KubeAccess> => {
    let text: string;
    try {
      text = (await io.readFile(file)).toString('utf8');
    } catch (err) {
      throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return accessFromKubeconfig(text, file, io);
  };
  if (explicit) return fromFile(explicit);
  const env = io.env.KUBECONFIG;
  if (env) {
    const files = env.split(path.delimiter).filter((f) => f !== '');
    let lastError: unknown;
    for (const file of files) {
      try {
        return await fromFile(file);
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError instanceof Error
      ? lastError
      : new KubeconfigError('$KUBECONFIG names no usable file');
  }
  if (io.env.KUBERNETES_SERVICE_HOST) return inClusterAccess(io);
  return fromFile(path.join(io.env.HOME ?? homedir(), '.kube', 'config'));
}
