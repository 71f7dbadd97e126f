// A real node with every image the stack needs imported (ours from the Dockerfile,
// Prometheus 3 and prometheus-operator from their static binaries), for the benchmark and
// the demo; the e2e project's global setup does the same for the tests.
import type { Logger } from 'pino';
import { resolveBinaries, type Binaries } from '../cluster/binaries.ts';
import { buildImages } from '../images/build.ts';
import { nodeImages } from '../node/images.ts';
import { startRealNodeCluster, type RealNodeCluster } from '../node/real-node.ts';
import { resolveStackBinaries, type StackBinaries } from './binaries.ts';
import { buildStackImages } from './images.ts';
import { kubectlRunner, type Kubectl } from './install.ts';

export interface StackNode {
  readonly node: RealNodeCluster;
  readonly binaries: Binaries;
  readonly stack: StackBinaries;
  readonly kubectl: Kubectl;
}

export async function startStackNode(options: {
  readonly logger: Logger;
  readonly onProgress?: (line: string) => void;
}): Promise<StackNode> {
  const { logger } = options;
  const onProgress =
    options.onProgress ??
    ((line: string) => {
      logger.info({ build: line }, 'building');
    });
  const binaries = await resolveBinaries({ env: process.env, onProgress });
  const stack = await resolveStackBinaries({ env: process.env, onProgress });
  const archives = await buildImages({ logger });
  const node = await startRealNodeCluster({
    binaries,
    logger,
    images: [...nodeImages(archives), ...buildStackImages(stack)],
  });
  const kubectl = kubectlRunner(binaries.paths.kubectl, node.controlPlane.kubeconfigPath);
  return { node, binaries, stack, kubectl };
}
