// The process shell around createExporter, run once cli.ts has settled the Node flags. Startup problems end
// with one line naming the bad setting and a non-zero exit code, never a stack trace.

import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createExporter, type Exporter } from './app.ts';
import { ConfigError } from './config.ts';
import { OptionsError, USAGE, parseOptions, type ExporterOptions } from './options.ts';
import { readVersion } from './version.ts';
import { ParseError } from './parse/errors.ts';
import { parseBootTime } from './parse/system-stat.ts';
import { readText } from './procfs/read.ts';

/** How long SIGTERM may take before open connections are cut. */
const SHUTDOWN_GRACE_MS = 1500;

function fail(message: string, code: number): number {
  console.error(`sidecar-monitor exporter: ${message}`);
  return code;
}

async function listen(server: FastifyInstance, options: ExporterOptions): Promise<string> {
  if (options.host !== '') return server.listen({ host: options.host, port: options.port });
  try {
    return await server.listen({ host: '::', port: options.port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
    return server.listen({ host: '0.0.0.0', port: options.port });
  }
}

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

async function shutdown(exporter: Exporter): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => {
      resolve(false);
    }, SHUTDOWN_GRACE_MS);
  });
  const done = await Promise.race([exporter.stop().then(() => true), late]);
  clearTimeout(timer);
  if (!done) {
    // Clients that stopped reading never let their responses finish: cut them.
    exporter.server.server.closeAllConnections();
    exporter.connections.destroyAll();
  }
  return done;
}

export async function run(argv: string[]): Promise<number> {
  let options: ExporterOptions | 'help';
  try {
    options = parseOptions(argv, process.env);
  } catch (err) {
    if (err instanceof OptionsError || err instanceof ConfigError) return fail(err.message, 2);
    throw err;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const stat = await readText(`${options.procRoot}/stat`);
  // Validated as it will be used: a proc root without procfs' own files can never work.
  if (!stat.ok)
    return fail(
      `--proc-root: ${options.procRoot} is not a procfs mount (cannot read ${options.procRoot}/stat: ${stat.error.message})`,
      2,
    );
  const logger = pino({ level: options.logLevel, timestamp: pino.stdTimeFunctions.isoTime });
  const version = await readVersion();
  const bootTime = parseBootTime(stat.value);
  if (bootTime instanceof ParseError) {
    logger.warn(
      { procRoot: options.procRoot },
      'cannot read the boot time: process start times will be absent',
    );
  }

  let exporter: Exporter;
  try {
    exporter = createExporter({
      options,
      logger,
      now: () => performance.now(),
      random: Math.random,
      env: process.env,
      version,
      selfPid: process.pid,
      bootTimeSeconds: typeof bootTime === 'number' ? bootTime : undefined,
    });
  } catch (err) {
    return fail((err as Error).message, 2);
  }

  let address: string;
  try {
    address = await listen(exporter.server, options);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const where = `${options.host || '*'}:${options.port}`;
    if (code === 'EADDRINUSE') return fail(`--listen: ${where} is already in use`, 1);
    if (code === 'EACCES') return fail(`--listen: not allowed to listen on ${where}`, 1);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
      return fail(`--listen: ${options.host} is not an address of this host`, 1);
    return fail(`--listen: cannot listen on ${where}: ${(err as Error).message}`, 1);
  }
  exporter.start();
  const mode = options.mode.kind;
  logger.info(
    {
      address,
      version,
      mode,
      targets: options.config.targets.map((t) => t.name),
      probes: options.config.probes.map((p) => p.name),
      maxSeries: options.maxSeries,
    },
    'listening',
  );

  const signal = await nextSignal();
  logger.info({ signal }, 'shutting down');
  const clean = await shutdown(exporter);
  // How often the connection bounds had to act: a sign of abuse (or of a misbehaving client).
  const { evicted, cutOff } = exporter.connections.stats();
  logger.info({ clean, connectionsEvicted: evicted, connectionsCutOff: cutOff }, 'stopped');
  return 0;
}
