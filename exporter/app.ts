// Wires the exporter from its parts. Everything with a side effect (logger, clock, randomness,
// environment, procfs root) comes in as a dependency; nothing here listens or reads yet.

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { CgroupCollector } from './cgroup/collector.ts';
import { Discoverer } from './discovery/discover.ts';
import { registerFamilies } from './metrics/families.ts';
import type { ExporterOptions } from './options.ts';
import { ProbeRunner } from './probes/runner.ts';
import { ProcessCollector } from './process/collector.ts';
import { SyncReader } from './procfs/read.ts';
import { ScrapePipeline } from './scrape/pipeline.ts';
import { takeSnapshot } from './scrape/snapshot.ts';
import type { ConnectionGuard } from './http/connections.ts';
import { buildServer } from './server.ts';

export interface ExporterDeps {
  options: ExporterOptions;
  logger: Logger;
  /** Monotonic milliseconds. */
  now: () => number;
  random: () => number;
  env: Readonly<Record<string, string | undefined>>;
  version: string;
  selfPid: number;
  bootTimeSeconds: number | undefined;
}

export interface Exporter {
  server: FastifyInstance;
  connections: ConnectionGuard;
  registry: Registry;
  pipeline: ScrapePipeline;
  /** Starts the probe schedules. */
  start(): void;
  /** Stops probes and closes the server (drains requests in flight). */
  stop(): Promise<void>;
}

/** Throws (with a message naming the setting) when the config cannot be used. */
export function createExporter(deps: ExporterDeps): Exporter {
  const { options, logger, now } = deps;
  const { config } = options;
  const registry = new Registry();
  // One scratch buffer for the synchronous reads of every collector.
  const reader = new SyncReader();
  const discoverer = new Discoverer({
    reader,
    procRoot: options.procRoot,
    mode: options.mode,
    selfPid: deps.selfPid,
    preferred: config.targets.map((t) => t.name),
  });
  const cgroups = new CgroupCollector(options.procRoot, reader);
  const processes = new ProcessCollector(options.procRoot, now, reader);
  const pipeline = new ScrapePipeline({
    registry,
    logger,
    targets: config.targets,
    probes: config.probes.map((p) => p.name),
    seriesLimit: options.maxSeries,
    seriesLimitSetting: options.maxSeriesSetting,
    takeSnapshot: () =>
      takeSnapshot({
        discoverer,
        cgroups,
        processes,
        now,
        timeoutMs: options.collectorTimeoutMs,
        bootTimeSeconds: deps.bootTimeSeconds,
      }),
  });
  const families = registerFamilies({
    registry,
    logger,
    samples: pipeline.samples,
    version: deps.version,
    ...(config.workload ? { workload: config.workload } : {}),
    seriesLimit: options.maxSeries,
    now,
  });
  pipeline.setDroppedCounter(families.seriesDropped);
  const probes = new ProbeRunner({
    probes: config.probes,
    families: families.probes,
    logger,
    now,
    random: deps.random,
    userAgent: `sidecar-monitor/${deps.version}`,
    env: deps.env,
  });
  let stopping = false;
  const { app: server, connections } = buildServer({
    logger,
    render: () => pipeline.render(),
    ready: () => !stopping,
    now,
  });
  return {
    server,
    connections,
    registry,
    pipeline,
    start: () => {
      probes.start();
    },
    stop: async () => {
      stopping = true;
      await Promise.all([probes.stop(), server.close()]);
    },
  };
}
