// Which exec probe commands are recognised (and as what), and why the rest are not: the
// README's list of recognised forms, as a table.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recogniseExec, shellWords, type ExecCheck } from '../../../operator/inject/exec-probe.ts';

const grpc = (port: number, service = '', tls = false): ExecCheck => ({
  kind: 'grpc',
  port,
  service,
  tls,
});
const http = (
  port: number,
  path = '/',
  scheme: 'HTTP' | 'HTTPS' = 'HTTP',
  headers: { name: string; value: string }[] = [],
): ExecCheck => ({ kind: 'http', port, path, scheme, headers });

describe('recognised exec probes', () => {
  it.each<[string[], ExecCheck]>([
    // grpc_health_probe: Go flag syntax, -addr with no host, localhost, 127.0.0.1 or [::1].
    [['grpc_health_probe', '-addr=:8080'], grpc(8080)],
    [
      ['/bin/grpc_health_probe', '-addr', 'localhost:5000', '-service', 'shop.Cart'],
      grpc(5000, 'shop.Cart'),
    ],
    [
      ['grpc_health_probe', '--addr=127.0.0.1:9000', '-tls', '-tls-no-verify'],
      grpc(9000, '', true),
    ],
    [['grpc_health_probe', '-addr=[::1]:9000', '-tls=false', '-v'], grpc(9000)],
    [
      [
        'grpc_health_probe',
        '-addr=:50051',
        '-connect-timeout=2s',
        '-rpc-timeout',
        '1500ms',
        '-user-agent',
        'kube',
      ],
      grpc(50051),
    ],
    // curl: one URL (scheme optional, host optional), the usual flags, headers kept.
    [['curl', '-f', 'http://localhost:8080/healthz'], http(8080, '/healthz')],
    [
      ['curl', '-fsSL', '-o', '/dev/null', '-m', '2', 'http://127.0.0.1:8080/health?full=1'],
      http(8080, '/health?full=1'),
    ],
    [
      ['curl', '--fail', '--silent', '--max-time', '5', '--url', 'https://[::1]:8443/'],
      http(8443, '/', 'HTTPS'),
    ],
    [['curl', '-sfk', 'localhost:3000'], http(3000)],
    [['curl', '-o/dev/null', '-s', 'HTTP://LOCALHOST/x#frag'], http(80, '/x')],
    [['curl', '--insecure', 'https://localhost/'], http(443, '/', 'HTTPS')],
    [
      ['curl', '-H', 'X-Probe: kubelet', '--header', 'Accept: */*', 'http://:9000/x'],
      http(9000, '/x', 'HTTP', [
        { name: 'X-Probe', value: 'kubelet' },
        { name: 'Accept', value: '*/*' },
      ]),
    ],
    [
      ['curl', 'http://localhost:8080/healthz', '--no-progress-meter', '--connect-timeout', '1'],
      http(8080, '/healthz'),
    ],
    // wget (GNU and BusyBox spellings).
    [['wget', '-q', '-O-', 'http://localhost:8080/healthz'], http(8080, '/healthz')],
    [['wget', '-qO', '/dev/null', 'http://127.0.0.1:8080/'], http(8080)],
    [['wget', '--spider', '-T', '2', '--tries=1', 'http://localhost/health'], http(80, '/health')],
    [
      [
        'wget',
        '--no-verbose',
        '--output-document=-',
        '--header=X-A: b',
        '--no-check-certificate',
        'https://localhost:8443/status',
      ],
      http(8443, '/status', 'HTTPS', [{ name: 'X-A', value: 'b' }]),
    ],
    [['wget', '-nv', '-t', '1', 'localhost:8080/ping'], http(8080, '/ping')],
    // The whole script of sh -c, when it is one plain command.
    [['sh', '-c', 'curl -f http://localhost:8080/healthz'], http(8080, '/healthz')],
    [
      ['/bin/bash', '-c', "curl -sf 'http://[::1]:8080/health?x=1' || exit 1"],
      http(8080, '/health?x=1'),
    ],
    [
      ['/bin/sh', '-c', 'grpc_health_probe -addr=:50051 -service="shop.Cart"'],
      grpc(50051, 'shop.Cart'),
    ],
    [['sh', '-c', 'wget -q -O - "http://localhost:8080/ready"'], http(8080, '/ready')],
  ])('%j', (command, check) => {
    expect(recogniseExec(command)).toEqual({ ok: true, check });
  });
});

describe('exec probes left alone, with the reason', () => {
  it.each<[unknown, RegExp]>([
    [['cat', '/tmp/healthy'], /program "cat"/],
    [['/ready-probe.sh'], /program "ready-probe.sh"/],
    [[], /no command/],
    [undefined, /no command/],
    [[1, 2], /not short strings/],
    [['x'.repeat(5000)], /not short strings/],
    [Array(65).fill('a'), /more than 64/],
    [['busybox', 'wget', 'http://localhost/'], /program "busybox"/],
    // curl: what changes the request or its outcome is not recognised.
    [['curl', 'http://localhost:8080/a', 'http://localhost:8080/b'], /several URLs/],
    [['curl', '-f'], /no URL/],
    [['curl', '-X', 'POST', 'http://localhost/'], /option -X/],
    [['curl', '-I', 'http://localhost/'], /option -I/],
    [['curl', '--retry', '3', 'http://localhost/'], /option "--retry"/],
    [['curl', '--max-time=5', 'http://localhost/'], /option "--max-time=5"/],
    [['curl', '-H', 'X-Empty;', 'http://localhost/'], /header "X-Empty;"/],
    [['curl', '-H', 'Accept:', 'http://localhost/'], /header "Accept:"/],
    [['curl', '-m'], /-m without a value/],
    [['curl', 'ftp://localhost/'], /URL scheme "ftp"/],
    [['curl', 'http://user:pw@localhost/'], /is not http\(s\):\/\/host/],
    [['curl', 'http://localhost:99999/'], /URL port 99999/],
    [['wget', '--max-redirect=0', 'http://localhost/'], /option "--max-redirect=0"/],
    [['wget', '-O'], /-O without a value/],
    // grpc_health_probe: flags that change the check, or a command that always fails.
    [['grpc_health_probe'], /without -addr/],
    [['grpc_health_probe', '-addr=:8080', '-tls', '-tls-ca-cert=/ca.pem'], /flag -tls-ca-cert/],
    [['grpc_health_probe', '-addr=:8080', '-rpc-header=authorization: x'], /flag -rpc-header/],
    [['grpc_health_probe', '-addr=:8080', '-tls-no-verify'], /without -tls/],
    [['grpc_health_probe', '-addr=localhost:grpc'], /is not HOST:PORT/],
    [['grpc_health_probe', '-addr=:0'], /is not HOST:PORT/],
    [['grpc_health_probe', '-addr=:8080', 'extra'], /argument "extra"/],
    [['grpc_health_probe', '-addr=:8080', '-tls=yes'], /-tls="yes"/],
    [['grpc_health_probe', '-addr=:8080', '-rpc-timeout=soon'], /-rpc-timeout "soon"/],
    [['grpc_health_probe', '-addr'], /-addr without a value/],
    [['grpc_health_probe', '-addr=:$(GRPC_PORT)'], /\$\(VAR\)/],
    // Shell scripts: only one plain command.
    [['sh', '-c', 'curl -f http://localhost:$PORT/healthz'], /shell syntax \(\$\)/],
    [['sh', '-c', 'curl -f http://localhost:8080/ && echo ok'], /shell syntax \(&\)/],
    [['sh', '-c', 'curl -f http://localhost:8080/ | grep ok'], /shell syntax \(\|\)/],
    [['sh', '-c', 'curl http://[::1]:8080/'], /shell syntax \(\[\)/],
    [['sh', '-c', 'curl "http://localhost:${PORT}/"'], /shell expansion \(\$\)/],
    [['sh', '-c', "curl 'http://localhost/"], /unbalanced quotes/],
    [['sh', '-c', 'curl -f http://localhost/\ncurl -f http://localhost/x'], /shell syntax/],
    [['sh', '-c', 'sh -c "curl http://localhost/"'], /a shell inside a shell/],
    [['sh', 'script.sh'], /program "sh"/],
    [['sh', '-c', 'curl -f http://localhost/', 'arg0'], /program "sh"/],
  ])('%j: %s', (command, reason) => {
    const result = recogniseExec(command);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.why).toBe('unrecognised');
      expect(result.message).toMatch(reason);
    }
  });

  it.each([
    [['curl', '-f', 'http://10.0.0.1:8080/']],
    [['curl', '-f', 'http://db.shop.svc.cluster.local/health']],
    [['wget', '-q', 'http://127.0.0.2/']],
    [['grpc_health_probe', '-addr=db:5000']],
    [['sh', '-c', 'grpc_health_probe -addr=10.1.2.3:5000']],
  ])('%j aims at another host: never probed', (command) => {
    const result = recogniseExec(command);
    expect(result).toMatchObject({ ok: false, why: 'not-loopback' });
  });

  it('any command: a recognition or a reason, never a throw', () => {
    const word = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom(
        'curl',
        'wget',
        'grpc_health_probe',
        'sh',
        '-c',
        '-f',
        '-o',
        '-H',
        '-addr',
        '-O-',
        'http://localhost:8080/x',
        ':8080',
        "'",
        '|| exit 1',
      ),
    );
    fc.assert(
      fc.property(fc.array(word, { maxLength: 8 }), (command) => {
        const result = recogniseExec(command);
        if (result.ok) {
          expect(result.check.port).toBeGreaterThanOrEqual(1);
          expect(result.check.port).toBeLessThanOrEqual(65535);
        } else {
          expect(result.message.length).toBeGreaterThan(0);
        }
      }),
    );
  });
});

describe('shell words', () => {
  it('splits on blanks and honours quotes, keeping what is inside them literally', () => {
    expect(shellWords(`curl  -H 'X-A: b c' "http://localhost/"`)).toEqual({
      ok: true,
      value: ['curl', '-H', 'X-A: b c', 'http://localhost/'],
    });
    expect(shellWords(`a'b'"c"`)).toEqual({ ok: true, value: ['abc'] });
    expect(shellWords(`a ''`)).toEqual({ ok: true, value: ['a', ''] });
  });
});
