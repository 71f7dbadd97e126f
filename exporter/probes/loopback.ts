// Probes never leave the pod: the exporter runs with the app's identity, so a probe that
// followed a redirect to another host would be a server-side request forgery vector (anyone
// who can write a SidecarMonitor or a response header could make pods call out). Only literal
// loopback addresses pass; names are not resolved (no DNS, no /etc/hosts surprises).

import { isIPv4, isIPv6 } from 'node:net';

export function isLoopbackHost(hostname: string): boolean {
  const host =
    hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) {
    const h = host.toLowerCase();
    return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  }
  return false;
}

/** Resolves a redirect's Location against the current URL; undefined if it leaves loopback. */
export function loopbackRedirect(current: URL, location: string): URL | undefined {
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    return undefined;
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') return undefined;
  if (next.username !== '' || next.password !== '') return undefined;
  return isLoopbackHost(next.hostname) ? next : undefined;
}
