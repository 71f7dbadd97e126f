// The operator as the chart runs it, but as a local process (there is no kubelet): the
// container args of the installed Deployment, the env its fieldRefs would give, and a
// kubeconfig that impersonates the chart's ServiceAccount, so the chart's RBAC applies.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { KubeObject } from '../../cluster/harness.ts';
import type { DeploymentSpec } from './chart.ts';
import { reapOnExit } from '../../support/reap.ts';

const REPO = path.resolve(import.meta.dirname, '../../..');

export interface OperatorProcess extends AsyncDisposable {
  /** http://127.0.0.1:<port> of /metrics, /healthz, /readyz. */
  readonly url: string;
  readonly args: readonly string[];
  output(): string;
  stop(): Promise<number | null>;
}

export interface FromDeploymentOptions {
  readonly deployment: KubeObject;
  /** The impersonating kubeconfig of the chart's ServiceAccount. */
  readonly kubeconfigPath: string;
  readonly podName: string;
}

/** Runs `sidecar-monitor operator` with the Deployment's args; resolves once /readyz says 200. */
export async function operatorFromDeployment(
  options: FromDeploymentOptions,
): Promise<OperatorProcess> {
  const spec = options.deployment.spec as DeploymentSpec;
  const container = spec.template.spec.containers.find((c) => c.name === 'operator');
  if (!container?.args) throw new Error('the Deployment has no operator container with args');
  const [command, ...chartArgs] = container.args;
  // Only what a pod would get differently: where to listen and how to reach the API server.
  const args = [
    command!,
    ...chartArgs.filter((a) => !a.startsWith('--listen=')),
    '--listen=127.0.0.1:0',
    `--kubeconfig=${options.kubeconfigPath}`,
  ];
  const child = spawn(process.execPath, [path.join(REPO, 'bin', 'sidecar-monitor.ts'), ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      KUBECONFIG: options.kubeconfigPath,
      POD_NAME: options.podName,
      POD_NAMESPACE: options.deployment.metadata.namespace,
    },
  });
  reapOnExit(child);
  let output = '';
  let address: string | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    output += `${line}\n`;
    try {
      const entry = JSON.parse(line) as { address?: unknown };
      if (typeof entry.address === 'string') address = entry.address;
    } catch {
      // not a log line of ours
    }
  });
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));

  const stop = async (): Promise<number | null> => {
    if (exitCode === undefined) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`the operator exited with ${exitCode}:\n${output.slice(-4000)}`);
    }
    if (address !== undefined) {
      const ready = await fetch(`${address}/readyz`).catch(() => undefined);
      if (ready?.status === 200) break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the operator never became ready:\n${output.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const url = address;
  return {
    url,
    args,
    output: () => output,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
