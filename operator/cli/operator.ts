// `sidecar-monitor operator`: parse flags, connect, serve /metrics /healthz /readyz,
// run the manager until SIGTERM (releasing the lease), exit non-zero when leadership
// was lost so the pod restarts clean.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pino from 'pino';
import { ensureNodeFlags } from '../../exporter/runtime-flags.ts';
import { DEFAULT_EXPORTER_RESOURCES } from '../api/constants.ts';
import { systemClock } from '../runtime/clock.ts';
import { FlagError, parseOperatorFlags, USAGE } from './flags.ts';
import { KubeClient } from '../kube/client.ts';
import { type KubeAccess, loadAccess } from '../kube/kubeconfig.ts';
import { rateLimiter } from '../kube/throttle.ts';
import { Manager, StartupError } from '../manager/manager.ts';
import { createMetrics } from '../manager/metrics.ts';
import { buildServer } from '../manager/server.ts';
import { readVersion } from './version.ts';

/**
 * Node's default young generation grows to 64 MB semi-spaces, which a list of thousands of
 * workloads fills at once: capped, and with smaller old-generation steps, the operator's
 * RSS follows its caches (README, benchmarks). The optimizing compilers stay: reconciles
 * are JavaScript-bound.
 */
export const OPERATOR_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=4',
  '--optimize-for-size',
];

export async function main(argv: string[]): Promise<number> {
  ensureNodeFlags(OPERATOR_NODE_FLAGS);
  const flags = parseOperatorFlags(argv, process.env);
  if (flags instanceof FlagError) {
    console.error(`sidecar-monitor operator: ${flags.message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const logger = pino({ level: flags.logLevel, base: { component: 'operator' } });
  const version = await readVersion();
  const metrics = createMetrics(version);
  let access: KubeAccess;
  try {
    access = await loadAccess(flags.kubeconfig, flags.context ? { context: flags.context } : {});
  } catch (err) {
    console.error(`sidecar-monitor operator: ${(err as Error).message}`);
    return 2;
  }
  const clientOptions = {
    userAgent: `sidecar-monitor-operator/${version}`,
    observe: (method: string, code: number | 'error', seconds: number) => {
      metrics.apiRequests.inc({ method, code: String(code) });
      metrics.apiRequestDuration.observe({ method }, seconds);
    },
  };
  const client = KubeClient.fromAccess(access, {
    ...clientOptions,
    limiter: rateLimiter(flags.kubeApiQps, flags.kubeApiBurst, systemClock),
  });
  // Events get a token bucket of their own, as controller-runtime's recorder (its own
  // client from the same config): a burst of Events never delays the injections.
  const eventClient = client.withOptions({
    ...clientOptions,
    limiter: rateLimiter(flags.kubeApiQps, flags.kubeApiBurst, systemClock),
  });
  const identity = flags.identity ?? `${hostname()}_${randomUUID().slice(0, 8)}`;
  const manager = new Manager({
    flags,
    client,
    eventClient,
    clock: systemClock,
    logger,
    metrics,
    identity,
    defaults: {
      exporterImage: flags.exporterImage,
      allowedExporterImages: flags.allowedExporterImages,
      exporterResources: {
        requests: { ...DEFAULT_EXPORTER_RESOURCES.requests },
        limits: { ...DEFAULT_EXPORTER_RESOURCES.limits },
      },
    },
  });
  const server = buildServer({ registry: metrics.registry, ready: () => manager.ready() });
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'shutting down');
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const address = await server.listen({ host: flags.listen.host, port: flags.listen.port });
    logger.info(
      {
        address,
        version,
        identity,
        apiServer: access.server.origin,
        credentials: access.source,
        ...(client.proxy ? { proxy: client.proxy.origin } : {}),
      },
      'serving /metrics, /healthz, /readyz',
    );
    const result = await manager.run(stop.signal);
    if (result === 'lost' || result === 'failed') {
      logger.error({ result }, 'leadership ended unexpectedly; exiting so the pod restarts');
      return 1;
    }
    return 0;
  } catch (err) {
    if (err instanceof StartupError) {
      logger.fatal({ err: err.message }, 'refusing to start');
      console.error(`sidecar-monitor operator: ${err.message}`);
      return 1;
    }
    logger.fatal({ err }, 'operator failed');
    return 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await server.close();
    client.close();
  }
}
