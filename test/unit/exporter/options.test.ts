import { describe, expect, it } from 'vitest';
import { ConfigError, serializeExporterConfig } from '../../../exporter/config.ts';
import {
  DEFAULT_MAX_SERIES,
  DEFAULT_PORT,
  OptionsError,
  parseListen,
  parseOptions,
} from '../../../exporter/options.ts';

describe('exporter options', () => {
  it('defaults: pod mode on every interface, default port, empty config', () => {
    expect(parseOptions([], {})).toEqual({
      host: '',
      port: DEFAULT_PORT,
      mode: { kind: 'pod' },
      config: { version: 1, targets: [], probes: [] },
      procRoot: '/proc',
      maxSeries: DEFAULT_MAX_SERIES,
      maxSeriesSetting:
        'spec.exporter.maxSeries of the SidecarMonitor (SIDECAR_MONITOR_CONFIG.maxSeries, default 500)',
      collectorTimeoutMs: 5000,
      logLevel: 'info',
    });
  });

  it('reads the flags the operator passes and the config env', () => {
    const config = serializeExporterConfig({
      version: 1,
      targets: [{ name: 'app', limits: { cpuCores: 0.5 } }],
      probes: [],
      maxSeries: 300,
    });
    const o = parseOptions(['--listen=:9477'], {
      SIDECAR_MONITOR_CONFIG: config,
    });
    expect(o).toMatchObject({ host: '', port: 9477, maxSeries: 300 });
    if (o === 'help') throw new Error('help');
    expect(o.config.targets[0]?.limits?.cpuCores).toBe(0.5);
  });

  it('standalone with --pid (repeatable) and --match; flags win over env', () => {
    const o = parseOptions(
      [
        '--pid',
        '12',
        '--pid=13',
        '--match',
        'node .*server',
        '--listen',
        '127.0.0.1:9478',
        '--max-series',
        '50',
      ],
      { SIDECAR_MONITOR_LISTEN: '0.0.0.0:1', SIDECAR_MONITOR_LOG_LEVEL: 'debug' },
    );
    if (o === 'help') throw new Error('help');
    expect(o.mode).toMatchObject({ kind: 'standalone', pids: [12, 13] });
    const match = o.mode.kind === 'standalone' ? o.mode.match : undefined;
    expect(match?.test('node ./my-server.js')).toBe(true);
    expect(match?.test('python app.py')).toBe(false);
    expect([o.host, o.port, o.maxSeries, o.logLevel]).toEqual(['127.0.0.1', 9478, 50, 'debug']);
  });

  it('parses IPv6 listen addresses', () => {
    expect(parseListen('--listen', '[::1]:9477')).toEqual({ host: '::1', port: 9477 });
    expect(parseListen('--listen', ':80')).toEqual({ host: '', port: 80 });
  });

  it.each([
    [['--bogus'], '--bogus'],
    [['stray'], 'stray'],
    [['--listen'], '--listen'],
    [['--listen', 'nope'], '--listen'],
    [['--listen', '1.2.3.4:70000'], '--listen'],
    [['--listen', ':0'], '--listen'],
    [['--listen', '127.0.0.1:0'], '--listen'],
    [['--listen', '--pid', '42'], '--listen'],
    [['--pid', '--match', 'x'], '--pid'],
    [['--collector-timeout', '0x10'], '--collector-timeout'],
    [['--collector-timeout', '1e1'], '--collector-timeout'],
    [['--collector-timeout', ' 5'], '--collector-timeout'],
    [['--max-series', '1e3'], '--max-series'],
    [['--max-series', '0x100'], '--max-series'],
    [['--pid', '0'], '--pid'],
    [['--pid', 'abc'], '--pid'],
    [['--match', '('], '--match'],
    [['--match', '(?<=x)y'], '--match'],
    [['--match', ''], '--match'],
    [['--match', 'x*'], '--match'],
    [['--max-series', '5'], '--max-series'],
    [['--collector-timeout', 'soon'], '--collector-timeout'],
    [['--proc-root', 'relative'], '--proc-root'],
    [['--log-level', 'loud'], '--log-level'],
  ])('%j is an OptionsError naming %s', (argv, setting) => {
    let error: unknown;
    try {
      parseOptions(argv, {});
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(OptionsError);
    expect((error as OptionsError).setting).toBe(setting);
    expect((error as Error).message.startsWith(`${setting}: `)).toBe(true);
  });

  it('names the env var when it is the bad setting', () => {
    expect(() => parseOptions([], { SIDECAR_MONITOR_LISTEN: 'x' })).toThrow(
      /^SIDECAR_MONITOR_LISTEN: /,
    );
    expect(() =>
      parseOptions([], { SIDECAR_MONITOR_CONFIG: '{"version":1,"probes":[{"type":"udp"}]}' }),
    ).toThrow(ConfigError);
    expect(() => parseOptions([], { SIDECAR_MONITOR_CONFIG: 'not json' })).toThrow(
      /^SIDECAR_MONITOR_CONFIG: is not valid JSON/,
    );
  });

  it('a missing value is named as missing; decimals are plain decimals', () => {
    expect(() => parseOptions(['--listen', '--pid', '42'], {})).toThrow(
      /^--listen: needs a value \(--listen VALUE or --listen=VALUE\)$/,
    );
    const o = parseOptions(['--collector-timeout', '2.5', '--match=--weird-but-explicit'], {});
    if (o === 'help') throw new Error('help');
    expect(o.collectorTimeoutMs).toBe(2500);
    expect(o.mode.kind === 'standalone' && o.mode.match?.test('x --weird-but-explicit')).toBe(true);
  });

  it('--help wins', () => {
    expect(parseOptions(['--pid', '1', '--help'], {})).toBe('help');
  });
});
