// The proxy choice, against the cases of Go's golang.org/x/net/http/httpproxy (what kubectl
// and client-go use): the real tunnel is tested against the API server in
// test/operator/client-parity.test.ts.
import { describe, expect, it } from 'vitest';
import {
  noProxyMatches,
  parseProxyUrl,
  proxyFor,
  proxySettingsFromEnv,
} from '../../../operator/kube/proxy.ts';

describe('NO_PROXY', () => {
  it.each([
    // [NO_PROXY, host, port, exempt]
    ['*', 'anything.example', '443', true],
    ['example.com', 'example.com', '443', true],
    ['example.com', 'api.example.com', '443', true],
    ['example.com', 'notexample.com', '443', false],
    ['.example.com', 'example.com', '443', false],
    ['.example.com', 'api.example.com', '443', true],
    ['*.example.com', 'api.example.com', '443', true],
    ['*.example.com', 'example.com', '443', false],
    ['example.com:6443', 'example.com', '6443', true],
    ['example.com:6443', 'example.com', '443', false],
    ['Example.COM', 'api.example.com', '443', true],
    ['10.0.0.0/8', '10.1.2.3', '443', true],
    ['10.0.0.0/8', '11.1.2.3', '443', false],
    ['10.0.0.1', '10.0.0.1', '6443', true],
    ['10.0.0.1:6443', '10.0.0.1', '443', false],
    ['fd00::/8', 'fd00::1', '443', true],
    ['[fd00::1]:443', 'fd00::1', '443', true],
    ['fd00::1', 'fd00::1', '443', true],
    // Domains never match IPs and IPs never match names.
    ['example.com', '10.0.0.1', '443', false],
    ['10.0.0.1', 'example.com', '443', false],
    [' a.example , b.example ', 'b.example', '443', true],
    [':443, ,', 'x.example', '443', false],
  ])('NO_PROXY=%j exempts %s:%s: %s', (noProxy, host, port, exempt) => {
    expect(noProxyMatches(noProxy, host, port)).toBe(exempt);
  });
});

describe('proxyFor', () => {
  const env = proxySettingsFromEnv({
    HTTPS_PROXY: 'http://secure-proxy:3128',
    http_proxy: 'plain-proxy:8080',
    NO_PROXY: 'internal.example',
  });

  it('HTTPS_PROXY for https servers, HTTP_PROXY for http ones, as Go reads them', () => {
    expect(proxyFor(new URL('https://api.example:6443'), env)?.href).toBe(
      'http://secure-proxy:3128/',
    );
    expect(proxyFor(new URL('http://api.example:8080'), env)?.href).toBe(
      'http://plain-proxy:8080/',
    );
  });

  it('never for loopback or localhost, nor what NO_PROXY names', () => {
    for (const server of [
      'https://127.0.0.1:6443',
      'https://127.9.9.9',
      'https://localhost:6443',
      'https://[::1]:6443',
      'https://kube.internal.example',
    ]) {
      expect(proxyFor(new URL(server), env), server).toBeUndefined();
    }
  });

  it('the kubeconfig proxy-url for every request, loopback included', () => {
    const url = new URL('http://proxy:3128');
    expect(proxyFor(new URL('https://127.0.0.1:6443'), { kind: 'url', url })).toBe(url);
  });

  it('uppercase wins; a bare host:port is http; SOCKS5 and other schemes are refused', () => {
    expect(
      proxySettingsFromEnv({ HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:1' }),
    ).toMatchObject({ https: new URL('http://upper:1') });
    expect(parseProxyUrl('proxy.example:3128', 'HTTPS_PROXY').href).toBe(
      'http://proxy.example:3128/',
    );
    expect(() => parseProxyUrl('socks5://p:1080', 'HTTPS_PROXY')).toThrow(
      /SOCKS5 proxies are not supported/,
    );
    expect(() => parseProxyUrl('ftp://p', 'HTTPS_PROXY')).toThrow(/unsupported scheme "ftp"/);
  });
});
