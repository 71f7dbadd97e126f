// `npm run demo:cluster`: a local Kubernetes control plane (etcd, kube-apiserver,
// controller manager, scheduler, kwok fake Nodes that make Pods Ready), the operator
// under the chart's RBAC, and the sample app with its SidecarMonitor. Prints the injected
// pod template and the monitor's status, then keeps everything running for kubectl until
// Ctrl-C (or exits at once with --once).
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { resolveBinaries } from '../../test/cluster/binaries.ts';
import { type ControlPlane, startControlPlane } from '../../test/cluster/control-plane.ts';
import { runDemo } from './demo.ts';
import { runRealNodeDemo } from './real-node.ts';

const USAGE = `usage: npm run demo:cluster [-- --once] [-- --real-node]

Starts a local control plane (Kubernetes binaries are built once from Go modules into
~/.cache/sidecar-monitor the first time: that takes a while), runs the operator, applies
examples/sample-app.yaml and examples/sidecarmonitor.yaml, and shows the result.

With --real-node (root): the whole stack on one real node (kubelet, containerd, runc): the
chart's operator from the image built here, prometheus-operator and Prometheus 3 (built from
their Go modules the first time), the sample app and its monitor; prints
\`prometheus: http://127.0.0.1:<port>\` once Prometheus scrapes the sample app's exporters.

flags:
  --once        exit after showing the result instead of waiting for Ctrl-C
  --real-node   the whole stack on a real node (see above)
  -h, --help`;

export async function main(argv: string[]): Promise<number> {
  let once: boolean;
  let realNode: boolean;
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        once: { type: 'boolean', default: false },
        'real-node': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    once = values.once;
    realNode = values['real-node'];
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (realNode) return runWithSignals((stopped) => runRealNodeDemo({ once, stopped }));
  const logger = pino({ name: 'demo', level: 'warn' }, pino.destination(2));
  const binaries = await resolveBinaries({
    env: process.env,
    onProgress: (line) => {
      console.error(line);
    },
  });
  const helm = binaries.paths.helm;
  if (!helm) {
    console.error(
      'the demo needs helm (built with the other binaries by test/cluster/build-binaries.sh)',
    );
    return 1;
  }
  let cluster: ControlPlane | undefined;
  const destroyNow = (): void => {
    cluster?.destroyNow();
  };
  process.on('exit', destroyNow);
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const onSignal = (): void => {
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    console.log('Starting a local Kubernetes control plane...');
    cluster = await startControlPlane({ binaries, logger, fakeNodes: 2 });
    console.log(
      `Kubernetes ${cluster.kubeVersion} ready in ${(cluster.timings.totalMs / 1000).toFixed(1)} s\n`,
    );
    await using demo = await runDemo({
      kubeconfig: cluster.kubeconfigPath,
      helm,
      kubeVersion: cluster.kubeVersion,
      namespace: 'demo',
      operatorNamespace: 'sidecar-monitor',
      print: (text) => {
        console.log(text);
      },
    });
    console.log(
      `The operator injected ${demo.status.injectedWorkloads ?? 0} of ${demo.status.matchedWorkloads ?? 0} matched workload(s).`,
    );
    if (once) return 0;
    const bin = path.dirname(binaries.paths.kubectl);
    console.log(
      [
        'Everything keeps running. In another terminal:',
        `  export KUBECONFIG=${cluster.kubeconfigPath} PATH=${bin}:$PATH`,
        '  kubectl get smon,deploy,pods -n demo',
        '  kubectl describe smon -n demo sample-app',
        '  kubectl get events -n demo --field-selector reason=Injected',
        'Ctrl-C stops everything and removes every file it made.',
      ].join('\n'),
    );
    const keepAlive = setInterval(() => undefined, 1 << 30);
    await stopped;
    clearInterval(keepAlive);
    return 0;
  } catch (err) {
    console.error(`demo failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await cluster?.stop();
    process.off('exit', destroyNow);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Runs `body` with a promise that resolves on SIGINT or SIGTERM. */
async function runWithSignals(body: (stopped: Promise<void>) => Promise<number>): Promise<number> {
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const onSignal = (): void => {
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await body(stopped);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
