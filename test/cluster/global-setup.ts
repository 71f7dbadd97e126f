// vitest global setup of the `cluster` project: one control plane for every test file of
// test/cluster, test/operator and test/chart (files run one after another). Test files
// reach it through ./harness.ts.
//
// Teardown: the returned function stops everything gracefully. When vitest exits without
// calling it (Ctrl-C, SIGTERM: vitest calls process.exit), the 'exit' handler SIGKILLs
// every component and removes the directory synchronously; when this process is killed
// outright, the kernel kills the components (parent-death signal) and the next start
// sweeps the directory.
import pino from 'pino';
import type { TestProject } from 'vitest/node';
import { resolveBinaries } from './binaries.ts';
import { startControlEndpoint } from './control-server.ts';
import { startControlPlane } from './control-plane.ts';
import { provideCluster } from './provide.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const logger = pino(
    { name: 'cluster', level: process.env.SIDECAR_MONITOR_CLUSTER_LOG ?? 'info' },
    pino.destination(2),
  );
  const binaries = await resolveBinaries({
    env: process.env,
    onProgress: (line) => {
      logger.info({ build: line }, 'building control-plane binaries');
    },
  });
  const cluster = await startControlPlane({ binaries, logger });
  const destroyNow = (): void => {
    cluster.destroyNow();
  };
  process.on('exit', destroyNow);
  let endpoint;
  try {
    endpoint = await startControlEndpoint(cluster, logger);
  } catch (error) {
    process.off('exit', destroyNow);
    await cluster.stop();
    throw error;
  }

  const restore = provideCluster(project, cluster, binaries, endpoint);

  return async () => {
    restore();
    await endpoint.close();
    await cluster.stop();
    process.off('exit', destroyNow);
  };
}
