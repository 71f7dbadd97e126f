// Which proxy a request to the API server goes through, as client-go chooses it: the
// cluster's `proxy-url` for every request when the kubeconfig sets one; otherwise Go's
// http.ProxyFromEnvironment: HTTPS_PROXY (or https_proxy) for https servers, HTTP_PROXY for
// http ones, never for localhost or a loopback address, and not for hosts NO_PROXY names
// (`*`, IPs, CIDRs, domains with their subdomains, `.domain` for subdomains only, each
// with an optional port). HTTP and HTTPS proxies are supported (CONNECT for https servers);
// a SOCKS5 proxy, which kubectl also accepts, is refused by name.
import { isIP } from 'node:net';
import { BlockList } from 'node:net';
import { KubeconfigError } from './errors.ts';

export interface ProxyEnv {
  HTTPS_PROXY?: string | undefined;
  https_proxy?: string | undefined;
  HTTP_PROXY?: string | undefined;
  http_proxy?: string | undefined;
  NO_PROXY?: string | undefined;
  no_proxy?: string | undefined;
}

export type ProxySettings =
  /** The kubeconfig's proxy-url: every request. */
  | { kind: 'url'; url: URL }
  /** From the environment, decided per request. */
  | { kind: 'env'; https?: URL; http?: URL; noProxy: string };

/**
 * Parses a proxy address as Go does: a bare host:port means http://host:port. SOCKS5 is
 * refused with its name rather than silently bypassed.
 */
export function parseProxyUrl(text: string, what: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // Go retries with http:// prepended.
  }
  if ((!url || url.host === '') && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    try {
      url = new URL(`http://${text}`);
    } catch (err) {
      throw new KubeconfigError(`${what} "${text}" is not a URL`, { cause: err });
    }
  }
  if (!url || url.host === '') throw new KubeconfigError(`${what} "${text}" is not a URL`);
  if (url.protocol === 'socks5:' || url.protocol === 'socks5h:') {
    throw new KubeconfigError(
      `${what} "${text}": SOCKS5 proxies are not supported (use an HTTP or HTTPS proxy)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KubeconfigError(
      `${what} "${text}": unsupported scheme ${JSON.stringify(url.protocol.slice(0, -1))}, must be http or https`,
    );
  }
  return url;
}

export function proxySettingsFromEnv(env: ProxyEnv): ProxySettings {
  const https = env.HTTPS_PROXY || env.https_proxy;
  const http = env.HTTP_PROXY || env.http_proxy;
  const settings: ProxySettings = { kind: 'env', noProxy: env.NO_PROXY || env.no_proxy || '' };
  if (https) settings.https = parseProxyUrl(https, 'HTTPS_PROXY');
  if (http) settings.http = parseProxyUrl(http, 'HTTP_PROXY');
  return settings;
}

function defaultPort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}

function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith('127.');
  if (family === 6) {
    const list = new BlockList();
    list.addAddress('::1', 'ipv6');
    list.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
    return list.check(host, 'ipv6');
  }
  return false;
}

/** Whether NO_PROXY exempts host:port, with the rules of golang.org/x/net/http/httpproxy. */
export function noProxyMatches(noProxy: string, host: string, port: string): boolean {
  const family = isIP(host);
  for (const raw of noProxy.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const cidr = /^(.+)\/(\d+)$/.exec(entry);
    if (cidr) {
      const [, net = '', bits = ''] = cidr;
      const netFamily = isIP(net);
      if (netFamily === 0 || family === 0) continue;
      const list = new BlockList();
      try {
        list.addSubnet(net, Number(bits), netFamily === 4 ? 'ipv4' : 'ipv6');
      } catch {
        continue;
      }
      if (list.check(host, family === 4 ? 'ipv4' : 'ipv6')) return true;
      continue;
    }
    let entryHost = entry;
    let entryPort = '';
    const hostPort = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(entry);
    if (hostPort) {
      entryHost = (hostPort[1] ?? '').replace(/^\[(.*)\]$/, '$1');
      entryPort = hostPort[2] ?? '';
      if (entryHost === '') continue;
    } else {
      entryHost = entry.replace(/^\[(.*)\]$/, '$1');
    }
    const portOk = entryPort === '' || entryPort === port;
    if (isIP(entryHost) !== 0) {
      if (family !== 0 && sameIp(entryHost, host) && portOk) return true;
      continue;
    }
    if (family !== 0) continue;
    // foo.com matches foo.com and bar.foo.com; .foo.com and *.foo.com only subdomains.
    let suffix = entryHost.startsWith('*.') ? entryHost.slice(1) : entryHost;
    const matchHost = !suffix.startsWith('.');
    if (matchHost) suffix = `.${suffix}`;
    if ((host.endsWith(suffix) || (matchHost && host === suffix.slice(1))) && portOk) return true;
  }
  return false;
}

function sameIp(a: string, b: string): boolean {
  const fa = isIP(a);
  const fb = isIP(b);
  if (fa !== fb) return false;
  const list = new BlockList();
  list.addAddress(a, fa === 4 ? 'ipv4' : 'ipv6');
  return list.check(b, fb === 4 ? 'ipv4' : 'ipv6');
}

/** The proxy for a request to `target`, or undefined to connect directly. */
export function proxyFor(target: URL, settings: ProxySettings): URL | undefined {
  if (settings.kind === 'url') return settings.url;
  const proxy = target.protocol === 'https:' ? settings.https : settings.http;
  if (!proxy) return undefined;
  const host = bareHost(target);
  if (isLoopback(host)) return undefined;
  if (noProxyMatches(settings.noProxy, host, defaultPort(target))) return undefined;
  return proxy;
}
