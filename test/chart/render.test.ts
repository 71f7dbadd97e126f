// The chart rendered by the real helm for several value sets and validated by the real
// API server (`kubectl apply --dry-run=server`), plus what each object must say: a hardened
// operator the operator's own flag parser accepts, a PDB only with replicas, the optional
// Prometheus objects, and dashboards and rules identical to the generated files.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARDS, GENERATED_DIR } from '../../charts/sidecar-monitor/dashboards/index.ts';
import { RULES_FILE } from '../../charts/sidecar-monitor/dashboards/rules-file.ts';
import {
  DEFAULT_IMAGE_REPOSITORY,
  OPT_OUT_LABEL,
  OPT_OUT_VALUE,
} from '../../operator/api/constants.ts';
import { FlagError, parseOperatorFlags } from '../../operator/cli/flags.ts';
import {
  parseObjects,
  testCluster,
  type KubeObject,
  type TestNamespace,
} from '../cluster/harness.ts';
import { promtool } from '../unit/alerts/promtool.ts';
import {
  CHART_DIR,
  deploymentSpec,
  findObject,
  helmTemplate,
  helmTemplateError,
  operatorContainer,
  withValuesFile,
} from './support/chart.ts';

const cluster = testCluster();
const REPO = path.resolve(import.meta.dirname, '../..');
const chartMeta = parse(readFileSync(path.join(REPO, CHART_DIR, 'Chart.yaml'), 'utf8')) as {
  appVersion: string;
  version: string;
};
const SERVICE_MONITOR_CRD = path.resolve(
  REPO,
  '../shared/fixtures/crds/monitoring.coreos.com_servicemonitors.yaml',
);
const DIGEST = `sha256:${'ab'.repeat(32)}`;

interface ValueSet {
  readonly name: string;
  readonly values: (ns: Namespaces) => Record<string, unknown>;
}
interface Namespaces {
  readonly release: string;
  readonly watched: readonly string[];
  readonly dashboards: string;
}

const valueSets: ValueSet[] = [
  { name: 'defaults', values: () => ({}) },
  {
    name: 'production: 3 replicas, two watched namespaces, Prometheus integration on',
    values: (ns) => ({
      replicaCount: 3,
      image: { repository: 'registry.example.com/platform/sidecar-monitor', digest: DIGEST },
      imagePullSecrets: [{ name: 'regcred' }],
      exporter: {
        image: { repository: 'registry.example.com/platform/sidecar-monitor', tag: '0.1.0-slim' },
        allowedImages: ['registry.example.com/platform/*'],
      },
      watchNamespaces: ns.watched,
      logLevel: 'debug',
      maxConcurrentRollouts: 3,
      leaderElection: { leaseDuration: 30, renewDeadline: 20, retryPeriod: 5 },
      extraLabels: { team: 'platform' },
      extraAnnotations: { 'example.com/owner': 'platform' },
      podLabels: { tier: 'control' },
      podAnnotations: { 'example.com/scrape': 'no' },
      resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ops', effect: 'NoSchedule' }],
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 100,
              podAffinityTerm: {
                topologyKey: 'kubernetes.io/hostname',
                labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'sidecar-monitor' } },
              },
            },
          ],
        },
      },
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: 'topology.kubernetes.io/zone',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'sidecar-monitor' } },
        },
      ],
      priorityClassName: 'system-cluster-critical',
      serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
      prometheusRule: {
        enabled: true,
        labels: { release: 'kube-prometheus-stack' },
        alertLabels: { team: 'platform' },
      },
      dashboards: {
        namespace: ns.dashboards,
        annotations: { grafana_folder: 'sidecar-monitor' },
      },
    }),
  },
  {
    name: 'minimal: no dashboards, a full name override, another metrics port',
    values: () => ({
      fullnameOverride: 'smon',
      dashboards: { enabled: false },
      metricsPort: 9090,
      serviceAccount: { name: 'smon-operator' },
    }),
  },
  {
    name: 'custom dashboard label for a non-default Grafana sidecar',
    values: () => ({ dashboards: { label: 'grafana.example.com/dashboard', labelValue: 'yes' } }),
  },
];

let namespaces: TestNamespace[] = [];
let ns: Namespaces;

beforeAll(async () => {
  const [release, w1, w2, dash] = await Promise.all([
    cluster.namespace('chart-render'),
    cluster.namespace('chart-watched-a'),
    cluster.namespace('chart-watched-b'),
    cluster.namespace('chart-grafana'),
  ]);
  namespaces = [release, w1, w2, dash];
  ns = { release: release.name, watched: [w1.name, w2.name], dashboards: dash.name };
  // The ServiceMonitor CRD (from the fixtures), so the server can validate ours.
  await cluster.kubectl(['apply', '--server-side', '-f', SERVICE_MONITOR_CRD]);
  await cluster.waitForCondition(
    {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name: 'servicemonitors.monitoring.coreos.com',
    },
    'Established',
  );
});

afterAll(async () => {
  await cluster.kubectl(['delete', '--ignore-not-found', '-f', SERVICE_MONITOR_CRD]);
  await Promise.all(namespaces.map((n) => n.delete()));
});

describe('helm lint --strict', () => {
  it('passes with the default values', async () => {
    const r = await cluster.helm(['lint', '--strict', CHART_DIR], { allowFailure: true });
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(r.code).toBe(0);
  });

  it('passes with the production values', async () => {
    const values = valueSets[1]!.values({
      release: 'x',
      watched: ['a', 'b'],
      dashboards: 'grafana',
    });
    const r = await withValuesFile(values, (file) =>
      cluster.helm(['lint', '--strict', CHART_DIR, '-f', file], { allowFailure: true }),
    );
    expect(r.stdout).toContain('0 chart(s) failed');
    expect(r.code).toBe(0);
  });
});

describe('helm template offline', () => {
  // GitOps pipelines render without a cluster: helm then assumes the Kubernetes version it
  // was built for, and the chart's kubeVersion constraint must accept it (a helm built
  // without its version ldflags assumes v1.20.0 and fails here).
  it('renders without --kube-version, assuming the Kubernetes version helm was built for', async () => {
    const r = await cluster.helm(['template', 'x', CHART_DIR, '--namespace', 'x'], {
      allowFailure: true,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const objects = parseObjects(r.stdout, 'helm template');
    expect(objects.some((o) => o.kind === 'Deployment')).toBe(true);
  });
});

describe('the chart', () => {
  it("ships the CRD byte for byte as crds/ has it (Helm installs it from the chart's crds/)", () => {
    const source = readFileSync(path.join(REPO, 'crds/sidecarmonitor.io_sidecarmonitors.yaml'));
    const copy = readFileSync(
      path.join(REPO, CHART_DIR, 'crds/sidecarmonitor.io_sidecarmonitors.yaml'),
    );
    expect(copy.equals(source)).toBe(true);
  });

  it('defaults to the image the operator defaults to, tagged with the package version', async () => {
    const { objects } = await helmTemplate(cluster, { release: 'r', namespace: ns.release });
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(chartMeta.appVersion).toBe(pkg.version);
    const image = `${DEFAULT_IMAGE_REPOSITORY}:${chartMeta.appVersion}`;
    const c = operatorContainer(objects);
    expect(c.image).toBe(image);
    expect(c.args).toContain(`--exporter-image=${image}`);
  });
});

describe.each(valueSets)('values: $name', (set) => {
  let objects: KubeObject[];
  let yaml: string;
  let values: Record<string, unknown>;
  const release = 'smon-test';

  beforeAll(async () => {
    values = set.values(ns);
    ({ objects, yaml } = await helmTemplate(cluster, {
      release,
      namespace: ns.release,
      values,
      includeCrds: true,
    }));
  });

  it('is accepted by the API server (kubectl apply --dry-run=server), every object namespaced explicitly', async () => {
    const clusterScoped = ['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'];
    for (const o of objects) {
      if (!clusterScoped.includes(o.kind)) expect(o.metadata.namespace, o.kind).toBeTruthy();
    }
    // The PrometheusRule CRD is not among the fixtures: its spec is checked by promtool below.
    const docs = objects.filter((o) => o.kind !== 'PrometheusRule');
    const r = await cluster.kubectl(
      [
        'apply',
        '--dry-run=server',
        '--server-side',
        '--force-conflicts',
        '--field-manager=chart-test',
        '-f',
        '-',
      ],
      { input: docs.map((d) => JSON.stringify(d)).join('\n'), allowFailure: true },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(docs.length);
    expect(yaml).not.toMatch(/[ \t]+$/m);
  });

  it('puts extraLabels and extraAnnotations on every object it makes (the CRD ships as crds/ has it)', () => {
    const labels = (values.extraLabels ?? {}) as Record<string, string>;
    const annotations = (values.extraAnnotations ?? {}) as Record<string, string>;
    for (const o of objects.filter((x) => x.kind !== 'CustomResourceDefinition')) {
      const what = `${o.kind}/${o.metadata.name ?? ''}`;
      expect(o.metadata.labels ?? {}, what).toMatchObject(labels);
      expect(o.metadata.annotations ?? {}, what).toMatchObject(annotations);
    }
  });

  it('runs the operator hardened: non-root, read-only root, no capabilities, resources, probes', () => {
    const spec = deploymentSpec(objects);
    const pod = spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    for (const c of pod.containers) {
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.securityContext?.privileged).toBeUndefined();
      expect(c.resources?.requests?.memory).toBeDefined();
      expect(c.resources?.limits?.memory).toBeDefined();
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    }
    expect(spec.template.metadata.labels[OPT_OUT_LABEL]).toBe(OPT_OUT_VALUE);
    expect(findObject(objects, 'Deployment').metadata.labels?.[OPT_OUT_LABEL]).toBe(OPT_OUT_VALUE);
  });

  it("passes flags the operator's own parser accepts, leading with the Lease the RBAC allows", () => {
    const c = operatorContainer(objects);
    expect(c.args?.[0]).toBe('operator');
    const flags = parseOperatorFlags(c.args!.slice(1), {
      POD_NAME: 'pod-0',
      POD_NAMESPACE: ns.release,
    });
    if (flags instanceof FlagError) throw flags;
    expect(flags.leaderElect).toBe(true);
    expect(flags.namespaces).toEqual(values.watchNamespaces ?? []);
    expect(flags.identity).toBe('pod-0');
    const role = findObject(
      objects,
      'Role',
      `${findObject(objects, 'Deployment').metadata.name!}-leader-election`,
    );
    const rules = role.rules as { resourceNames?: string[]; verbs: string[] }[];
    expect(rules.some((r) => r.resourceNames?.includes(flags.leaderElectionId))).toBe(true);
    expect(flags.leaderElectionNamespace).toBe(ns.release);
    // /metrics is served on the port the Service and the probes use.
    const port = c.ports?.find((p) => p.name === 'metrics')?.containerPort;
    expect(flags.listen.port).toBe(port);
    expect(c.env?.map((e) => e.name)).toEqual(
      expect.arrayContaining(['POD_NAME', 'POD_NAMESPACE']),
    );
    expect(deploymentSpec(objects).template.spec.serviceAccountName).toBe(
      findObject(objects, 'ServiceAccount').metadata.name,
    );
  });

  it('has a PodDisruptionBudget exactly when there is more than one replica', () => {
    const replicas = deploymentSpec(objects).replicas;
    const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget');
    expect(pdb !== undefined).toBe(replicas > 1);
    if (pdb) {
      const spec = pdb.spec as { minAvailable: number; selector: { matchLabels: object } };
      expect(spec.minAvailable).toBeLessThan(replicas);
      expect(spec.selector.matchLabels).toEqual(deploymentSpec(objects).selector.matchLabels);
    }
  });

  it("has a metrics Service for the operator's pods, and a ServiceMonitor only when asked", () => {
    const svc = findObject(objects, 'Service');
    const spec = svc.spec as { selector: object; ports: { name: string; targetPort: string }[] };
    expect(spec.selector).toEqual(deploymentSpec(objects).selector.matchLabels);
    expect(spec.ports[0]?.targetPort).toBe('metrics');
    const sm = objects.find((o) => o.kind === 'ServiceMonitor');
    const wanted = (values.serviceMonitor as { enabled?: boolean } | undefined)?.enabled === true;
    expect(sm !== undefined).toBe(wanted);
    if (sm) {
      const smSpec = sm.spec as {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string }[];
      };
      for (const [k, v] of Object.entries(smSpec.selector.matchLabels)) {
        expect(svc.metadata.labels?.[k]).toBe(v);
      }
      expect(spec.ports.map((p) => p.name)).toContain(smSpec.endpoints[0]?.port);
      expect(sm.metadata.labels?.release).toBe('kube-prometheus-stack');
    }
  });

  it('ships every generated dashboard as a labelled ConfigMap, unless disabled', () => {
    const d = (values.dashboards ?? {}) as {
      enabled?: boolean;
      label?: string;
      labelValue?: string;
      namespace?: string;
    };
    const maps = objects.filter(
      (o) =>
        o.kind === 'ConfigMap' &&
        o.metadata.labels?.['app.kubernetes.io/component'] === 'dashboards',
    );
    if (d.enabled === false) {
      expect(maps).toEqual([]);
      return;
    }
    expect(maps).toHaveLength(DASHBOARDS.length);
    const shipped = new Map<string, string>();
    for (const m of maps) {
      expect(m.metadata.labels?.[d.label ?? 'grafana_dashboard']).toBe(d.labelValue ?? '1');
      expect(m.metadata.namespace).toBe(d.namespace ?? ns.release);
      for (const [file, json] of Object.entries(m.data as Record<string, string>)) {
        shipped.set(file, json);
      }
    }
    for (const dashboard of DASHBOARDS) {
      const committed = readFileSync(path.join(GENERATED_DIR, dashboard.file), 'utf8');
      expect(JSON.parse(shipped.get(dashboard.file) ?? 'null')).toEqual(JSON.parse(committed));
    }
  });

  it('ships the rules file as a PrometheusRule only when asked, which promtool accepts', async () => {
    const rule = objects.find((o) => o.kind === 'PrometheusRule');
    const p = (values.prometheusRule ?? {}) as {
      enabled?: boolean;
      alertLabels?: Record<string, string>;
    };
    expect(rule !== undefined).toBe(p.enabled === true);
    if (!rule) return;
    const file = parse(readFileSync(RULES_FILE, 'utf8')) as {
      groups: { rules: { labels: Record<string, string> }[] }[];
    };
    for (const g of file.groups) {
      for (const r of g.rules) r.labels = { ...r.labels, ...p.alertLabels };
    }
    expect((rule.spec as { groups: unknown }).groups).toEqual(file.groups);
    const checked = await withValuesFile(rule.spec as Record<string, unknown>, async (f) =>
      Promise.resolve(promtool(['check', 'rules', f])),
    );
    expect(checked.output).toContain('SUCCESS');
    expect(checked.status).toBe(0);
  });
});

describe('values.schema.json', () => {
  it.each([
    [{ replicaCount: 'two' }, "at '/replicaCount': got string, want integer"],
    [{ colour: 'red' }, "additional properties 'colour' not allowed"],
    [{ image: { tag: 'has space' } }, "at '/image/tag'"],
    [{ image: { digest: 'sha256:short' } }, "at '/image/digest'"],
    [{ image: { pullPolicy: 'Sometimes' } }, "at '/image/pullPolicy'"],
    [{ watchNamespaces: ['Not_A_Namespace'] }, "at '/watchNamespaces/0'"],
    [{ logLevel: 'verbose' }, "at '/logLevel'"],
    [{ resources: { limits: { memory: 'lots' } } }, "at '/resources/limits/memory'"],
    [{ metricsPort: 80 }, "at '/metricsPort'"],
    [{ serviceMonitor: { interval: 'often' } }, "at '/serviceMonitor/interval'"],
    [{ dashboards: { enabled: 'yes' } }, "at '/dashboards/enabled'"],
    [{ exporter: { allowedImages: ['a b'] } }, "at '/exporter/allowedImages/0'"],
  ])('rejects %j naming the value', async (bad, message) => {
    expect(await helmTemplateError(cluster, bad)).toContain(message);
  });

  it.each([
    [
      { leaderElection: { leaseDuration: 10, renewDeadline: 10, retryPeriod: 2 } },
      'leaderElection.renewDeadline must be shorter than leaderElection.leaseDuration',
    ],
    [
      { leaderElection: { leaseDuration: 15, renewDeadline: 10, retryPeriod: 10 } },
      'leaderElection.retryPeriod must be shorter than leaderElection.renewDeadline',
    ],
    [
      { replicaCount: 2, podDisruptionBudget: { minAvailable: 2 } },
      'podDisruptionBudget.minAvailable must be below replicaCount',
    ],
  ])('rejects %j with a clear message', async (bad, message) => {
    expect(await helmTemplateError(cluster, bad)).toContain(message);
  });
});
