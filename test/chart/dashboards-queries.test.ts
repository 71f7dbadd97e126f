// Every panel query of every shipped dashboard, with its variables filled in as Grafana
// would, against a real Prometheus that scrapes real exporters in simulated pods and a real
// operator. The scrape configuration adds the target labels Kubernetes discovery gives
// (namespace, pod, container, the pod's labels), as a PodMonitor or ServiceMonitor would.
// A query that returns nothing (or nothing but NaN) fails.
//
// The scene: the chart installed, its operator (run from the installed Deployment under the
// chart's ServiceAccount) injecting a monitored Deployment; two pods of that Deployment
// simulated on this machine: one healthy but CPU-throttled with one failing probe, one whose
// app runs as another user (so the exporter is degraded); a gRPC health service (a real one,
// @grpc/grpc-js) that both pods probe, SERVING for one service name and NOT_SERVING for
// another; and one API server restart, so the operator has informer failures to show.
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARDS } from '../../charts/sidecar-monitor/dashboards/index.ts';
import type { ClassicDashboard } from '../../charts/sidecar-monitor/dashboards/layout.ts';
import { operatorMetricNames } from '../../charts/sidecar-monitor/dashboards/operator-metrics.ts';
import type { ExporterConfig } from '../../exporter/config.ts';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import { EXPORTER_CONTAINER } from '../../operator/api/constants.ts';
import { testCluster, type KubeObject, type TestNamespace } from '../cluster/harness.ts';
import {
  APP_UID,
  OTHER_UID,
  startMonitoredPod,
  type MonitoredPod,
} from '../exporter/helpers/pod.ts';
import {
  interpolate,
  parseLabelValues,
  queriesOf,
  variablesOf,
  type Interpolation,
  type Selection,
  type VariableDef,
} from '../unit/dashboards/queries.ts';
import { CHART_DIR, withValuesFile } from './support/chart.ts';
import { releaseNamespaces } from './support/cleanup.ts';
import { operatorFromDeployment, type OperatorProcess } from './support/operator-process.ts';
import { hasFiniteValue, startPrometheus, type Prometheus } from './support/prometheus.ts';

const cluster = testCluster();
const MIB = 1024 * 1024;
const RELEASE = 'smon-dash';
const FULLNAME = `${RELEASE}-sidecar-monitor`;
const OPERATOR_POD = `${FULLNAME}-7c9d8f6b5-q2x7k`;
const POD_NAMES = ['web-5d8f7c9b6-h4k2p', 'web-5d8f7c9b6-m9t3z'] as const;
/** Grafana's $__rate_interval for a 1 s scrape is 4 s; 20 s gives every counter time to move. */
const RATE_INTERVAL = '20s';
const RANGE_SECONDS = 60;

function exporterConfig(namespace: string, port: number, grpcPort: number): ExporterConfig {
  const probe = { source: 'readinessProbe' as const, intervalSeconds: 1, timeoutSeconds: 1 };
  return {
    version: 1,
    workload: { kind: 'Deployment', namespace, name: 'web', monitor: 'web' },
    targets: [
      {
        name: 'app',
        requests: { cpuCores: 0.1, memoryBytes: 64 * MIB },
        limits: { cpuCores: 0.2, memoryBytes: 512 * MIB },
      },
    ],
    probes: [
      {
        ...probe,
        type: 'http',
        name: 'http-readiness',
        container: 'app',
        port,
        path: '/healthz',
        scheme: 'HTTP',
        headers: [],
        insecureSkipVerify: false,
      },
      // gRPC health checks of the same pod, as derived from a grpc probe: one passing, one
      // failing with a gRPC reason.
      {
        ...probe,
        type: 'grpc',
        name: 'grpc-readiness',
        container: 'app',
        port: grpcPort,
        service: '',
        tls: false,
        insecureSkipVerify: false,
      },
      {
        ...probe,
        source: 'monitor',
        type: 'grpc',
        name: 'grpc-cart',
        port: grpcPort,
        service: 'shop.Cart',
        tls: false,
        insecureSkipVerify: false,
      },
      // A monitor endpoint the app does not serve: failures with a reason and a status code.
      {
        ...probe,
        source: 'monitor',
        type: 'http',
        name: 'api-ready',
        port,
        path: '/api/ready',
        scheme: 'HTTP',
        headers: [],
        insecureSkipVerify: false,
      },
    ],
  };
}

/** A PodMonitor's relabelling, fed the __meta labels Kubernetes discovery would set. */
function podTarget(address: string, namespace: string, pod: string): object {
  return {
    targets: [address],
    labels: {
      __meta_kubernetes_namespace: namespace,
      __meta_kubernetes_pod_name: pod,
      __meta_kubernetes_pod_container_name: EXPORTER_CONTAINER,
      __meta_kubernetes_pod_label_app: 'web',
      __meta_kubernetes_pod_label_pod_template_hash: pod.split('-')[1]!,
      __meta_kubernetes_pod_controller_kind: 'ReplicaSet',
      __meta_kubernetes_pod_controller_name: pod.split('-').slice(0, 2).join('-'),
    },
  };
}

const DISCOVERY_RELABELLING = [
  { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
  { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
  { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
  { action: 'labelmap', regex: '__meta_kubernetes_pod_label_(.+)' },
];

const hostPort = (url: string) => new URL(url).host;

let releaseNs: TestNamespace;
let appNs: TestNamespace;
let operator: OperatorProcess | undefined;
const pods: MonitoredPod[] = [];
let prometheus: Prometheus | undefined;
const grpcServer = new grpc.Server();

beforeAll(async () => {
  new HealthImplementation({ '': 'SERVING', 'shop.Cart': 'NOT_SERVING' }).addToServer(grpcServer);
  const grpcPort = await new Promise<number>((resolve, reject) => {
    grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => {
      if (e) reject(e);
      else resolve(p);
    });
  });
  releaseNs = await cluster.namespace('smon-dash');
  appNs = await cluster.namespace('shop');
  // A lease that outlives the API server restart below (the default renewDeadline of 10 s
  // is shorter than a restart here): the operator keeps leading instead of exiting.
  await withValuesFile(
    { leaderElection: { leaseDuration: 90, renewDeadline: 60, retryPeriod: 5 } },
    (file) => cluster.helm(['install', RELEASE, CHART_DIR, '-n', releaseNs.name, '-f', file]),
  );
  const identity = cluster.impersonate({ namespace: releaseNs.name, name: FULLNAME });
  operator = await operatorFromDeployment({
    deployment: await cluster.get({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: releaseNs.name,
      name: FULLNAME,
    }),
    kubeconfigPath: identity.kubeconfigPath,
    podName: OPERATOR_POD,
  });
  const web: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: appNs.name, labels: { app: 'web' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          securityContext: { runAsUser: APP_UID, runAsGroup: APP_UID },
          containers: [
            {
              name: 'app',
              image: 'example.com/web:1.0',
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' } },
            },
          ],
        },
      },
    },
  };
  await cluster.apply(web);
  await cluster.apply({
    apiVersion: 'sidecarmonitor.io/v1alpha1',
    kind: 'SidecarMonitor',
    metadata: { name: 'web', namespace: appNs.name },
    spec: { selector: { matchLabels: { app: 'web' } } },
  });
  await cluster.waitForCondition(
    {
      apiVersion: 'sidecarmonitor.io/v1alpha1',
      kind: 'SidecarMonitor',
      namespace: appNs.name,
      name: 'web',
    },
    'Ready',
  );

  // The two pods of the workload, simulated here: the app, and the exporter as injected.
  // In the cgroup v2 layout (a private cgroup namespace showing the container's own
  // cgroup2 directory), so that the pressure panels, cgroup v2 only, have data too.
  for (const appUid of [APP_UID, OTHER_UID]) {
    const pod = await startMonitoredPod({
      cgroupNamespace: 'private',
      appUid,
      exporterUid: APP_UID,
      appLimits: { memoryBytes: 512 * MIB, cpuCores: 0.2, pids: 200 },
      config: (port) => exporterConfig(appNs.name, port, grpcPort),
    });
    pods.push(pod);
    // Half a core against a limit of 0.2: throttled. 64 MiB held: a working set to show.
    await pod.appGet('/load?cpu=0.5');
    await pod.appGet('/hold?mb=64');
  }

  prometheus = await startPrometheus([
    {
      job_name: 'podmonitor/shop/web',
      honor_labels: true,
      static_configs: pods.map((p, i) =>
        podTarget(hostPort(p.metricsUrl), appNs.name, POD_NAMES[i]!),
      ),
      relabel_configs: DISCOVERY_RELABELLING,
    },
    {
      job_name: 'serviceMonitor/sidecar-monitor/operator',
      static_configs: [
        {
          targets: [hostPort(operator.url)],
          labels: {
            __meta_kubernetes_namespace: releaseNs.name,
            __meta_kubernetes_pod_name: OPERATOR_POD,
            __meta_kubernetes_pod_container_name: 'operator',
          },
        },
      ],
      relabel_configs: DISCOVERY_RELABELLING,
    },
  ]);
  const prom = prometheus;
  await cluster.waitFor('Prometheus to scrape all three targets', async (note) => {
    const up = await prom.instant('up == 1');
    note(up.map((s) => s.metric));
    return up.length === 3 ? true : undefined;
  });
  // The API server goes away and comes back: the operator's informers fail and recover.
  await cluster.apiServer.restart({ downForMs: 1000 });
  const failures = operatorMetricNames().families.informerFailures;
  await cluster.waitFor(
    'Prometheus to see the informer failures',
    async () => ((await prom.instant(failures)).length > 0 ? true : undefined),
    { timeoutMs: 60_000 },
  );
  // Enough samples for every rate window of the queries, while its owner keeps re-applying
  // the workload with a new label (not in its pod template): an idle operator reconciles
  // nothing, and its reconcile rates and latency quantiles would rightly be empty.
  const until = Date.now() + 25_000;
  for (let i = 0; Date.now() < until; i++) {
    await cluster.apply({
      ...web,
      metadata: { ...web.metadata, labels: { app: 'web', touched: String(i) } },
    });
    await new Promise((r) => setTimeout(r, 2000));
  }
}, 300_000);

afterAll(async () => {
  await prometheus?.stop();
  await Promise.all(pods.map((p) => p.stop()));
  grpcServer.forceShutdown();
  await operator?.stop();
  await cluster.helm(['uninstall', RELEASE, '-n', releaseNs.name], { allowFailure: true });
  await releaseNamespaces(cluster, [appNs.name]);
  await Promise.all([appNs.delete(), releaseNs.delete()]);
});

/** The value a single-value variable takes in this scene, when Prometheus offers it. */
function preferred(name: string): readonly string[] {
  switch (name) {
    case 'namespace':
      return [appNs.name, releaseNs.name];
    case 'workload':
      return ['web'];
    default:
      return [];
  }
}

async function resolveVariables(
  prom: Prometheus,
  defs: readonly VariableDef[],
): Promise<{ ctx: Interpolation; resolved: Record<string, readonly string[]> }> {
  const variables = new Map<string, { def: VariableDef; selection: Selection }>();
  const resolved: Record<string, readonly string[]> = {};
  const ctx: Interpolation = {
    variables,
    rateInterval: RATE_INTERVAL,
    interval: '2s',
    range: `${RANGE_SECONDS}s`,
  };
  for (const def of defs) {
    if (def.type === 'datasource') continue;
    const lv = parseLabelValues(def.query ?? '');
    if (!lv) throw new Error(`variable ${def.name}: not a label_values query: ${def.query ?? ''}`);
    const values = await prom.labelValues(interpolate(lv.selector, ctx), lv.label);
    resolved[def.name] = values;
    if (values.length === 0) break;
    const pick = preferred(def.name).find((v) => values.includes(v)) ?? values[0]!;
    variables.set(def.name, {
      def,
      selection: def.multi || def.includeAll ? { all: values } : { values: [pick] },
    });
  }
  return { ctx, resolved };
}

describe.each(DASHBOARDS.map((d) => ({ file: d.file, dashboard: d.build() })))(
  '$file',
  ({ dashboard }: { dashboard: ClassicDashboard }) => {
    let ctx: Interpolation;
    let resolved: Record<string, readonly string[]>;

    beforeAll(async () => {
      ({ ctx, resolved } = await resolveVariables(prometheus!, variablesOf(dashboard)));
    });

    it('every template variable has values', () => {
      for (const def of variablesOf(dashboard).filter((v) => v.type !== 'datasource')) {
        expect(resolved[def.name], `$${def.name}: ${def.query ?? ''}`).not.toEqual([]);
        expect(resolved[def.name], `$${def.name}`).toBeDefined();
      }
      if (resolved.pod && resolved.workload) expect(resolved.pod).toHaveLength(POD_NAMES.length);
    });

    it.each(queriesOf(dashboard))('$panel [$refId] returns data', async (q) => {
      const expr = interpolate(q.expr, ctx);
      const series = q.instant
        ? await prometheus!.instant(expr)
        : await prometheus!.range(expr, RANGE_SECONDS, 2);
      expect(hasFiniteValue(series), `no data for ${expr}`).toBe(true);
    });
  },
);

describe('the scene', () => {
  it('has a degraded exporter and a throttled, failing-probe pod, as the panels claim', async () => {
    const prom = prometheus!;
    const degraded = await prom.instant(`${METRICS.collectorDegraded.name} == 1`);
    expect(degraded.map((s) => s.metric.pod)).toContain(POD_NAMES[1]);
    const reasons = await prom.instant(`sum by (reason) (${METRICS.probeFailures.name})`);
    expect(reasons.map((s) => s.metric.reason)).toContain('bad_status');
    expect(reasons.map((s) => s.metric.reason)).toContain('not_serving');
    const types = await prom.instant(`count by (type) (${METRICS.probeInfo.name})`);
    expect(types.map((s) => s.metric.type).sort()).toEqual(['grpc', 'http']);
    const throttled = await prom.instant(
      `rate(${METRICS.containerCpuCfsThrottledPeriods.name}{pod="${POD_NAMES[0]}"}[${RATE_INTERVAL}]) > 0`,
    );
    expect(throttled.length).toBeGreaterThan(0);
  });
});
