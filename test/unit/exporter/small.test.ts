import { describe, expect, it } from 'vitest';
import { fallbackName, isContainerName, uniqueNames } from '../../../exporter/discovery/naming.ts';
import {
  CONTEXT_SWITCH_TYPES,
  METRIC_LIST,
  METRICS,
  PREFIX,
  PROBE_DURATION_BUCKETS,
  metricByName,
} from '../../../exporter/metrics/catalog.ts';
import { isLoopbackHost, loopbackRedirect } from '../../../exporter/probes/loopback.ts';
import { failureReason } from '../../../exporter/probes/outcome.ts';
import { EXPORTER_NODE_FLAGS, reexecArgv } from '../../../exporter/runtime-flags.ts';
import { mapLimit, TimeoutError, withTimeout } from '../../../exporter/util/concurrency.ts';

describe('container naming', () => {
  it('accepts Kubernetes container names only', () => {
    expect(isContainerName('app')).toBe(true);
    expect(isContainerName('my-app-2')).toBe(true);
    for (const bad of ['', 'App', '-a', 'a-', 'a_b', 'a'.repeat(64), 'a\nb'])
      expect(isContainerName(bad)).toBe(false);
  });

  it('falls back to a stable label from the program name, never a pid', () => {
    expect(fallbackName('/usr/local/bin/envoy\0-c\0/etc/envoy.yaml\0', 'envoy')).toBe(
      'unknown-envoy',
    );
    // Node names its main thread "MainThread": the command line says what runs.
    expect(fallbackName('node\0server.js\0', 'MainThread')).toBe('unknown-node');
    expect(fallbackName('nginx: master process /usr/sbin/nginx\0', 'nginx')).toBe('unknown-nginx');
    expect(fallbackName('', 'Web Server/2')).toBe('unknown-web-server-2');
    expect(fallbackName('', '((()))')).toBe('unknown-process');
    expect(isContainerName(fallbackName('x'.repeat(100), ''))).toBe(true);
  });

  it('makes duplicate names unique in order', () => {
    expect(uniqueNames(['a', 'b', 'a', 'a', 'a-2'])).toEqual(['a', 'b', 'a-2', 'a-3', 'a-2-2']);
  });
});

describe('loopback only', () => {
  it('accepts literal loopback addresses, nothing else', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '[::1]', '::1', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(host)).toBe(true);
    for (const host of [
      'localhost',
      '10.0.0.1',
      '169.254.169.254',
      'example.com',
      '[::2]',
      '0.0.0.0',
      '127.0.0.1.nip.io',
    ])
      expect(isLoopbackHost(host), host).toBe(false);
  });

  it('resolves relative redirects and refuses ones that leave the pod', () => {
    const base = new URL('http://127.0.0.1:8080/healthz');
    expect(loopbackRedirect(base, '/ready')?.href).toBe('http://127.0.0.1:8080/ready');
    expect(loopbackRedirect(base, 'https://127.0.0.1:8443/')?.href).toBe('https://127.0.0.1:8443/');
    expect(loopbackRedirect(base, 'http://169.254.169.254/latest/meta-data')).toBeUndefined();
    expect(loopbackRedirect(base, '//evil.example/')).toBeUndefined();
    expect(loopbackRedirect(base, 'file:///etc/passwd')).toBeUndefined();
    expect(loopbackRedirect(base, 'http://user:pw@127.0.0.1/')).toBeUndefined();
    expect(loopbackRedirect(base, 'http://[::1')).toBeUndefined();
  });
});

describe('probe failure reasons', () => {
  it('maps socket and TLS errors into the bounded set', () => {
    const err = (code: string, message = code) => Object.assign(new Error(message), { code });
    expect(failureReason(err('ECONNREFUSED'))).toBe('refused');
    expect(failureReason(err('ECONNRESET'))).toBe('reset');
    expect(failureReason(new Error('socket hang up'))).toBe('reset');
    expect(failureReason(err('DEPTH_ZERO_SELF_SIGNED_CERT'))).toBe('tls');
    expect(failureReason(err('ERR_SSL_WRONG_VERSION_NUMBER'))).toBe('tls');
    expect(failureReason(err('HPE_INVALID_CONSTANT'))).toBe('protocol');
    expect(failureReason(err('EWHATEVER'))).toBe('other');
    expect(failureReason('a string')).toBe('other');
  });
});

describe('catalog', () => {
  it('names are unique, prefixed, snake_case; counters end in _total and nothing else does', () => {
    const names = METRIC_LIST.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const m of METRIC_LIST) {
      expect(m.name.startsWith(PREFIX)).toBe(true);
      expect(m.name).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(m.name.endsWith('_total')).toBe(m.type === 'counter');
      expect(metricByName(m.name)).toBe(m);
    }
    expect(METRICS.containerMemoryWorkingSetBytes.name).toBe(
      'sidecar_monitor_container_memory_working_set_bytes',
    );
    expect(CONTEXT_SWITCH_TYPES).toEqual(['voluntary', 'involuntary']);
    expect([...PROBE_DURATION_BUCKETS]).toEqual([...PROBE_DURATION_BUCKETS].sort((a, b) => a - b));
  });

  it('container and process families carry the container label, probe families the probe label', () => {
    for (const m of METRIC_LIST) {
      if (m.group === 'container' || m.group === 'process') expect(m.labels[0]).toBe('container');
      if (m.group === 'probe') expect(m.labels[0]).toBe('probe');
      // Target labels are Prometheus' job: never namespace or pod here.
      expect(m.labels).not.toContain('namespace');
      expect(m.labels).not.toContain('pod');
    }
  });
});

describe('concurrency helpers', () => {
  it('mapLimit keeps order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
    expect(await mapLimit([], 4, () => Promise.resolve(1))).toEqual([]);
  });

  it('withTimeout rejects with TimeoutError and resolves otherwise', async () => {
    await expect(withTimeout(new Promise(() => undefined), 10, 'never')).rejects.toBeInstanceOf(
      TimeoutError,
    );
    await expect(withTimeout(Promise.resolve(3), 1000, 'now')).resolves.toBe(3);
  });
});

describe('Node flags', () => {
  it('re-executes once with the flags that are missing, keeping the rest of argv', () => {
    const argv = ['/usr/bin/node', '/app/bin/sidecar-monitor.js', 'exporter', '--listen=:9477'];
    expect(
      reexecArgv(EXPORTER_NODE_FLAGS, '/usr/bin/node', ['--enable-source-maps'], argv, {}),
    ).toEqual([
      '/usr/bin/node',
      ...EXPORTER_NODE_FLAGS,
      '--enable-source-maps',
      '/app/bin/sidecar-monitor.js',
      'exporter',
      '--listen=:9477',
    ]);
    expect(
      reexecArgv(EXPORTER_NODE_FLAGS, '/usr/bin/node', [...EXPORTER_NODE_FLAGS], argv, {}),
    ).toBeUndefined();
    expect(
      reexecArgv(EXPORTER_NODE_FLAGS, '/usr/bin/node', [], argv, {
        SIDECAR_MONITOR_NODE_FLAGS: 'off',
      }),
    ).toBeUndefined();
  });
});
