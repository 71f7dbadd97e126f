// What the dashboards query and how they are laid out: only metrics that exist, only
// variables that are defined, every topic the issue asks for, and a sane grid.
import { describe, expect, it } from 'vitest';
import { DASHBOARDS } from '../../../charts/sidecar-monitor/dashboards/index.ts';
import { operatorMetricNames } from '../../../charts/sidecar-monitor/dashboards/operator-metrics.ts';
import { METRICS, metricByName, PREFIX } from '../../../exporter/metrics/catalog.ts';
import { panelsOf, queriesOf, referencedVariables, variablesOf } from './queries.ts';

const built = DASHBOARDS.map((d) => ({ file: d.file, dashboard: d.build() }));
const byUid = (uid: string) => {
  const found = built.find((b) => b.dashboard.uid === uid);
  if (!found) throw new Error(`no dashboard ${uid}`);
  return found.dashboard;
};

// The operator's families with their types, from its own registry.
const operatorTypes = operatorMetricNames().types;
const typeOf = (name: string): string | undefined =>
  metricByName(name)?.type ?? operatorTypes.get(name);

/**
 * Families a query names: its sidecar_monitor_* tokens, with a histogram's _bucket, _count
 * and _sum series mapped to the histogram (undefined when the token is no family at all).
 */
function familiesIn(expr: string): (string | undefined)[] {
  return [...expr.matchAll(new RegExp(`\\b${PREFIX}\\w+`, 'g'))].map(([token]) => {
    if (typeOf(token) !== undefined) return token;
    const base = token.replace(/_(bucket|count|sum)$/, '');
    return typeOf(base) === 'histogram' ? base : undefined;
  });
}

describe.each(built)('$file', ({ dashboard }) => {
  const queries = queriesOf(dashboard);
  const variables = variablesOf(dashboard);

  it('has a stable uid, a title and the sidecar-monitor tag', () => {
    expect(dashboard.uid).toMatch(/^sidecar-monitor-[a-z-]+$/);
    expect(dashboard.uid!.length).toBeLessThanOrEqual(40);
    expect(dashboard.title).toMatch(/^sidecar-monitor \/ /);
    expect(dashboard.tags).toContain('sidecar-monitor');
  });

  it('queries only metric families the exporter exposes', () => {
    for (const q of queries) {
      expect(familiesIn(q.expr), `${q.panel}: ${q.expr}`).not.toContain(undefined);
    }
  });

  it('queries histograms only through their _bucket, _count and _sum series', () => {
    const histograms = [
      ...Object.values(METRICS)
        .filter((m) => m.type === 'histogram')
        .map((m) => m.name),
      ...[...operatorTypes].filter(([, type]) => type === 'histogram').map(([name]) => name),
    ];
    for (const q of queries) {
      for (const h of histograms) {
        const bare = new RegExp(`\\b${h}\\b(?!_)`);
        expect(bare.test(q.expr), `${q.panel}: ${q.expr}`).toBe(false);
      }
    }
  });

  it('refers only to variables it defines, and defines a datasource variable first', () => {
    const names = variables.map((v) => v.name);
    expect(names[0]).toBe('datasource');
    for (const q of queries) {
      for (const v of referencedVariables(q.expr)) expect(names, `${q.panel}: $${v}`).toContain(v);
    }
    // A variable only refers to variables defined before it (Grafana resolves in order).
    variables.forEach((v, i) => {
      for (const ref of referencedVariables(v.query ?? '')) {
        expect(names.slice(0, i), `${v.name} → $${ref}`).toContain(ref);
      }
    });
  });

  it('sends every panel to the selected data source', () => {
    for (const p of panelsOf(dashboard)) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of (p.targets ?? []) as { datasource?: unknown }[]) {
        expect(t.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      }
    }
  });

  it('gives each panel a unique id, a description and at least one query', () => {
    const ids = (dashboard.panels ?? []).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panelsOf(dashboard)) {
      expect(p.description, p.title).toBeTruthy();
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
  });

  it('lays panels out on the 24-column grid without overlap', () => {
    const cells = new Set<string>();
    for (const p of dashboard.panels ?? []) {
      const g = p.gridPos!;
      expect(g.x + g.w, p.title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const cell = `${x},${y}`;
          expect(cells.has(cell), `${p.title} overlaps at ${cell}`).toBe(false);
          cells.add(cell);
        }
      }
    }
  });
});

describe('coverage of what the issue asks for', () => {
  const usedIn = (uid: string) => new Set(queriesOf(byUid(uid)).flatMap((q) => familiesIn(q.expr)));

  it('uids are unique', () => {
    const uids = built.map((b) => b.dashboard.uid);
    expect(new Set(uids).size).toBe(uids.length);
  });

  it('workload resources: CPU vs request and limit, throttling, working set vs limit, OOM, PSI, IO, fds, threads', () => {
    const used = usedIn('sidecar-monitor-workload');
    for (const m of [
      METRICS.containerCpuUsageSeconds,
      METRICS.containerRequestsCpuCores,
      METRICS.containerLimitsCpuCores,
      METRICS.containerCpuCfsThrottledPeriods,
      METRICS.containerMemoryWorkingSetBytes,
      METRICS.containerLimitsMemoryBytes,
      METRICS.containerOomEvents,
      METRICS.containerPressureCpuWaiting,
      METRICS.containerPressureMemoryWaiting,
      METRICS.containerPressureIoWaiting,
      METRICS.containerFsReadsBytes,
      METRICS.processOpenFds,
      METRICS.containerThreads,
    ]) {
      expect(used, m.name).toContain(m.name);
    }
    expect(variablesOf(byUid('sidecar-monitor-workload')).map((v) => v.name)).toEqual([
      'datasource',
      'namespace',
      'workload',
      'pod',
      'container',
    ]);
  });

  it('health and latency: success ratio, latency percentiles and heatmap, status codes, failures by reason', () => {
    const dashboard = byUid('sidecar-monitor-health');
    const used = usedIn('sidecar-monitor-health');
    for (const m of [
      METRICS.probeDurationSeconds,
      METRICS.probeStatusCode,
      METRICS.probeFailures,
    ]) {
      expect(used, m.name).toContain(m.name);
    }
    const panels = panelsOf(dashboard);
    expect(panels.some((p) => p.type === 'heatmap')).toBe(true);
    expect(queriesOf(dashboard).some((q) => q.expr.startsWith('histogram_quantile(0.99'))).toBe(
      true,
    );
    expect(queriesOf(dashboard).some((q) => /by \(probe, reason\)/.test(q.expr))).toBe(true);
  });

  it('sidecar cost: per pod and fleet-wide', () => {
    const queries = queriesOf(byUid('sidecar-monitor-cost'));
    const cpu = METRICS.runtimeProcessCpuSeconds.name;
    expect(queries.some((q) => q.expr.includes(cpu) && q.expr.includes('pod=~"$pod"'))).toBe(true);
    expect(queries.some((q) => q.expr.includes(`rate(${cpu}[`))).toBe(true);
  });

  it('operator: reconciles by result, durations, queue depth, workloads injected, API requests', () => {
    const used = usedIn('sidecar-monitor-operator');
    const op = operatorMetricNames().families;
    for (const name of [
      op.reconciles,
      op.reconcileDuration,
      op.queueDepth,
      op.workloads,
      op.apiRequests,
      op.leader,
    ]) {
      expect(used, name).toContain(name);
    }
  });
});
