// `npm run cluster`: the test control plane, kept running for a person to use with kubectl
// and helm (or to run the operator against). Prints the KUBECONFIG line to export; Ctrl-C
// stops everything and removes every file it made.
import { copyFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { resolveBinaries } from './binaries.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { buildImages } from '../images/build.ts';
import { nodeImages } from '../node/images.ts';
import { startRealNodeCluster, type RealNodeCluster } from '../node/real-node.ts';

const USAGE = `usage: npm run cluster -- [flags]

Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake Nodes
whose Pods become Ready) on loopback, and waits for Ctrl-C.

With --real-node (root): builds localhost/sidecar-monitor:dev and localhost/sample-app:dev
from this checkout's Dockerfile, and runs them on a real node (kubelet, containerd, runc,
a CNI bridge of its own with no route off the machine) instead of fake ones.

flags:
  --real-node                a real node (kwok Nodes beside it, if any, are tainted NoSchedule)
  --nodes N                  kwok Nodes to create (default 3; 0 with --real-node)
  --no-kwok                  no kwok and no Nodes: Pods stay Pending
  --no-scheduler             no kube-scheduler
  --no-controller-manager    no kube-controller-manager: Deployments get no Pods
  --kubeconfig PATH          also write the admin kubeconfig to PATH (removed on exit)
  --log-level LEVEL          debug, info (default), warn, error
  -h, --help`;

export async function main(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        nodes: { type: 'string' },
        'real-node': { type: 'boolean', default: false },
        'no-kwok': { type: 'boolean', default: false },
        'no-scheduler': { type: 'boolean', default: false },
        'no-controller-manager': { type: 'boolean', default: false },
        kubeconfig: { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const realNode = values['real-node'];
  const nodes = Number(values.nodes ?? (realNode ? '0' : '3'));
  if (!Number.isInteger(nodes) || nodes < 0 || nodes > 1000) {
    console.error(
      `--nodes must be an integer from 0 to 1000, not "${String(values.nodes)}"\n\n${USAGE}`,
    );
    return 2;
  }

  const logger = pino({ name: 'cluster', level: values['log-level'] }, pino.destination(2));
  const binaries = await resolveBinaries({
    env: process.env,
    onProgress: (line) => {
      console.error(line);
    },
  });

  // Settles with the exit code once something asks us to stop.
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let cluster: ControlPlane | undefined;
  let node: RealNodeCluster | undefined;
  let extraKubeconfig: string | undefined;
  const destroyNow = (): void => {
    if (node !== undefined) node.destroyNow();
    else cluster?.destroyNow();
    if (extraKubeconfig !== undefined) rmSync(extraKubeconfig, { force: true });
  };
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      // A second Ctrl-C: no more waiting for graceful shutdowns.
      destroyNow();
      process.exit(130);
    }
    logger.info({ signal }, 'stopping the control plane (Ctrl-C again to kill it at once)');
    finish(0);
  };
  process.on('exit', destroyNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

  try {
    if (realNode) {
      const archives = await buildImages({ logger });
      node = await startRealNodeCluster({
        binaries,
        logger,
        images: nodeImages(archives),
        fakeNodes: values['no-kwok'] ? 0 : nodes,
      });
      cluster = node.controlPlane;
    } else {
      cluster = await startControlPlane({
        binaries,
        logger,
        kwok: !values['no-kwok'],
        scheduler: !values['no-scheduler'],
        controllerManager: !values['no-controller-manager'],
        fakeNodes: nodes,
        onUnexpectedExit: (component) => {
          logger.error({ component }, 'a control-plane component died; stopping');
          finish(1);
        },
      });
    }
    let kubeconfig = cluster.kubeconfigPath;
    if (values.kubeconfig !== undefined) {
      extraKubeconfig = path.resolve(values.kubeconfig);
      copyFileSync(cluster.kubeconfigPath, extraKubeconfig);
      kubeconfig = extraKubeconfig;
    }
    const binDir = path.dirname(binaries.paths['kube-apiserver']);
    console.log(
      [
        '',
        `Kubernetes ${cluster.kubeVersion} is ready in ${(cluster.timings.totalMs / 1000).toFixed(1)} s ` +
          `(${cluster.components.join(', ')}; ${cluster.fakeNodes.length} kwok Nodes` +
          `${node === undefined ? '' : `; real node ${node.nodeName}, pods on ${node.network.cidr}`}).`,
        '',
        `  export KUBECONFIG=${kubeconfig}`,
        `  export PATH=${binDir}:$PATH   # kubectl and helm of the same version`,
        '  kubectl get nodes',
        '',
        `API server ${cluster.server}; component logs in ${cluster.dir}/*.log`,
        'Ctrl-C stops it and removes everything.',
        '',
      ].join('\n'),
    );
    // Signal handlers and unref'd children do not keep Node's event loop alive.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    try {
      return await finished;
    } finally {
      clearInterval(keepAlive);
    }
  } finally {
    if (node !== undefined) {
      const diff = await node.stop();
      if (diff.length > 0) console.error(`the host differs from before:\n  ${diff.join('\n  ')}`);
    } else {
      await cluster?.stop();
    }
    if (extraKubeconfig !== undefined) rmSync(extraKubeconfig, { force: true });
    process.off('exit', destroyNow);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, onSignal);
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
