// Exec credential plugins (client.authentication.k8s.io v1 and v1beta1), as client-go runs
// them: the plugin's ExecCredential is kept until its expirationTimestamp (forever without
// one) or until the API server answers 401 to it; the output is checked as client-go
// decodes it (kind, apiVersion, a parsable expirationTimestamp, a token or a certificate
// and key pair), so a broken plugin fails loudly instead of running on every request.
import { X509Certificate } from 'node:crypto';
import { KubeconfigError } from './errors.ts';

export const EXEC_API_VERSIONS = [
  'client.authentication.k8s.io/v1',
  'client.authentication.k8s.io/v1beta1',
] as const;

export type InteractiveMode = 'Never' | 'IfAvailable' | 'Always';

export interface ExecConfig {
  apiVersion: string;
  command: string;
  args: string[];
  /** Added to the operator's own environment (the plugin inherits it, as with client-go). */
  env: Record<string, string>;
  interactiveMode: InteractiveMode;
  /** KUBERNETES_EXEC_INFO.spec.cluster, when the kubeconfig asks for it (provideClusterInfo). */
  cluster?: Record<string, unknown>;
  installHint?: string;
}

export interface PluginRun {
  /** The plugin reads the terminal (stdin) and may prompt; without it, stdin is closed. */
  interactive: boolean;
}

/** Runs the plugin; resolves with its stdout, rejects with a KubeconfigError. */
export type RunPlugin = (
  command: string,
  args: string[],
  env: Record<string, string>,
  run: PluginRun,
) => Promise<string>;

export interface ExecIo {
  runPlugin: RunPlugin;
  env: Record<string, string | undefined>;
  now(): number;
  /** Whether our stdin is a terminal (interactiveMode IfAvailable and Always). */
  stdinIsTerminal: boolean;
}

/** What one run of the plugin gave: a bearer token, a client certificate, or both. */
export interface ExecCredential {
  token?: string;
  clientCert?: { cert: Buffer; key: Buffer };
  /** ms since the epoch; undefined: valid until the server refuses it. */
  expires?: number;
}

type Rec = Record<string, unknown>;

function rec(v: unknown): Rec | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
}

/** metav1.Time is RFC 3339; client-go refuses anything else when decoding. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Checks the plugin's stdout as client-go decodes it. */
export function parseExecCredential(out: string, exec: ExecConfig): ExecCredential {
  const fail = (why: string, cause?: unknown): KubeconfigError =>
    new KubeconfigError(
      `exec plugin ${exec.command}: ${why}`,
      cause === undefined ? undefined : { cause },
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(out);
  } catch (err) {
    throw fail('printed no ExecCredential JSON', err);
  }
  const doc = rec(parsed);
  if (!doc || doc.kind !== 'ExecCredential') {
    throw fail('printed no ExecCredential (its kind must be ExecCredential)');
  }
  if (doc.apiVersion !== exec.apiVersion) {
    throw fail(
      `is configured to use API version ${exec.apiVersion}, plugin returned version ${String(doc.apiVersion)}`,
    );
  }
  const status = rec(doc.status);
  if (!status) throw fail("didn't return a status field");
  const text = (key: string): string | undefined => {
    const v = status[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw fail(`status.${key} must be a string`);
    return v;
  };
  const token = text('token');
  const certPem = text('clientCertificateData');
  const keyPem = text('clientKeyData');
  const expiry = text('expirationTimestamp');
  if (!token && !certPem && !keyPem) throw fail("didn't return a token or cert/key pair");
  if (!certPem !== !keyPem) throw fail('returned only certificate or key, not both');
  const credential: ExecCredential = {};
  if (expiry !== undefined) {
    const at = RFC3339.test(expiry) ? Date.parse(expiry) : Number.NaN;
    if (!Number.isFinite(at)) {
      throw fail(`status.expirationTimestamp "${expiry}" is not an RFC 3339 time`);
    }
    credential.expires = at;
  }
  if (token) credential.token = token;
  if (certPem && keyPem) {
    try {
      new X509Certificate(certPem);
    } catch (err) {
      throw fail('returned a client certificate that does not parse', err);
    }
    credential.clientCert = { cert: Buffer.from(certPem), key: Buffer.from(keyPem) };
  }
  return credential;
}

function isInteractive(exec: ExecConfig, io: ExecIo): boolean {
  switch (exec.interactiveMode) {
    case 'Never':
      return false;
    case 'IfAvailable':
      return io.stdinIsTerminal;
    case 'Always':
      if (!io.stdinIsTerminal) {
        throw new KubeconfigError(
          `exec plugin ${exec.command} has interactiveMode Always, but standard input is not a terminal`,
        );
      }
      return true;
  }
}

/** A credential source backed by the plugin: runs it when needed, one run at a time. */
export class ExecCredentialSource {
  readonly #exec: ExecConfig;
  readonly #io: ExecIo;
  #cached: ExecCredential | undefined;
  #running: Promise<ExecCredential> | undefined;

  constructor(exec: ExecConfig, io: ExecIo) {
    this.#exec = exec;
    this.#io = io;
  }

  /** The current credential, running the plugin when there is none or it expired. */
  async get(): Promise<ExecCredential> {
    const cached = this.#cached;
    if (cached && (cached.expires === undefined || this.#io.now() < cached.expires)) return cached;
    // Concurrent requests share one run of the plugin.
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /**
   * The API server refused `used` (401): forget it, unless a newer one replaced it already,
   * so the next request runs the plugin again (a credential without expiry included).
   */
  rejected(used: ExecCredential): void {
    if (this.#cached === used) this.#cached = undefined;
  }

  async #run(): Promise<ExecCredential> {
    const exec = this.#exec;
    const interactive = isInteractive(exec, this.#io);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.#io.env)) if (v !== undefined) env[k] = v;
    const spec: Rec = { interactive };
    if (exec.cluster) spec.cluster = exec.cluster;
    Object.assign(env, exec.env, {
      KUBERNETES_EXEC_INFO: JSON.stringify({
        apiVersion: exec.apiVersion,
        kind: 'ExecCredential',
        spec,
      }),
    });
    let out: string;
    try {
      out = await this.#io.runPlugin(exec.command, exec.args, env, { interactive });
    } catch (err) {
      const hint =
        exec.installHint && (err as { cause?: { code?: unknown } }).cause?.code === 'ENOENT'
          ? `\n${exec.installHint}`
          : '';
      throw new KubeconfigError(`${(err as Error).message}${hint}`, { cause: err });
    }
    const credential = parseExecCredential(out, exec);
    this.#cached = credential;
    return credential;
  }
}
