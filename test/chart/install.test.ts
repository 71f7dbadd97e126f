// The chart on the real control plane: `helm install`, `helm upgrade` and `helm uninstall`
// (no --wait: without a kubelet the chart's own pod never runs), with the operator run as
// a local process from the installed Deployment's args under the chart's ServiceAccount
// and RBAC, reconciling a monitor end to end. Both uninstall paths of the README leave no
// injected workload: delete the monitors first (their finalizers remove every injection),
// or uninstall first and run `sidecar-monitor cleanup`.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CRD_REVISION_ANNOTATION,
  EXPORTER_CONTAINER,
  HASH_ANNOTATION,
  MONITOR_LABEL,
} from '../../operator/api/constants.ts';
import { testCluster, type KubeObject, type TestNamespace } from '../cluster/harness.ts';
import { CHART_DIR, withValuesFile, type DeploymentSpec } from './support/chart.ts';
import { releaseNamespaces } from './support/cleanup.ts';
import { operatorFromDeployment, type OperatorProcess } from './support/operator-process.ts';

const cluster = testCluster();
const CLI = path.resolve(import.meta.dirname, '../../bin/sidecar-monitor.ts');
const RELEASE = 'smon';
const FULLNAME = `${RELEASE}-sidecar-monitor`;
const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  name: 'sidecarmonitors.sidecarmonitor.io',
};

function workload(namespace: string, name: string, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          securityContext: { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true },
          containers: [
            {
              name: 'app',
              image: 'nginx:1.27',
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' } },
              resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '128Mi' } },
            },
          ],
        },
      },
    },
  };
}

function monitor(namespace: string): KubeObject {
  return {
    apiVersion: 'sidecarmonitor.io/v1alpha1',
    kind: 'SidecarMonitor',
    metadata: { name: 'web', namespace },
    spec: { selector: { matchLabels: { tier: 'web' } } },
  };
}

interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    containers: { name: string; image: string }[];
    initContainers?: { name: string; image: string }[];
  };
}

function exporterOf(d: KubeObject): { name: string; image: string } | undefined {
  const t = (d.spec as { template: PodTemplate }).template;
  return [...t.spec.containers, ...(t.spec.initContainers ?? [])].find(
    (c) => c.name === EXPORTER_CONTAINER,
  );
}

const deploymentRef = (namespace: string, name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  namespace,
  name,
});

async function helm(args: readonly string[], values: Record<string, unknown>): Promise<string> {
  return withValuesFile(values, async (file) => {
    const r = await cluster.helm([...args, '-f', file]);
    return r.stdout;
  });
}

describe('helm install, upgrade and uninstall with the operator reconciling', () => {
  let releaseNs: TestNamespace;
  let appNs: TestNamespace;
  let operator: OperatorProcess | undefined;
  let installed = false;

  const chartDeployment = () => cluster.get(deploymentRef(releaseNs.name, FULLNAME));
  const startOperator = async (podName: string): Promise<OperatorProcess> => {
    const identity = cluster.impersonate({ namespace: releaseNs.name, name: FULLNAME });
    return operatorFromDeployment({
      deployment: await chartDeployment(),
      kubeconfigPath: identity.kubeconfigPath,
      podName,
    });
  };

  beforeAll(async () => {
    releaseNs = await cluster.namespace('smon-chart');
    appNs = await cluster.namespace('smon-app');
  });

  afterAll(async () => {
    await operator?.stop();
    if (installed) {
      await cluster.helm(['uninstall', RELEASE, '-n', releaseNs.name], { allowFailure: true });
    }
    await releaseNamespaces(cluster, [appNs.name]);
    await Promise.all([releaseNs.delete(), appNs.delete()]);
  });

  it('installs without --wait: the CRD is established and every object of the release exists', async () => {
    const out = await helm(['install', RELEASE, CHART_DIR, '-n', releaseNs.name], {});
    installed = true;
    expect(out).toContain('STATUS: deployed');
    expect(out).toContain('kubectl delete sidecarmonitors --all --all-namespaces --wait');
    await cluster.waitForCondition(CRD, 'Established');
    const status = await cluster.helm(['status', RELEASE, '-n', releaseNs.name, '-o', 'json']);
    expect((JSON.parse(status.stdout) as { info: { status: string } }).info.status).toBe(
      'deployed',
    );
    const d = await chartDeployment();
    expect((d.spec as DeploymentSpec).template.spec.serviceAccountName).toBe(FULLNAME);
    await cluster.get({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      namespace: releaseNs.name,
      name: FULLNAME,
    });
    await cluster.get({
      apiVersion: 'v1',
      kind: 'Service',
      namespace: releaseNs.name,
      name: `${FULLNAME}-metrics`,
    });
    const dashboards = await cluster.list(
      { apiVersion: 'v1', kind: 'ConfigMap', namespace: releaseNs.name },
      { labelSelector: 'grafana_dashboard=1' },
    );
    expect(dashboards.length).toBe(4);
    expect(
      await cluster.tryGet({
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        namespace: releaseNs.name,
        name: FULLNAME,
      }),
    ).toBeUndefined();
  });

  it("runs as the installed Deployment says, under the chart's ServiceAccount, and takes the Lease", async () => {
    operator = await startOperator('smon-operator-0');
    const lease = await cluster.waitForObject(
      {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        namespace: releaseNs.name,
        name: FULLNAME,
      },
      (l) => (l.spec as { holderIdentity?: string }).holderIdentity === 'smon-operator-0',
    );
    expect(lease.metadata.name).toBe(FULLNAME);
  });

  it('reconciles a monitor end to end: the workload gets the exporter, the monitor is Ready', async () => {
    await cluster.apply(workload(appNs.name, 'web', { tier: 'web' }));
    await cluster.apply(workload(appNs.name, 'batch', { tier: 'batch' }));
    await cluster.apply(monitor(appNs.name));
    const web = await cluster.waitForObject(
      deploymentRef(appNs.name, 'web'),
      (d) => exporterOf(d) !== undefined,
      { description: 'the exporter injected into web' },
    );
    const spec = (await chartDeployment()).spec as DeploymentSpec;
    expect(exporterOf(web)?.image).toBe(spec.template.spec.containers[0]!.image);
    const template = (web.spec as { template: PodTemplate }).template;
    expect(template.metadata.labels?.[MONITOR_LABEL]).toBe('web');
    expect(template.metadata.annotations?.[HASH_ANNOTATION]).toBeTruthy();
    await cluster.waitForCondition(
      {
        apiVersion: 'sidecarmonitor.io/v1alpha1',
        kind: 'SidecarMonitor',
        namespace: appNs.name,
        name: 'web',
      },
      'Ready',
    );
    // The workload the selector does not match stays as it was.
    expect(exporterOf(await cluster.get(deploymentRef(appNs.name, 'batch')))).toBeUndefined();
  });

  it('upgrades: a PDB with 2 replicas, RBAC narrowed to the watched namespace, and the restarted operator still reconciles', async () => {
    const out = await helm(['upgrade', RELEASE, CHART_DIR, '-n', releaseNs.name], {
      replicaCount: 2,
      watchNamespaces: [appNs.name],
      logLevel: 'debug',
    });
    expect(out).toContain('STATUS: deployed');
    expect(out).toContain('REVISION: 2');
    await cluster.get({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      namespace: releaseNs.name,
      name: FULLNAME,
    });
    await cluster.get({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      namespace: appNs.name,
      name: `${FULLNAME}-workloads`,
    });
    expect(
      await cluster.tryGet({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        name: `${FULLNAME}-workloads`,
      }),
    ).toBeUndefined();
    // A new operator pod: stop the old one (it releases the Lease), start from the new args.
    expect(await operator!.stop()).toBe(0);
    operator = await startOperator('smon-operator-1');
    expect(operator.args).toContain(`--namespace=${appNs.name}`);
    expect(operator.args).toContain('--log-level=debug');
    await cluster.apply(workload(appNs.name, 'api', { tier: 'web' }));
    await cluster.waitForObject(
      deploymentRef(appNs.name, 'api'),
      (d) => exporterOf(d) !== undefined,
      { description: 'the exporter injected into api under namespace-scoped RBAC' },
    );
  });

  it('uninstalls as the README says: delete the monitors, then helm uninstall; nothing injected remains', async () => {
    // The README's command with --all-namespaces narrowed to this test's namespace: the
    // cluster is shared, and another file's leftovers must not decide this test.
    await cluster.kubectl(
      ['delete', 'sidecarmonitors', '--all', '-n', appNs.name, '--wait', '--timeout=120s'],
      { timeoutMs: 150_000 },
    );
    for (const name of ['web', 'api', 'batch']) {
      const d = await cluster.get(deploymentRef(appNs.name, name));
      expect(exporterOf(d), name).toBeUndefined();
      const template = (d.spec as { template: PodTemplate }).template;
      expect(template.metadata.annotations?.[HASH_ANNOTATION], name).toBeUndefined();
      expect(template.metadata.labels?.[MONITOR_LABEL], name).toBeUndefined();
    }
    expect(await operator!.stop()).toBe(0);
    operator = undefined;
    const out = await cluster.helm(['uninstall', RELEASE, '-n', releaseNs.name]);
    installed = false;
    expect(out.stdout).toContain('uninstalled');
    await cluster.waitForDeletion(deploymentRef(releaseNs.name, FULLNAME));
    for (const kind of ['ClusterRole', 'ClusterRoleBinding']) {
      const left = await cluster.list(
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind },
        { labelSelector: `app.kubernetes.io/instance=${RELEASE}` },
      );
      expect(left.map((o) => o.metadata.name)).toEqual([]);
    }
    // Helm never deletes (nor upgrades) what it installed from crds/.
    await cluster.get(CRD);
  });
});

describe('helm uninstall first, then `sidecar-monitor cleanup` (the README command)', () => {
  const release = 'smon-gone';
  const fullname = `${release}-sidecar-monitor`;
  let releaseNs: TestNamespace;
  let appNs: TestNamespace;
  let operator: OperatorProcess | undefined;
  let installed = false;

  beforeAll(async () => {
    releaseNs = await cluster.namespace('smon-gone');
    appNs = await cluster.namespace('smon-gone-app');
    await cluster.helm(['install', release, CHART_DIR, '-n', releaseNs.name]);
    installed = true;
    operator = await operatorFromDeployment({
      deployment: await cluster.get(deploymentRef(releaseNs.name, fullname)),
      kubeconfigPath: cluster.impersonate({ namespace: releaseNs.name, name: fullname })
        .kubeconfigPath,
      podName: `${fullname}-0`,
    });
    await cluster.apply(workload(appNs.name, 'web', { tier: 'web' }));
    await cluster.apply(monitor(appNs.name));
    await cluster.waitForObject(
      deploymentRef(appNs.name, 'web'),
      (d) => exporterOf(d) !== undefined,
      {
        description: 'the exporter injected into web',
      },
    );
  });

  afterAll(async () => {
    await operator?.stop();
    if (installed) {
      await cluster.helm(['uninstall', release, '-n', releaseNs.name], { allowFailure: true });
    }
    await releaseNamespaces(cluster, [appNs.name]);
    await Promise.all([releaseNs.delete(), appNs.delete()]);
  });

  it('leaves the injected workload behind on a bare uninstall', async () => {
    expect(await operator!.stop()).toBe(0);
    operator = undefined;
    await cluster.helm(['uninstall', release, '-n', releaseNs.name]);
    installed = false;
    expect(exporterOf(await cluster.get(deploymentRef(appNs.name, 'web')))).toBeDefined();
  });

  it('`sidecar-monitor cleanup` restores the workload and frees the monitor to be deleted', async () => {
    const r = spawnSync(process.execPath, [CLI, 'cleanup', '--yes'], {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath },
      timeout: 120_000,
    });
    expect(r.stderr.split('\n').filter((l) => l.includes('"level":50'))).toEqual([]);
    expect(r.stdout).toContain('restored');
    expect(r.stdout).toContain(appNs.name);
    expect(r.status).toBe(0);
    const web = await cluster.get(deploymentRef(appNs.name, 'web'));
    expect(exporterOf(web)).toBeUndefined();
    const template = (web.spec as { template: PodTemplate }).template;
    expect(template.metadata.annotations?.[HASH_ANNOTATION]).toBeUndefined();
    expect(template.metadata.labels?.[MONITOR_LABEL]).toBeUndefined();
    // No operator runs, yet the monitor goes: cleanup dropped its finalizer.
    await cluster.kubectl(
      ['delete', 'sidecarmonitor', 'web', '-n', appNs.name, '--wait', '--timeout=30s'],
      { timeoutMs: 60_000 },
    );
  });
});

describe('CRD upgrades: Helm never upgrades crds/, the documented command does', () => {
  const release = 'smon-crd';
  const fullname = `${release}-sidecar-monitor`;
  let releaseNs: TestNamespace;
  const revision = async (): Promise<string | undefined> =>
    (await cluster.get(CRD)).metadata.annotations?.[CRD_REVISION_ANNOTATION];
  // The README's upgrade step, for a chart from a repository or a directory alike.
  const upgradeCrds = async (): Promise<void> => {
    const crds = await cluster.helm(['show', 'crds', CHART_DIR]);
    await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], {
      input: crds.stdout,
    });
  };

  beforeAll(async () => {
    releaseNs = await cluster.namespace('smon-crd');
  });

  afterAll(async () => {
    await upgradeCrds();
    await cluster.helm(['uninstall', release, '-n', releaseNs.name], { allowFailure: true });
    await releaseNs.delete();
  });

  it('helm upgrade leaves an older CRD in place, the operator refuses it, `helm show crds | kubectl apply` fixes it', async () => {
    await cluster.helm(['install', release, CHART_DIR, '-n', releaseNs.name]);
    const current = await revision();
    expect(current).toMatch(/^[1-9][0-9]*$/);
    // An older CRD, as after upgrading the chart of an earlier release.
    await cluster.kubectl([
      'annotate',
      'crd',
      CRD.name,
      `${CRD_REVISION_ANNOTATION}=0`,
      '--overwrite',
    ]);
    await cluster.helm(['upgrade', release, CHART_DIR, '-n', releaseNs.name]);
    expect(await revision()).toBe('0');

    const deployment = await cluster.get(deploymentRef(releaseNs.name, fullname));
    const kubeconfigPath = cluster.impersonate({
      namespace: releaseNs.name,
      name: fullname,
    }).kubeconfigPath;
    await expect(
      operatorFromDeployment({ deployment, kubeconfigPath, podName: `${fullname}-0` }),
    ).rejects.toThrow(/kubectl apply --server-side --force-conflicts/);

    await upgradeCrds();
    expect(await revision()).toBe(current);
    const operator = await operatorFromDeployment({
      deployment,
      kubeconfigPath,
      podName: `${fullname}-1`,
    });
    expect(await operator.stop()).toBe(0);
  });
});
