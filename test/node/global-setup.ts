// vitest global setup of the `e2e` project: the images built from this checkout's
// Dockerfile, a control plane and one real node (kubelet + containerd + runc) running
// them. Test files reach it through test/cluster/harness.ts (the same API as the
// `cluster` project) and `info.realNode`.
//
// Teardown stops everything and fails the run if the host is not as it was found
// (sysctls, netfilter tables, links, mounts, cgroups, fixed paths).
import pino from 'pino';
import type { TestProject } from 'vitest/node';
import { resolveBinaries } from '../cluster/binaries.ts';
import { startControlEndpoint } from '../cluster/control-server.ts';
import { provideCluster } from '../cluster/provide.ts';
import { buildImages } from '../images/build.ts';
import { nodeImages, NODE_IMAGES } from './images.ts';
import { resolveStackBinaries } from '../stack/binaries.ts';
import { buildStackImages, STACK_IMAGES } from '../stack/images.ts';
import { startRealNodeCluster } from './real-node.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const logger = pino(
    { name: 'e2e', level: process.env.SIDECAR_MONITOR_CLUSTER_LOG ?? 'info' },
    pino.destination(2),
  );
  const binaries = await resolveBinaries({
    env: process.env,
    onProgress: (line) => {
      logger.info({ build: line }, 'building Kubernetes and node binaries');
    },
  });
  // Prometheus 3 and prometheus-operator, as users run them (build-prometheus.sh).
  const stack = await resolveStackBinaries({
    env: process.env,
    onProgress: (line) => {
      logger.info({ build: line }, 'building Prometheus 3 and prometheus-operator');
    },
  });
  const archives = await buildImages({ logger });
  const node = await startRealNodeCluster({
    binaries,
    logger,
    images: [...nodeImages(archives), ...buildStackImages(stack)],
  });
  const cluster = node.controlPlane;
  const destroyNow = (): void => {
    node.destroyNow();
  };
  process.on('exit', destroyNow);
  let endpoint;
  try {
    endpoint = await startControlEndpoint(cluster, logger);
  } catch (error) {
    process.off('exit', destroyNow);
    await node.stop();
    throw error;
  }

  const restore = provideCluster(project, cluster, binaries, endpoint, {
    realNode: {
      name: node.nodeName,
      dir: node.nodeDir,
      cgroupRoot: node.cgroupRoot,
      containerdSocket: node.containerdSocket,
      podCidr: node.network.cidr,
      gateway: node.network.gateway,
      bridge: node.network.bridge,
      images: { ...NODE_IMAGES, ...STACK_IMAGES },
    },
    stack,
  });

  return async () => {
    restore();
    await endpoint.close();
    const diff = await node.stop();
    process.off('exit', destroyNow);
    if (diff.length > 0) {
      throw new Error(`the real node left the host changed:\n  ${diff.join('\n  ')}`);
    }
    logger.info('real node stopped; the host is as it was found');
  };
}
