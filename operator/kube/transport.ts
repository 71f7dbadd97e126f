// The connections to one API server: keep-alive agents (one per client certificate: an
// exec plugin's certificate rotates, and as client-go does, a new one closes the old
// connections), reached directly or through the chosen proxy (CONNECT for https servers,
// absolute-form requests for http ones), with the credential's headers on every request.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Credential, KubeAccess, TlsMaterial } from './kubeconfig.ts';
import { proxyFor } from './proxy.ts';

export interface TransportOptions {
  /** Resolves host names (tests give names to loopback without DNS). */
  lookup?: LookupFunction;
}

export interface Started {
  req: http.ClientRequest;
  credential: Credential;
}

const KEEP_ALIVE = { keepAlive: true, keepAliveMsecs: 30_000 };
/** A proxy that accepts the connection but never answers CONNECT must not hold a request. */
const CONNECT_TIMEOUT_MS = 30_000;

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (proxy.username === '' && proxy.password === '') return {};
  const user = decodeURIComponent(proxy.username);
  const pass = decodeURIComponent(proxy.password);
  return { 'Proxy-Authorization': `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
}

function proxyError(message: string): Error {
  // A network failure for classification (errors.ts): the request was not processed.
  return Object.assign(new Error(message), { code: 'ECONNRESET' });
}

/** Opens a tunnel through an HTTP(S) proxy and TLS to the API server inside it. */
function tunnel(
  proxy: URL,
  options: tls.ConnectionOptions & { host?: string | null; port?: number | string | null },
  lookup: LookupFunction | undefined,
  callback: (err: Error | null, socket?: Socket) => void,
): void {
  const target = `${options.host ?? ''}:${String(options.port ?? 443)}`;
  const mod = proxy.protocol === 'https:' ? https : http;
  const connect = mod.request({
    host: proxy.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
    method: 'CONNECT',
    path: target,
    headers: { Host: target, ...proxyAuthorization(proxy) },
    agent: false,
    timeout: CONNECT_TIMEOUT_MS,
    ...(lookup ? { lookup } : {}),
  });
  let done = false;
  const finish = (err: Error | null, socket?: Socket): void => {
    if (done) return;
    done = true;
    callback(err, socket);
  };
  connect.once('connect', (res, socket, head) => {
    if (res.statusCode !== 200) {
      socket.destroy();
      finish(proxyError(`proxy ${proxy.host} refused CONNECT ${target}: HTTP ${res.statusCode}`));
      return;
    }
    if (head.length > 0) socket.unshift(head);
    finish(null, tls.connect({ ...options, socket }));
  });
  connect.once('timeout', () => {
    connect.destroy(proxyError(`proxy ${proxy.host} did not answer CONNECT ${target}`));
  });
  connect.once('error', (err) => {
    finish(proxyError(`proxy ${proxy.host}: ${err.message}`));
  });
  connect.end();
}

class TunnelAgent extends https.Agent {
  readonly #proxy: URL;
  readonly #lookup: LookupFunction | undefined;

  constructor(options: https.AgentOptions, proxy: URL, lookup: LookupFunction | undefined) {
    super(options);
    this.#proxy = proxy;
    this.#lookup = lookup;
  }

  // Node's Agent accepts a socket through the callback when createConnection returns none.
  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): undefined {
    tunnel(this.#proxy, options as tls.ConnectionOptions, this.#lookup, (err, socket) => {
      callback?.(err, socket as Duplex);
    });
    return undefined;
  }
}

export class Transport {
  readonly server: URL;
  readonly #tls: TlsMaterial;
  readonly #proxy: URL | undefined;
  readonly #credential: () => Promise<Credential>;
  readonly #lookup: LookupFunction | undefined;
  #agent: http.Agent | undefined;
  /** The client certificate the current agent was built with (an exec plugin's). */
  #agentCert: Credential['clientCert'];

  constructor(access: KubeAccess, options: TransportOptions = {}) {
    this.server = access.server;
    this.#tls = access.tls;
    this.#proxy = proxyFor(access.server, access.proxy);
    this.#credential = () => access.credential();
    this.#lookup = options.lookup;
  }

  /** The proxy requests go through, if any (for logs). */
  get proxy(): URL | undefined {
    return this.#proxy;
  }

  #agentFor(credential: Credential): http.Agent {
    const cert = credential.clientCert;
    if (this.#agent && sameCert(cert, this.#agentCert)) return this.#agent;
    // A rotated certificate: close the old connections, which still carry the old identity.
    this.#agent?.destroy();
    this.#agentCert = cert;
    this.#agent = this.#newAgent(cert);
    return this.#agent;
  }

  #newAgent(cert: Credential['clientCert']): http.Agent {
    const lookup = this.#lookup ? { lookup: this.#lookup } : {};
    if (this.server.protocol === 'http:') return new http.Agent({ ...KEEP_ALIVE, ...lookup });
    const t = this.#tls;
    const options: https.AgentOptions = {
      ...KEEP_ALIVE,
      ...lookup,
      rejectUnauthorized: t.rejectUnauthorized,
      ...(t.ca ? { ca: t.ca } : {}),
      ...(cert ? { cert: cert.cert, key: cert.key } : {}),
      ...(!cert && t.cert ? { cert: t.cert } : {}),
      ...(!cert && t.key ? { key: t.key } : {}),
      ...(t.servername ? { servername: t.servername } : {}),
    };
    return this.#proxy
      ? new TunnelAgent(options, this.#proxy, this.#lookup)
      : new https.Agent(options);
  }

  /**
   * Starts a request (not yet ended: the caller writes the body) with the current
   * credential's headers. Rejects only when the credential cannot be had.
   */
  async start(
    method: string,
    url: URL,
    headers: Record<string, string>,
    opts: { signal?: AbortSignal | undefined; timeoutMs: number },
  ): Promise<Started> {
    const credential = await this.#credential();
    const agent = this.#agentFor(credential);
    const all = { ...credential.headers, ...headers };
    const base = {
      method,
      agent,
      timeout: opts.timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    let req: http.ClientRequest;
    if (url.protocol === 'http:' && this.#proxy) {
      // A plain-http server through a proxy: the absolute URL goes to the proxy.
      const p = this.#proxy;
      req = (p.protocol === 'https:' ? https : http).request({
        ...base,
        agent: false,
        host: p.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: p.port || (p.protocol === 'https:' ? 443 : 80),
        path: url.href,
        headers: { ...all, Host: url.host, ...proxyAuthorization(p) },
        ...(this.#lookup ? { lookup: this.#lookup } : {}),
      });
    } else {
      req = (url.protocol === 'http:' ? http : https).request(url, { ...base, headers: all });
    }
    return { req, credential };
  }

  /** Closes idle keep-alive sockets (open watches end through their own signals). */
  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
  }
}

function sameCert(a: Credential['clientCert'], b: Credential['clientCert']): boolean {
  if (a === b) return true;
  return !!a && !!b && a.cert.equals(b.cert) && a.key.equals(b.key);
}
