// Command-line flags and environment → validated runtime options. Pure: argv and env in, a
// value or an OptionsError naming the bad setting out. The operator sets the environment
// (SIDECAR_MONITOR_CONFIG and friends); people running it by hand use flags.

import { createRequire } from 'node:module';
import { CONFIG_ENV, parseExporterConfig, type ExporterConfig } from './config.ts';
import type { CommandLineMatcher, DiscoveryMode } from './discovery/discover.ts';

/** The operator's default too (SidecarMonitor spec.exporter.port). */
export const DEFAULT_PORT = 9477;
export const DEFAULT_LISTEN = `:${DEFAULT_PORT}`;
export const DEFAULT_MAX_SERIES = 500;
export const LISTEN_ENV = 'SIDECAR_MONITOR_LISTEN';
export const LOG_LEVEL_ENV = 'SIDECAR_MONITOR_LOG_LEVEL';

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ExporterOptions {
  host: string;
  port: number;
  mode: DiscoveryMode;
  config: ExporterConfig;
  procRoot: string;
  maxSeries: number;
  /** The setting maxSeries came from, for the log that says what to raise. */
  maxSeriesSetting: string;
  collectorTimeoutMs: number;
  logLevel: LogLevel;
}

export class OptionsError extends Error {
  /** The flag or environment variable at fault. */
  readonly setting: string;
  constructor(setting: string, message: string, options?: ErrorOptions) {
    super(`${setting}: ${message}`, options);
    this.name = 'OptionsError';
    this.setting = setting;
  }
}

export const USAGE = `usage: sidecar-monitor exporter [flags]

Exposes Prometheus metrics about the containers of its pod (cgroup resources, processes,
health probes). In a pod it watches every container but its own; with --pid or --match it
runs standalone and watches those processes.

flags:
  --listen HOST:PORT        address of /metrics, /healthz, /readyz (env ${LISTEN_ENV};
                            default ${DEFAULT_LISTEN})
  --pid PID                 standalone: watch this process and its descendants (repeatable)
  --match REGEX             standalone: watch processes whose command line matches
                            (RE2 syntax: linear time, no lookaround or backreferences)
  --max-series N            cap on exported series (default: config maxSeries or ${DEFAULT_MAX_SERIES})
  --collector-timeout SEC   time budget of each collector per scrape, e.g. 2.5 (default 5)
  --proc-root PATH          procfs mount (default /proc)
  --log-level LEVEL         ${LOG_LEVELS.join(', ')} (env ${LOG_LEVEL_ENV}; default info)
  -h, --help                this help

environment:
  ${CONFIG_ENV}    JSON config written by the operator (targets, probes, workload)`;

const VALUE_FLAGS = new Set([
  '--listen',
  '--pid',
  '--match',
  '--max-series',
  '--collector-timeout',
  '--proc-root',
  '--log-level',
]);

/**
 * HOST:PORT, [IPv6]:PORT, or :PORT for every interface (host '' — the CLI listens on '::'
 * when the pod has IPv6, else on 0.0.0.0).
 */
export function parseListen(setting: string, value: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  // Port 0 would be a random port nobody (no Service, no PodMonitor) can find.
  if (!m || port < 1 || port > 65535)
    throw new OptionsError(
      setting,
      `expected HOST:PORT with a port from 1 to 65535 (e.g. 127.0.0.1:${DEFAULT_PORT}, [::1]:${DEFAULT_PORT} or :${DEFAULT_PORT}), got "${value}"`,
    );
  const raw = m[1] ?? '';
  const host = raw.startsWith('[') ? raw.slice(1, -1) : raw;
  return { host, port };
}

// Numbers are plain decimals everywhere (Number() would also take hex, exponents, spaces).
function integer(setting: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max))
    throw new OptionsError(setting, `expected an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

function decimal(setting: string, value: string, min: number, max: number): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max))
    throw new OptionsError(
      setting,
      `expected a decimal number from ${min} to ${max} (e.g. 2.5), got "${value}"`,
    );
  return n;
}

interface Re2Module {
  RE2JS: { compile(pattern: string): CommandLineMatcher };
}

/**
 * --match runs on command lines any local user chooses, every time a new process appears, so
 * a backtracking engine would let one of them stall every scrape ((a+)+$ against 30 a's took
 * seconds). RE2 (re2js, pure JavaScript) matches in time linear in the input; it has no
 * lookaround or backreferences, and those patterns are refused at start. Loaded only here:
 * pods never pay for it.
 */
function compileMatch(pattern: string): CommandLineMatcher {
  let matcher: CommandLineMatcher;
  try {
    const { RE2JS } = createRequire(import.meta.url)('re2js') as Re2Module;
    matcher = RE2JS.compile(pattern);
  } catch (err) {
    throw new OptionsError(
      '--match',
      `not a pattern this exporter runs (RE2 syntax, linear time: no lookaround or backreferences): ${(err as Error).message}`,
      { cause: err },
    );
  }
  // A pattern that matches the empty string matches every command line (the kernel's threads
  // and every process of the host): surely not what was meant.
  if (matcher.test(''))
    throw new OptionsError(
      '--match',
      `"${pattern}" matches every command line (it matches the empty string); name the program, e.g. --match 'gunicorn'`,
    );
  return matcher;
}

/** Returns the options, or 'help'. Throws OptionsError, or ConfigError for the config env. */
export function parseOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ExporterOptions | 'help' {
  const values = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '-h' || arg === '--help') return 'help';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(flag))
      throw new OptionsError(
        arg,
        `unknown ${arg.startsWith('-') ? 'flag' : 'argument'} (see --help)`,
      );
    let value: string | undefined;
    if (eq > 0 && flag !== arg) value = arg.slice(eq + 1);
    // `--listen --pid 42`: the next flag is not this one's value (--flag=--x passes one).
    else if (argv[i + 1]?.startsWith('--') !== true) value = argv[++i];
    if (value === undefined)
      throw new OptionsError(flag, `needs a value (${flag} VALUE or ${flag}=VALUE)`);
    values.set(flag, [...(values.get(flag) ?? []), value]);
  }
  const last = (flag: string) => values.get(flag)?.at(-1);

  const listenSetting = last('--listen') !== undefined ? '--listen' : LISTEN_ENV;
  const { host, port } = parseListen(
    listenSetting,
    last('--listen') ?? env[LISTEN_ENV] ?? DEFAULT_LISTEN,
  );

  const pids = (values.get('--pid') ?? []).map((v) => integer('--pid', v, 1, 2 ** 22));
  const pattern = last('--match');
  const match = pattern === undefined ? undefined : compileMatch(pattern);
  const mode: DiscoveryMode =
    pids.length > 0 || match
      ? { kind: 'standalone', pids, ...(match ? { match } : {}) }
      : { kind: 'pod' };

  let config: ExporterConfig = { version: 1, targets: [], probes: [] };
  const raw = env[CONFIG_ENV];
  // A ConfigError names the field (SIDECAR_MONITOR_CONFIG.probes[0].port: ...).
  if (raw !== undefined && raw.trim() !== '') config = parseExporterConfig(raw);

  const maxSeriesFlag = last('--max-series');
  const maxSeries =
    maxSeriesFlag !== undefined
      ? integer('--max-series', maxSeriesFlag, 10, 100_000)
      : (config.maxSeries ?? DEFAULT_MAX_SERIES);
  const timeoutFlag = last('--collector-timeout');
  const timeoutSeconds =
    timeoutFlag === undefined ? 5 : decimal('--collector-timeout', timeoutFlag, 0.01, 120);
  const procRoot = last('--proc-root') ?? '/proc';
  if (!procRoot.startsWith('/'))
    throw new OptionsError('--proc-root', `must be an absolute path, got "${procRoot}"`);
  const levelSetting = last('--log-level') !== undefined ? '--log-level' : LOG_LEVEL_ENV;
  const level = last('--log-level') ?? env[LOG_LEVEL_ENV] ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new OptionsError(
      levelSetting,
      `expected one of ${LOG_LEVELS.join(', ')}, got "${level}"`,
    );

  return {
    host,
    port,
    mode,
    config,
    procRoot: procRoot.length > 1 ? procRoot.replace(/\/+$/, '') : procRoot,
    maxSeries,
    maxSeriesSetting:
      maxSeriesFlag !== undefined
        ? '--max-series'
        : `spec.exporter.maxSeries of the SidecarMonitor (${CONFIG_ENV}.maxSeries${config.maxSeries === undefined ? `, default ${DEFAULT_MAX_SERIES}` : ''})`,
    collectorTimeoutMs: Math.round(timeoutSeconds * 1000),
    logLevel: level as LogLevel,
  };
}
