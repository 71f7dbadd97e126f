// Installs the monitoring stack (test/stack/manifests.ts) on a cluster with a real node, as
// a user would with kubectl: prometheus-operator's CRDs (server-side: the Prometheus CRD
// is too large for client-side apply's annotation), the operator, one Prometheus; waits
// until Prometheus 3 answers on its pod IP (the host routes to the pod network).
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { KubeObject } from '../cluster/rest.ts';
import {
  OPERATOR_NAME,
  operatorObjects,
  PROMETHEUS_POD,
  prometheusObjects,
  STACK_NAMESPACE,
  type StackOptions,
} from './manifests.ts';

const execFileAsync = promisify(execFile);

export interface Kubectl {
  (args: readonly string[], stdin?: string): Promise<string>;
}

/** kubectl with a fixed kubeconfig; stdin for `apply -f -`. */
export function kubectlRunner(kubectl: string, kubeconfig: string): Kubectl {
  return async (args, stdin) => {
    const child = execFileAsync(kubectl, ['--kubeconfig', kubeconfig, ...args], {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    });
    if (stdin !== undefined) {
      child.child.stdin?.end(stdin);
    }
    try {
      return (await child).stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`kubectl ${args.join(' ')}: ${e.stderr ?? e.message}`, { cause: err });
    }
  };
}

export interface InstalledStack {
  /** Prometheus 3's HTTP API on its pod IP. */
  readonly url: string;
  readonly podIP: string;
}

const applyList = (kubectl: Kubectl, objects: readonly KubeObject[]): Promise<string> =>
  kubectl(
    ['apply', '--server-side', '--force-conflicts', '--field-manager=smon-stack', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  );

export async function installCrds(kubectl: Kubectl, crdDir: string): Promise<void> {
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', crdDir]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', crdDir]);
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${String(timeoutMs / 1000)} s waiting for ${what}`, {
        cause: last,
      });
    }
    await sleep(1000);
  }
}

export async function installStack(
  kubectl: Kubectl,
  crdDir: string,
  options: StackOptions & { readonly timeoutMs?: number },
): Promise<InstalledStack> {
  const timeoutMs = options.timeoutMs ?? 180_000;
  await installCrds(kubectl, crdDir);
  await applyList(kubectl, operatorObjects());
  await kubectl([
    'rollout',
    'status',
    `deployment/${OPERATOR_NAME}`,
    '-n',
    STACK_NAMESPACE,
    `--timeout=${String(Math.round(timeoutMs / 1000))}s`,
  ]);
  await applyList(kubectl, prometheusObjects(options));
  const podIP = await waitFor(
    `${STACK_NAMESPACE}/${PROMETHEUS_POD} to be Ready`,
    timeoutMs,
    async () => {
      const pod = JSON.parse(
        await kubectl(['get', 'pod', '-n', STACK_NAMESPACE, PROMETHEUS_POD, '-o', 'json']),
      ) as {
        status?: { podIP?: string; conditions?: { type: string; status: string }[] };
      };
      const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return ready === true ? pod.status?.podIP : undefined;
    },
  );
  const url = `http://${podIP}:9090`;
  await waitFor('Prometheus to be ready', 60_000, async () => {
    const res = await fetch(`${url}/-/ready`);
    return res.ok ? true : undefined;
  });
  return {
    url,
    podIP,
  };
}

/** Removes the Prometheus, the operator, their RBAC and namespace (the CRDs stay). */
export async function uninstallStack(kubectl: Kubectl): Promise<void> {
  await kubectl([
    'delete',
    'prometheus',
    '--all',
    '-n',
    STACK_NAMESPACE,
    '--wait=true',
    '--ignore-not-found',
  ]).catch(() => undefined);
  await kubectl(['delete', 'namespace', STACK_NAMESPACE, '--wait=false', '--ignore-not-found']);
  await kubectl([
    'delete',
    'clusterrole,clusterrolebinding',
    OPERATOR_NAME,
    'prometheus',
    '--ignore-not-found',
  ]);
}
