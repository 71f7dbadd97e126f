// The stack users run, on the real node: prometheus-operator (built from its module, as a
// pod from a local image) turns the PodMonitor our operator creates and the chart's
// ServiceMonitor and PrometheusRule into Prometheus 3's configuration, and Prometheus 3
// (a pod too) scrapes the injected exporters of real pods.
//
// The scene: the chart (its operator, ServiceMonitor and PrometheusRule) and the stack; in
// `shop`, `web` (2 replicas, uid/gid stated, a CPU limit its load exceeds, and a monitor
// endpoint the app does not serve: a failing probe) and `anon` (no uid stated: a degraded
// exporter); one API server restart (informer failures for the operator's dashboard).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { ruleGroups } from '../../charts/sidecar-monitor/dashboards/alert-rules.ts';
import { DASHBOARDS } from '../../charts/sidecar-monitor/dashboards/index.ts';
import type { ClassicDashboard } from '../../charts/sidecar-monitor/dashboards/layout.ts';
import { operatorMetricNames } from '../../charts/sidecar-monitor/dashboards/operator-metrics.ts';
import { RULES_FILE } from '../../charts/sidecar-monitor/dashboards/rules-file.ts';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import { EXPORTER_CONTAINER } from '../../operator/api/constants.ts';
import { testCluster, type KubeObject, type TestNamespace } from '../cluster/harness.ts';
import {
  installCrds,
  installStack,
  kubectlRunner,
  uninstallStack,
  type InstalledStack,
} from '../stack/install.ts';
import { hasFiniteValue, prometheusApi, type PrometheusApi } from '../stack/prometheus-api.ts';
import {
  interpolate,
  parseLabelValues,
  queriesOf,
  variablesOf,
  type Interpolation,
  type Selection,
  type VariableDef,
} from '../unit/dashboards/queries.ts';
import { containerPid } from './host.ts';
import {
  containerStatus,
  EXPORTER_PORT,
  httpGet,
  readyPods,
  realNode,
  SAMPLE_APP_PORT,
  sampleApp,
  type PodView,
} from './support.ts';

const cluster = testCluster();
const node = realNode(cluster.info);
const stackBinaries = cluster.info.stack;
const RELEASE = 'smon-prom';
const OPERATOR_NS = 'smon-prom';
const FULLNAME = `${RELEASE}-sidecar-monitor`;
/** Grafana's $__rate_interval for a 1 s scrape is 4 s; 20 s gives every counter time to move. */
const RATE_INTERVAL = '20s';
const RANGE_SECONDS = 60;

const kubectl = kubectlRunner(
  cluster.info.binaries.kubectl ?? 'kubectl',
  cluster.info.kubeconfigPath,
);
let shop: TestNamespace;
let stack: InstalledStack;
let prom: PrometheusApi;
let webPods: PodView[];
/** Undone in reverse by afterAll, whatever beforeAll got to. */
const cleanups: (() => Promise<unknown>)[] = [];
let anonPods: PodView[];
/** What Prometheus 3 asked the relay for, and what our exporter answered. */
const seen: { accept?: string; contentType?: string } = {};
let relayInstance: string;

function monitor(name: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'sidecarmonitor.io/v1alpha1',
    kind: 'SidecarMonitor',
    metadata: { name },
    spec: { selector: { matchLabels: { 'app.kubernetes.io/name': name } }, ...spec },
  };
}

interface Container {
  name: string;
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: unknown;
  livenessProbe?: unknown;
  securityContext?: Record<string, unknown>;
}

/**
 * `anon`: two app containers under two uids, both measured. The exporter cannot be both
 * (uid-mismatch), so it runs as the fallback uid and cannot read their protected data: a
 * degraded exporter, as the dashboards and SidecarMonitorExporterDegraded show it.
 */
function mixedUids(): KubeObject {
  const app = sampleApp(cluster.info, { name: 'anon' });
  const spec = (app.spec as { template: { spec: { containers: Container[] } } }).template.spec;
  const [web] = spec.containers as [Container];
  web.securityContext = { ...web.securityContext, runAsUser: 1000, runAsGroup: 1000 };
  spec.containers.push({
    ...structuredClone(web),
    name: 'worker',
    args: ['--host=0.0.0.0', '--port=8081'],
    ports: [{ name: 'worker', containerPort: 8081 }],
    readinessProbe: undefined,
    livenessProbe: undefined,
    securityContext: { ...web.securityContext, runAsUser: 2000, runAsGroup: 2000 },
  });
  return app;
}

/** The shipped alert rules with `for` cut to 2 s: the scenarios fire within a test's time. */
function scenarioRules(namespace: string): KubeObject {
  const file = parse(readFileSync(RULES_FILE, 'utf8')) as {
    groups: { name: string; rules: Record<string, unknown>[] }[];
  };
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'scenario', namespace },
    spec: {
      groups: file.groups.map((g) => ({
        name: `${g.name}.scenario`,
        rules: g.rules.map((r) => ({ ...r, for: '2s' })),
      })),
    },
  };
}

const shipped = ruleGroups().flatMap((g) => g.rules);

/**
 * A relay on the host between Prometheus and an exporter, scraped through a ScrapeConfig
 * (selected from the start, so no configuration reload is waited for): it records what
 * Prometheus 3 asks for and what we answer. Until `target` is set it answers 503.
 */
async function startRelay(target: () => string | undefined): Promise<void> {
  const relay: Server = createServer((req, res) => {
    const to = target();
    if (to === undefined) {
      res.writeHead(503).end();
      return;
    }
    seen.accept = req.headers.accept;
    const upstream = request(
      `http://${to}/metrics`,
      { headers: { accept: req.headers.accept ?? '', 'accept-encoding': 'identity' } },
      (up) => {
        seen.contentType = up.headers['content-type'];
        res.writeHead(up.statusCode ?? 502, { 'content-type': up.headers['content-type'] ?? '' });
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    upstream.end();
  });
  await new Promise<void>((resolve) => relay.listen(0, node.gateway, resolve));
  relayInstance = `${node.gateway}:${String((relay.address() as { port: number }).port)}`;
  cleanups.push(async () => {
    relay.close();
    return Promise.resolve();
  });
}

/** Keeps our operator reconciling (a label on the workload, not its template), as a live cluster does. */
function keepOperatorBusy(namespace: string): void {
  const state = { stop: false };
  const loop = (async () => {
    for (let i = 0; !state.stop; i++) {
      await kubectl([
        'label',
        'deployment',
        'web',
        '-n',
        namespace,
        `touched=${String(i)}`,
        '--overwrite',
      ]).catch(() => undefined);
      await sleep(2000);
    }
  })();
  cleanups.push(async () => {
    state.stop = true;
    await loop;
  });
}

beforeAll(async () => {
  if (stackBinaries === undefined) throw new Error('no Prometheus stack: run in the e2e project');
  // prometheus-operator's CRDs first: our operator finds the PodMonitor CRD when it starts.
  const crdDir = stackBinaries.crdDir;
  cleanups.push(() => kubectl(['delete', '-f', crdDir, '--ignore-not-found', '--wait=false']));
  await installCrds(kubectl, crdDir);
  const values = path.join(cluster.info.dir, 'prom-values.yaml');
  writeFileSync(
    values,
    stringify({
      image: { repository: 'localhost/sidecar-monitor', tag: 'dev', pullPolicy: 'Never' },
      serviceMonitor: { enabled: true, interval: '1s', scrapeTimeout: '1s' },
      prometheusRule: { enabled: true },
    }),
  );
  cleanups.push(async () => {
    await cluster.helm(['uninstall', RELEASE, '-n', OPERATOR_NS, '--wait'], { allowFailure: true });
    await kubectl(['delete', 'namespace', OPERATOR_NS, '--wait=false', '--ignore-not-found']);
  });
  await cluster.helm(
    ['install', RELEASE, 'charts/sidecar-monitor', '-n', OPERATOR_NS, '--create-namespace'].concat([
      '-f',
      values,
      '--wait',
      '--timeout',
      '180s',
    ]),
    { timeoutMs: 200_000 },
  );
  cleanups.push(() => uninstallStack(kubectl));
  const relayTo: { target?: string } = {};
  await startRelay(() => relayTo.target);
  stack = await installStack(kubectl, stackBinaries.crdDir, {
    scrapeInterval: '1s',
    evaluationInterval: '1s',
    scrapeConfigs: true,
  });
  prom = prometheusApi(stack.url);

  shop = await cluster.namespace('shop');
  cleanups.push(() => shop.delete());
  await cluster.apply(
    sampleApp(cluster.info, { name: 'web', replicas: 2, uid: 1000, gid: 1000, cpuLimit: '100m' }),
    { namespace: shop.name },
  );
  await cluster.apply(mixedUids(), { namespace: shop.name });
  await cluster.apply(
    monitor('web', {
      health: { endpoints: [{ name: 'api-ready', port: 'http', path: '/api/ready' }] },
    }),
    { namespace: shop.name },
  );
  await cluster.apply(monitor('anon', { targetContainers: ['web', 'worker'] }), {
    namespace: shop.name,
  });
  await cluster.apply(scenarioRules(shop.name));
  await cluster.apply({
    apiVersion: 'monitoring.coreos.com/v1alpha1',
    kind: 'ScrapeConfig',
    metadata: { name: 'negotiation', namespace: shop.name },
    spec: { staticConfigs: [{ targets: [relayInstance] }] },
  });
  const injected = (pod: KubeObject): boolean =>
    containerStatus(pod, EXPORTER_CONTAINER)?.state?.running !== undefined;
  webPods = await readyPods(cluster, shop.name, 'app.kubernetes.io/name=web', 2, injected);
  anonPods = await readyPods(cluster, shop.name, 'app.kubernetes.io/name=anon', 1, injected);
  relayTo.target = `${String(webPods[0]?.ip)}:${String(EXPORTER_PORT)}`;
  for (const pod of webPods) {
    // Half a core against a limit of 0.1: throttled. 64 MiB held: a working set to show.
    await httpGet(`http://${String(pod.ip)}:${String(SAMPLE_APP_PORT)}/load?cpu=0.5`);
    await httpGet(`http://${String(pod.ip)}:${String(SAMPLE_APP_PORT)}/hold?mb=64`);
  }
  await cluster.waitFor(
    'Prometheus 3 to scrape the three exporters and the operator',
    async (note) => {
      const up = await prom.instant('up == 1');
      note(up.map((s) => s.metric));
      const pods = new Set(up.map((s) => s.metric.pod));
      const all = [...webPods, ...anonPods].every((p) => pods.has(p.name));
      return all && up.some((s) => s.metric.namespace === OPERATOR_NS) ? true : undefined;
    },
    { timeoutMs: 120_000 },
  );
  // The API server goes away and comes back: the operator's informers fail and recover.
  await cluster.apiServer.restart({ downForMs: 1000 });
  const failures = operatorMetricNames().families.informerFailures;
  await cluster.waitFor(
    'Prometheus to see the informer failures',
    async () => ((await prom.instant(failures)).length > 0 ? true : undefined),
    { timeoutMs: 90_000 },
  );
  // Samples for every rate window of the queries while our operator works: an idle
  // operator reconciles nothing, and its reconcile rates and latency quantiles would rightly
  // be empty.
  keepOperatorBusy(shop.name);
  await sleep(25_000);
}, 600_000);

afterAll(async () => {
  for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
}, 300_000);

describe('Prometheus 3 through prometheus-operator', () => {
  test('runs the images built here, configured by the operator from the Prometheus resource', async () => {
    const pod = JSON.parse(
      await kubectl(['get', 'pod', '-n', 'monitoring', 'prometheus-k8s-0', '-o', 'json']),
    ) as { spec: { containers: { name: string; image: string; imagePullPolicy: string }[] } };
    const byName = new Map(pod.spec.containers.map((c) => [c.name, c]));
    expect(byName.get('prometheus')?.image).toBe(node.images.prometheus);
    expect(byName.get('config-reloader')?.image).toBe(node.images.configReloader);
    for (const c of pod.spec.containers) expect(c.imagePullPolicy).toBe('Never');
    expect((await prom.buildInfo()).version).toMatch(/^3\./);
  });

  test('discovers every injected pod from our PodMonitor and scrapes it, with namespace and pod labels', async () => {
    const targets = (await prom.activeTargets()).filter((t) =>
      t.scrapePool.startsWith(`podMonitor/${shop.name}/sidecar-monitor-`),
    );
    const pods = [...webPods, ...anonPods];
    expect(targets.map((t) => t.labels.pod).sort()).toEqual(pods.map((p) => p.name).sort());
    for (const pod of pods) {
      const target = targets.find((t) => t.labels.pod === pod.name);
      expect(target?.health, JSON.stringify(target)).toBe('up');
      expect(target?.lastError).toBe('');
      expect(target?.scrapeUrl).toBe(`http://${String(pod.ip)}:${String(EXPORTER_PORT)}/metrics`);
      const up = await prom.instant(`up{namespace="${shop.name}", pod="${pod.name}"}`);
      expect(up.map((s) => s.values[0]?.[1])).toEqual(['1']);
    }
    // The exporter's own `container` label survives (honorLabels): the app's name, not ours.
    // (Only `web`'s: `anon`'s exporter cannot read its containers' cgroups, by design.)
    const workingSet = await prom.instant(
      `${METRICS.containerMemoryWorkingSetBytes.name}{namespace="${shop.name}"}`,
    );
    expect(new Set(workingSet.map((s) => s.metric.container))).toEqual(new Set(['web']));
    expect(new Set(workingSet.map((s) => s.metric.pod))).toEqual(
      new Set(webPods.map((p) => p.name)),
    );
    const info = await prom.instant(`${METRICS.workloadInfo.name}{namespace="${shop.name}"}`);
    expect(new Set(info.map((s) => s.metric.pod))).toEqual(new Set(pods.map((p) => p.name)));
    expect(workingSet.some((s) => 'exported_container' in s.metric)).toBe(false);
  });

  test("scrapes our operator's metrics through the chart's ServiceMonitor", async () => {
    const targets = (await prom.activeTargets()).filter((t) =>
      t.scrapePool.startsWith(`serviceMonitor/${OPERATOR_NS}/${FULLNAME}/`),
    );
    expect(targets.length).toBeGreaterThan(0);
    for (const t of targets) expect([t.health, t.lastError]).toEqual(['up', '']);
    const reconciles = await prom.instant(
      `${operatorMetricNames().families.reconciles}{namespace="${OPERATOR_NS}"}`,
    );
    expect(reconciles.length).toBeGreaterThan(0);
    expect(reconciles[0]?.metric.pod).toMatch(new RegExp(`^${FULLNAME}-`));
  });

  test("negotiates our exposition with Prometheus 3's scrape protocols", async () => {
    // Recorded by the relay (startRelay), scraped with the same settings as the PodMonitor's job.
    const up = await cluster.waitFor(
      'the relayed target to be scraped',
      async (note) => {
        note({
          targets: (await prom.activeTargets()).map((t) => [t.scrapePool, t.health, t.lastError]),
        });
        const s = await prom.instant(`up{instance="${relayInstance}"} == 1`);
        return s.length > 0 && seen.accept !== undefined ? s : undefined;
      },
      { timeoutMs: 120_000 },
    );
    expect(up[0]?.values[0]?.[1]).toBe('1');
    // Prometheus 3 prefers OpenMetrics and offers the text format 0.0.4 too ...
    const offered = (seen.accept ?? '').split(',').map((v) => v.split(';q=')[0]!.trim());
    expect(offered[0]).toMatch(/^application\/openmetrics-text;version=1\.0\.0/);
    expect(offered).toContain('text/plain;version=0.0.4');
    // ... and we answer with one of its offers, which it parses without falling back.
    const answered = (seen.contentType ?? '').replace(/\s/g, '').split(';');
    const offer = offered.find((o) =>
      o
        .replace(/\s/g, '')
        .split(';')
        .every((p) => p.startsWith('escaping=') || answered.includes(p)),
    );
    expect(offer, `answered ${String(seen.contentType)} to ${String(seen.accept)}`).toBeDefined();
    const relayed = (await prom.activeTargets()).find((t) => t.labels.instance === relayInstance);
    expect([relayed?.health, relayed?.lastError]).toEqual(['up', '']);
    // The PodMonitor's job proposes the same protocols (Prometheus's defaults either way).
    const config = parse(await prom.config()) as {
      scrape_configs: { job_name: string; scrape_protocols?: string[] }[];
    };
    const jobs = config.scrape_configs;
    const podJob = jobs.find((j) => j.job_name.startsWith(`podMonitor/${shop.name}/`));
    const relayJob = jobs.find((j) => j.job_name.startsWith('scrapeConfig/'));
    expect(relayJob).toBeDefined();
    expect(podJob?.scrape_protocols).toEqual(relayJob?.scrape_protocols);
  });
});

/** The value a single-value variable takes in a view of this scene, when Prometheus offers it. */
function preferred(name: string, workload: string): readonly string[] {
  switch (name) {
    case 'namespace':
      return [shop.name, OPERATOR_NS];
    case 'workload':
      return [workload];
    default:
      return [];
  }
}

async function resolveVariables(
  defs: readonly VariableDef[],
  workload: string,
): Promise<{ ctx: Interpolation; resolved: Record<string, readonly string[]> }> {
  const variables = new Map<string, { def: VariableDef; selection: Selection }>();
  const resolved: Record<string, readonly string[]> = {};
  const ctx: Interpolation = {
    variables,
    rateInterval: RATE_INTERVAL,
    interval: '2s',
    range: `${String(RANGE_SECONDS)}s`,
  };
  for (const def of defs) {
    if (def.type === 'datasource') continue;
    const lv = parseLabelValues(def.query ?? '');
    if (!lv) throw new Error(`variable ${def.name}: not a label_values query: ${def.query ?? ''}`);
    const values = await prom.labelValues(interpolate(lv.selector, ctx), lv.label);
    resolved[def.name] = values;
    if (values.length === 0) break;
    const pick = preferred(def.name, workload).find((v) => values.includes(v)) ?? values[0]!;
    variables.set(def.name, {
      def,
      selection: def.multi || def.includeAll ? { all: values } : { values: [pick] },
    });
  }
  return { ctx, resolved };
}

const PSI = [
  METRICS.containerPressureCpuWaiting,
  METRICS.containerPressureCpuStalled,
  METRICS.containerPressureMemoryWaiting,
  METRICS.containerPressureMemoryStalled,
  METRICS.containerPressureIoWaiting,
  METRICS.containerPressureIoStalled,
].map((m) => m.name);

/**
 * Why a query must be empty on this node, if it must: what the exporter documents as absent
 * (PSI on cgroup v1, a thread limit where the pod has none) stays absent on real pods too.
 */
async function mustBeEmpty(expr: string): Promise<string | undefined> {
  if (PSI.some((name) => expr.includes(name)) && !existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    return 'PSI per cgroup exists on cgroup v2 only, and this node runs cgroup v1';
  }
  if (expr.includes(METRICS.containerThreadsMax.name)) {
    const configz = JSON.parse(
      await kubectl(['get', '--raw', `/api/v1/nodes/${node.name}/proxy/configz`]),
    ) as { kubeletconfig?: { podPidsLimit?: number } };
    const limit = configz.kubeletconfig?.podPidsLimit ?? -1;
    if (limit <= 0) return 'the kubelet sets no pod pids limit, so pids.max is unlimited';
  }
  return undefined;
}

/** The workloads of the scene: `web` (throttled, a failing probe) and `anon` (degraded). */
const WORKLOADS = ['web', 'anon'] as const;

describe.each(DASHBOARDS.map((d) => ({ file: d.file, dashboard: d.build() })))(
  'dashboard $file against the real pods',
  ({ dashboard }: { dashboard: ClassicDashboard }) => {
    const views: { ctx: Interpolation; resolved: Record<string, readonly string[]> }[] = [];

    beforeAll(async () => {
      for (const workload of WORKLOADS) {
        views.push(await resolveVariables(variablesOf(dashboard), workload));
      }
    });

    it('every template variable has values', () => {
      const { resolved } = views[0]!;
      for (const def of variablesOf(dashboard).filter((v) => v.type !== 'datasource')) {
        expect(resolved[def.name], `$${def.name}: ${def.query ?? ''}`).toBeDefined();
        expect(resolved[def.name], `$${def.name}: ${def.query ?? ''}`).not.toEqual([]);
      }
      if (resolved.pod && resolved.workload) expect(resolved.pod).toHaveLength(webPods.length);
    });

    // As a user would look: with the workload variable on `web` or on `anon`.
    it.each(queriesOf(dashboard))('$panel [$refId] returns data', async (q) => {
      const exprs = views.map(({ ctx }) => interpolate(q.expr, ctx));
      let data = false;
      for (const expr of exprs) {
        const series = q.instant
          ? await prom.instant(expr)
          : await prom.range(expr, RANGE_SECONDS, 2);
        data ||= hasFiniteValue(series);
      }
      const empty = await mustBeEmpty(q.expr);
      if (empty === undefined) expect(data, `no data for ${exprs.join(' nor ')}`).toBe(true);
      else expect(data, `data where none can be: ${empty}`).toBe(false);
    });
  },
);

describe('alert rules on real data', () => {
  test("the chart's PrometheusRule is loaded and every rule evaluates without error", async () => {
    const groups = await cluster.waitFor(
      'the PrometheusRule to be loaded and evaluated',
      async () => {
        const g = (await prom.rules()).filter((x) => !x.name.endsWith('.scenario'));
        const rules = g.flatMap((x) => x.rules);
        return rules.length === shipped.length && rules.every((r) => r.health !== 'unknown')
          ? rules
          : undefined;
      },
    );
    expect(groups.map((r) => r.name).sort()).toEqual(shipped.map((r) => r.alert).sort());
    for (const rule of groups)
      expect([rule.name, rule.health, rule.lastError ?? '']).toEqual([rule.name, 'ok', '']);
    // The expressions, as written, also evaluate as queries.
    for (const rule of shipped) await expect(prom.instant(rule.expr)).resolves.toBeDefined();
  });

  test('a failing probe fires SidecarMonitorProbeFailing for that pod and probe', async () => {
    // (The relay's copy of one exporter's series carries no pod: those alerts are not ours.)
    const firing = (
      await firingAlerts('SidecarMonitorProbeFailing', (a) => a.labels.namespace === shop.name)
    ).filter((a) => a.labels.namespace === shop.name);
    const probes = firing.filter((a) => a.labels.probe === 'api-ready').map((a) => a.labels.pod);
    expect(probes.sort()).toEqual(webPods.map((p) => p.name).sort());
    // The app's own readiness endpoint answers: no alert for it.
    expect(firing.some((a) => a.labels.probe !== 'api-ready')).toBe(false);
    // The shipped rule (for: 5m) holds it pending meanwhile.
    const shippedRule = (await prom.rules())
      .filter((g) => !g.name.endsWith('.scenario'))
      .flatMap((g) => g.rules)
      .find((r) => r.name === 'SidecarMonitorProbeFailing');
    expect(['pending', 'firing']).toContain(shippedRule?.state);
  });

  test('a frozen exporter fires SidecarMonitorExporterDown for its pod, and only that one', async () => {
    const victim = webPods[1]!;
    const status = containerStatus(
      await cluster.get({ apiVersion: 'v1', kind: 'Pod', namespace: shop.name, name: victim.name }),
      EXPORTER_CONTAINER,
    );
    const pid = await containerPid(cluster.info, status?.containerID ?? '');
    // Stopped, not killed: the target stays discovered and times out, as a hung exporter does
    // (a dead one restarts within seconds; its liveness probe gives a hung one 2 minutes).
    process.kill(pid, 'SIGSTOP');
    try {
      const firing = await firingAlerts('SidecarMonitorExporterDown');
      expect(firing.map((a) => [a.labels.namespace, a.labels.pod])).toEqual([
        [shop.name, victim.name],
      ]);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await cluster.waitFor('the exporter to be scraped again', async () => {
      const up = await prom.instant(`up{pod="${victim.name}"} == 1`);
      return up.length > 0 ? true : undefined;
    });
  });
});

async function firingAlerts(
  name: string,
  ours: (alert: { labels: Record<string, string> }) => boolean = () => true,
): Promise<{ labels: Record<string, string> }[]> {
  return cluster.waitFor(
    `${name} to fire (scenario rules)`,
    async (note) => {
      const groups = (await prom.rules()).filter((g) => g.name.endsWith('.scenario'));
      const rule = groups.flatMap((g) => g.rules).find((r) => r.name === name);
      note(rule);
      const firing = (rule?.alerts ?? []).filter((a) => a.state === 'firing');
      return firing.some(ours) ? firing : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

describe('promtool of Prometheus 3', () => {
  test('checks the metrics of a real exporter and the operator, and our rules, cleanly', async () => {
    const promtool = stackBinaries!.promtool;
    const run = (args: string[], input?: string): string =>
      execFileSync(promtool, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    expect(run(['--version'])).toMatch(/^promtool, version 3\./);
    for (const pod of [...webPods, ...anonPods]) {
      const body = (await httpGet(`http://${String(pod.ip)}:${String(EXPORTER_PORT)}/metrics`))
        .body;
      expect(run(['check', 'metrics'], body)).toBe('');
    }
    expect(run(['check', 'rules', RULES_FILE])).toMatch(/SUCCESS: \d+ rules found/);
  });
});
