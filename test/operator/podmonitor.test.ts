// Scenario 10: Prometheus integration. Without the prometheus-operator PodMonitor CRD the
// pod templates get prometheus.io scrape annotations (never overwriting the app's own);
// once the CRD is installed (the real one, from ../shared/fixtures/crds/) each monitor
// gets a PodMonitor it owns, and the annotations go.
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type KubeObject, testCluster } from '../cluster/harness.ts';
import {
  deployment,
  EXPORTER,
  injected,
  type Install,
  installOperatorRbac,
  monitor,
  ref,
  rolling,
  scoped,
  statusOf,
  templateOf,
} from './support.ts';

const cluster = testCluster();
const CRD_PATH = path.resolve(
  import.meta.dirname,
  '../../../shared/fixtures/crds/monitoring.coreos.com_podmonitors.yaml',
);
const CRD_REF = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  name: 'podmonitors.monitoring.coreos.com',
};
let install: Install | undefined;
let crdWasInstalled = false;

beforeAll(async () => {
  install = await installOperatorRbac(cluster);
  // Start from a cluster without prometheus-operator, whatever ran before.
  crdWasInstalled = (await cluster.tryGet(CRD_REF)) !== undefined;
  if (crdWasInstalled) {
    await cluster.remove(CRD_REF);
    await cluster.waitForDeletion(CRD_REF);
  }
});

afterAll(async () => {
  const present = (await cluster.tryGet(CRD_REF)) !== undefined;
  if (present && !crdWasInstalled) await cluster.remove(CRD_REF);
  if (!present && crdWasInstalled) await cluster.applyFile(CRD_PATH);
  await install?.[Symbol.asyncDispose]();
});

const SCRAPE = 'prometheus.io/scrape';

interface Pod extends KubeObject {
  spec: {
    containers: { name: string; ports?: { name?: string; containerPort: number }[] }[];
    initContainers?: { name: string; ports?: { name?: string; containerPort: number }[] }[];
  };
}

test("scrape annotations without the CRD (the app's own kept); a PodMonitor owned by the monitor once it is installed", async () => {
  await using s = await scoped(cluster, install!, 'podmonitor', {
    args: ['--discovery-interval', '1'],
  });
  const ns = s.ns.name;
  const own = { [SCRAPE]: 'true', 'prometheus.io/port': '8080', 'prometheus.io/path': '/stats' };
  const withOwn = deployment(ns, 'own', { monitored: 'true' });
  (
    withOwn.spec as { template: { metadata: { annotations?: Record<string, string> } } }
  ).template.metadata.annotations = own;
  await cluster.apply([
    deployment(ns, 'web', { monitored: 'true' }, { replicas: 2 }),
    withOwn,
    deployment(ns, 'other', { monitored: 'false' }),
  ]);
  await cluster.apply(
    monitor(ns, 'mon', {
      rollout: { maxConcurrent: 5 },
      prometheus: { podMonitorLabels: { release: 'kube-prometheus-stack' } },
    }),
  );
  const monRef = ref('SidecarMonitor', ns, 'mon');
  await cluster.waitForObject(monRef, (o) => statusOf(o).injectedWorkloads === 2);
  const web = templateOf(await cluster.get(ref('Deployment', ns, 'web')));
  expect(web.metadata?.annotations).toMatchObject({
    [SCRAPE]: 'true',
    'prometheus.io/port': '9477',
    'prometheus.io/path': '/metrics',
  });
  // The app's own annotations are never overwritten.
  expect(
    templateOf(await cluster.get(ref('Deployment', ns, 'own'))).metadata?.annotations,
  ).toMatchObject(own);

  // prometheus-operator arrives: the operator notices through discovery.
  await cluster.applyFile(CRD_PATH);
  await cluster.waitForCondition(CRD_REF, 'Established');
  const pmRef = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    namespace: ns,
    name: 'sidecar-monitor-mon',
  };
  const pm = await cluster.waitForObject(pmRef, () => true, { timeoutMs: 60_000 });
  const mon = await cluster.get(monRef);
  expect(pm.metadata.ownerReferences).toEqual([
    expect.objectContaining({
      kind: 'SidecarMonitor',
      name: 'mon',
      uid: mon.metadata.uid,
      controller: true,
    }),
  ]);
  expect(pm.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
  expect(pm.spec).toEqual({
    selector: { matchLabels: { 'sidecarmonitor.io/monitor': 'mon' } },
    podMetricsEndpoints: [{ port: 'smon-metrics', path: '/metrics', honorLabels: true }],
  });
  // The scrape annotations are dropped (a PodMonitor scrapes now; both would scrape twice).
  await cluster.waitForObject(
    ref('Deployment', ns, 'web'),
    (o) => templateOf(o).metadata?.annotations?.[SCRAPE] === undefined && injected(o),
  );

  // The PodMonitor's selector finds exactly the injected pods, each exposing the port.
  const selector = 'sidecarmonitor.io/monitor=mon';
  const pods = await cluster.waitFor(
    'the selector to find exactly the pods of the injected workloads',
    async (note) => {
      const deployments = await cluster.list({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        namespace: ns,
      });
      if (deployments.some((d) => rolling(d as Parameters<typeof rolling>[0]))) return undefined;
      const selected = (await cluster.list(
        { apiVersion: 'v1', kind: 'Pod', namespace: ns },
        { labelSelector: selector },
      )) as Pod[];
      const live = selected.filter((p) => p.metadata.deletionTimestamp === undefined);
      note(live.map((p) => p.metadata.name));
      return live.length === 3 ? live : undefined;
    },
    { timeoutMs: 120_000 },
  );
  for (const pod of pods) {
    expect(pod.metadata.name).toMatch(/^(web|own)-/);
    const exporter = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find(
      (c) => c.name === EXPORTER,
    );
    expect(exporter?.ports).toContainEqual(
      expect.objectContaining({ name: 'smon-metrics', containerPort: 9477 }),
    );
  }
  const others = await cluster.list(
    { apiVersion: 'v1', kind: 'Pod', namespace: ns },
    { labelSelector: 'app.kubernetes.io/name=other' },
  );
  expect(others.length).toBeGreaterThan(0);
  for (const p of others) expect(p.metadata.labels?.['sidecarmonitor.io/monitor']).toBeUndefined();

  // Disabled: the PodMonitor goes, the annotations come back.
  await cluster.apply(
    monitor(ns, 'mon', { rollout: { maxConcurrent: 5 }, prometheus: { podMonitor: 'Disabled' } }),
  );
  await cluster.waitForDeletion(pmRef);
  await cluster.waitForObject(
    ref('Deployment', ns, 'web'),
    (o) => templateOf(o).metadata?.annotations?.[SCRAPE] === 'true',
  );
});
