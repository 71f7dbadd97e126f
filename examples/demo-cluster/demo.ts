// The cluster demo against any API server you have admin access to: installs the CRD and
// the chart's RBAC, runs the operator under that ServiceAccount, applies the sample app
// and its SidecarMonitor from examples/, and shows what the operator did: the injected
// pod template and the monitor's status. main.ts starts a local control plane for it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { EXPORTER_CONTAINER } from '../../operator/api/constants.ts';
import type { SidecarMonitorStatus } from '../../operator/api/v1alpha1.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadAccess } from '../../operator/kube/kubeconfig.ts';
import {
  collectionPath,
  type KubeObject,
  NAMESPACES,
  objectPath,
} from '../../operator/kube/resources.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
export const DEMO_IMAGE = 'ghcr.io/sidecar-monitor/sidecar-monitor:0.1.0';

export interface DemoOptions {
  /** An admin kubeconfig. */
  kubeconfig: string;
  helm: string;
  kubeVersion: string;
  /** Namespace of the sample app (created). */
  namespace: string;
  /** Namespace of the operator's ServiceAccount and Lease (created). */
  operatorNamespace: string;
  /** Helm release name the RBAC is rendered for (default sidecar-monitor). */
  release?: string;
  /** Where progress and the results go. */
  print: (text: string) => void;
  timeoutMs?: number;
}

export interface Demo extends AsyncDisposable {
  operator: ChildProcess;
  /** The injected pod template of the sample app. */
  template: {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: Record<string, unknown>;
  };
  status: SidecarMonitorStatus;
}

interface Resource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const r = (
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced = true,
): Resource => ({
  group,
  version,
  kind,
  plural,
  namespaced,
});

const KNOWN: Record<string, Resource> = {
  CustomResourceDefinition: r(
    'apiextensions.k8s.io',
    'v1',
    'CustomResourceDefinition',
    'customresourcedefinitions',
    false,
  ),
  ServiceAccount: r('', 'v1', 'ServiceAccount', 'serviceaccounts'),
  ClusterRole: r('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', false),
  ClusterRoleBinding: r(
    'rbac.authorization.k8s.io',
    'v1',
    'ClusterRoleBinding',
    'clusterrolebindings',
    false,
  ),
  Role: r('rbac.authorization.k8s.io', 'v1', 'Role', 'roles'),
  RoleBinding: r('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings'),
  Deployment: r('apps', 'v1', 'Deployment', 'deployments'),
  SidecarMonitor: r('sidecarmonitor.io', 'v1alpha1', 'SidecarMonitor', 'sidecarmonitors'),
};

async function applyAll(
  client: KubeClient,
  objects: KubeObject[],
  namespace?: string,
): Promise<void> {
  for (const o of objects) {
    const res = KNOWN[o.kind ?? ''];
    if (!res) throw new Error(`the demo does not know kind ${o.kind ?? '?'}`);
    const ns = res.namespaced ? (o.metadata.namespace ?? namespace) : undefined;
    if (ns) o.metadata.namespace = ns;
    await client.apply(objectPath(res, ns, o.metadata.name), o, {
      fieldManager: 'sidecar-monitor-demo',
      force: true,
    });
  }
}

function documents(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

export async function runDemo(o: DemoOptions): Promise<Demo> {
  const timeoutMs = o.timeoutMs ?? 180_000;
  const client = KubeClient.fromAccess(await loadAccess(o.kubeconfig), {
    userAgent: 'sidecar-monitor-demo',
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'sidecar-monitor-demo-'));
  let operator: ChildProcess | undefined;
  const dispose = async (): Promise<void> => {
    if (operator && operator.exitCode === null) {
      const exited = new Promise((resolve) => operator?.once('exit', resolve));
      operator.kill('SIGTERM');
      await exited;
    }
    client.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    o.print("1. Installing the SidecarMonitor CRD and the chart's RBAC");
    await applyAll(
      client,
      documents(
        readFileSync(path.join(REPO, 'crds/sidecarmonitor.io_sidecarmonitors.yaml'), 'utf8'),
      ),
    );
    for (const ns of [o.operatorNamespace, o.namespace]) {
      await client
        .create(collectionPath(NAMESPACES), {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: ns },
        })
        .catch((err: unknown) => {
          if ((err as { kind?: string }).kind !== 'already-exists') throw err;
        });
    }
    const release = o.release ?? 'sidecar-monitor';
    const { stdout: rbac } = await promisify(execFile)(o.helm, [
      'template',
      release,
      path.join(REPO, 'charts/sidecar-monitor'),
      '--namespace',
      o.operatorNamespace,
      '--show-only',
      'templates/rbac.yaml',
      '--kube-version',
      o.kubeVersion,
      '--set',
      'serviceAccount.name=',
    ]);
    const rbacObjects = documents(rbac);
    await applyAll(client, rbacObjects, o.operatorNamespace);
    const sa = rbacObjects.find((x) => x.kind === 'ServiceAccount')?.metadata.name ?? release;

    // The operator acts as its ServiceAccount: the admin credentials impersonate it.
    const admin = parse(readFileSync(o.kubeconfig, 'utf8')) as {
      users: { user: Record<string, unknown> }[];
    };
    for (const u of admin.users) u.user.as = `system:serviceaccount:${o.operatorNamespace}:${sa}`;
    const operatorKubeconfig = path.join(dir, 'operator.kubeconfig');
    writeFileSync(operatorKubeconfig, stringify(admin), { mode: 0o600 });

    o.print(`2. Starting the operator as system:serviceaccount:${o.operatorNamespace}:${sa}`);
    operator = spawn(
      process.execPath,
      [
        path.join(REPO, 'bin/sidecar-monitor.ts'),
        'operator',
        '--kubeconfig',
        operatorKubeconfig,
        '--exporter-image',
        DEMO_IMAGE,
        '--leader-election-namespace',
        o.operatorNamespace,
        '--leader-election-id',
        sa,
        '--listen',
        '127.0.0.1:0',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const child = operator;
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        let l: { msg?: string; address?: string; kind?: string; name?: string };
        try {
          l = JSON.parse(line) as typeof l;
        } catch {
          return;
        }
        if (l.address) o.print(`   serving ${l.address}/metrics`);
        if (l.msg === 'caches synced; reconciling') resolve();
        if (l.msg?.startsWith('exporter '))
          o.print(`   operator: ${l.msg} (${l.kind ?? ''} ${l.name ?? ''})`);
      });
      child.once('exit', (code) => {
        reject(new Error(`the operator exited (${String(code)})`));
      });
    });

    o.print(
      `3. Applying examples/sample-app.yaml and examples/sidecarmonitor.yaml in namespace ${o.namespace}`,
    );
    await applyAll(
      client,
      documents(readFileSync(path.join(REPO, 'examples/sample-app.yaml'), 'utf8')),
      o.namespace,
    );
    await applyAll(
      client,
      documents(readFileSync(path.join(REPO, 'examples/sidecarmonitor.yaml'), 'utf8')),
      o.namespace,
    );

    const monitorPath = objectPath(KNOWN.SidecarMonitor!, o.namespace, 'sample-app');
    const status = await until('the monitor to be Ready', timeoutMs, async () => {
      const m = await client.get<{ status?: SidecarMonitorStatus }>(monitorPath);
      const ready = m.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' ? m.status : undefined;
    });
    const app = await client.get<{ spec: { template: Demo['template'] } }>(
      objectPath(KNOWN.Deployment!, o.namespace, 'sample-app'),
    );
    const template = app.spec.template;

    const spec = template.spec as {
      containers?: { name: string }[];
      initContainers?: { name: string }[];
    };
    const exporter = [...(spec.initContainers ?? []), ...(spec.containers ?? [])].find(
      (c) => c.name === EXPORTER_CONTAINER,
    );
    o.print('\n4. The injected pod template (what sidecar-monitor owns, by server-side apply):\n');
    o.print(
      stringify({
        metadata: template.metadata,
        shareProcessNamespace: (spec as { shareProcessNamespace?: boolean }).shareProcessNamespace,
        [spec.initContainers?.some((c) => c.name === EXPORTER_CONTAINER)
          ? 'initContainers (native sidecar)'
          : 'containers']: [exporter],
      }),
    );
    o.print("5. The SidecarMonitor's status:\n");
    o.print(stringify(status));
    return {
      operator,
      template,
      status,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}
