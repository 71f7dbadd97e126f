// The alert rules' unit-test cases for promtool: each alert fires on the series that should
// trigger it (with its labels and rendered annotations) and stays quiet on near misses.
// Shared by the Prometheus 2 run (test/unit/alerts/rules.test.ts, Debian's promtool) and the
// Prometheus 3 run (test/e2e/promtool.test.ts, promtool built from its module).
import {
  ruleGroups,
  THRESHOLDS,
  type AlertRule,
} from '../../../charts/sidecar-monitor/dashboards/alert-rules.ts';
import { operatorMetricNames } from '../../../charts/sidecar-monitor/dashboards/operator-metrics.ts';
import { METRICS as M } from '../../../exporter/metrics/catalog.ts';

export const rules = new Map<string, AlertRule>(
  ruleGroups().flatMap((g) => g.rules.map((r) => [r.alert, r] as const)),
);
const op = operatorMetricNames().families;

type Labels = Record<string, string>;

interface Series {
  readonly name: string;
  readonly labels: Labels;
  /** promtool expanding notation, e.g. `0+10x30`, `1x5 _x10`. */
  readonly values: string;
}

export interface Case {
  readonly alert: string;
  readonly name: string;
  readonly series: readonly Series[];
  readonly at: string;
  /** Expected firing alerts: their labels (severity added) and `$value` as rendered. */
  readonly fires: readonly { readonly labels: Labels; readonly value?: string }[];
}

const EXPORTER: Labels = {
  job: 'podmonitor/shop/web',
  instance: '10.1.2.3:9464',
  namespace: 'shop',
  pod: 'web-7d4b9c-x2x4k',
};
const OPERATOR: Labels = {
  job: 'sidecar-monitor',
  instance: '10.1.9.9:8080',
  namespace: 'sidecar-monitor',
  pod: 'sidecar-monitor-5f6d7-abcde',
};
const APP = { ...EXPORTER, container: 'app' };
const PROBE = { ...EXPORTER, probe: 'readiness' };
const where = (l: Labels, keys: readonly string[]) =>
  Object.fromEntries(keys.map((k) => [k, l[k]!]));

const GiB = 2 ** 30;
const bucket = (le: string, values: string): Series => ({
  name: `${M.probeDurationSeconds.name}_bucket`,
  labels: { ...PROBE, le },
  values,
});

export const cases: Case[] = [
  {
    alert: 'SidecarMonitorProbeFailing',
    name: 'fires after 5 minutes of failed attempts',
    series: [{ name: M.probeSuccess.name, labels: PROBE, values: '0x10' }],
    at: '6m',
    fires: [{ labels: where(PROBE, ['namespace', 'pod', 'probe']) }],
  },
  {
    alert: 'SidecarMonitorProbeFailing',
    name: 'stays pending for a 4-minute failure',
    series: [{ name: M.probeSuccess.name, labels: PROBE, values: '0x4 1x6' }],
    at: '4m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorProbeFailing',
    name: 'is quiet once the probe passes again',
    series: [{ name: M.probeSuccess.name, labels: PROBE, values: '0x6 1x4' }],
    at: '9m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorProbeLatencyHigh',
    name: `fires when p99 stays above ${THRESHOLDS.probeLatencySeconds}s`,
    series: [
      bucket('0.5', '0x30'),
      bucket('1', '0x30'),
      bucket('2.5', '0+10x30'),
      bucket('+Inf', '0+10x30'),
    ],
    at: '20m',
    // Every attempt in (1s, 2.5s]: p99 interpolates to 1 + 1.5 × 0.99.
    fires: [{ labels: where(PROBE, ['namespace', 'pod', 'probe']), value: '2.485s' }],
  },
  {
    alert: 'SidecarMonitorProbeLatencyHigh',
    name: 'is quiet when attempts answer in under half a second',
    series: [
      bucket('0.5', '0+10x30'),
      bucket('1', '0+10x30'),
      bucket('2.5', '0+10x30'),
      bucket('+Inf', '0+10x30'),
    ],
    at: '20m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorCPUThrottlingHigh',
    name: 'fires when half of the periods are throttled',
    series: [
      { name: M.containerCpuCfsPeriods.name, labels: APP, values: '0+600x30' },
      { name: M.containerCpuCfsThrottledPeriods.name, labels: APP, values: '0+300x30' },
    ],
    at: '20m',
    fires: [{ labels: where(APP, ['namespace', 'pod', 'container']), value: '50%' }],
  },
  {
    alert: 'SidecarMonitorCPUThrottlingHigh',
    name: 'is quiet at 10% throttled',
    series: [
      { name: M.containerCpuCfsPeriods.name, labels: APP, values: '0+600x30' },
      { name: M.containerCpuCfsThrottledPeriods.name, labels: APP, values: '0+60x30' },
    ],
    at: '20m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorMemoryNearLimit',
    name: 'fires at 95% of the limit',
    series: [
      {
        name: M.containerMemoryWorkingSetBytes.name,
        labels: APP,
        values: `${0.95 * GiB}x30`,
      },
      { name: M.containerSpecMemoryLimitBytes.name, labels: APP, values: `${GiB}x30` },
    ],
    at: '20m',
    fires: [{ labels: where(APP, ['namespace', 'pod', 'container']), value: '95%' }],
  },
  {
    alert: 'SidecarMonitorMemoryNearLimit',
    name: 'is quiet at half the limit',
    series: [
      { name: M.containerMemoryWorkingSetBytes.name, labels: APP, values: `${0.5 * GiB}x30` },
      { name: M.containerSpecMemoryLimitBytes.name, labels: APP, values: `${GiB}x30` },
    ],
    at: '20m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorMemoryNearLimit',
    name: 'is quiet for a container without a memory limit (no limit series)',
    series: [
      { name: M.containerMemoryWorkingSetBytes.name, labels: APP, values: `${64 * GiB}x30` },
    ],
    at: '20m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorContainerOOMKilled',
    name: 'fires as soon as an OOM kill is counted',
    series: [{ name: M.containerOomEvents.name, labels: APP, values: '0x10 1x10' }],
    at: '12m',
    fires: [{ labels: APP, value: '1' }],
  },
  {
    alert: 'SidecarMonitorContainerOOMKilled',
    name: 'is quiet without OOM kills, and again 10 minutes after one',
    series: [{ name: M.containerOomEvents.name, labels: APP, values: '0x10 1x20' }],
    at: '25m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorExporterDown',
    name: 'fires for an exporter target that stopped answering',
    series: [
      { name: 'up', labels: EXPORTER, values: '1x5 0x10' },
      { name: M.buildInfo.name, labels: { ...EXPORTER, version: '0.1.0' }, values: '1x5 _x10' },
    ],
    at: '12m',
    fires: [{ labels: EXPORTER }],
  },
  {
    alert: 'SidecarMonitorExporterDown',
    name: 'ignores other targets that are down',
    series: [
      { name: 'up', labels: EXPORTER, values: '1x15' },
      { name: M.buildInfo.name, labels: { ...EXPORTER, version: '0.1.0' }, values: '1x15' },
      { name: 'up', labels: { ...EXPORTER, instance: '10.1.2.4:8080' }, values: '0x15' },
    ],
    at: '12m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorExporterDegraded',
    name: 'fires after 30 minutes of permission_denied',
    series: [
      {
        name: M.collectorDegraded.name,
        labels: { ...APP, collector: 'process', reason: 'permission_denied' },
        values: '1x40',
      },
    ],
    at: '31m',
    fires: [
      {
        labels: {
          ...where(APP, ['namespace', 'pod', 'container']),
          collector: 'process',
          reason: 'permission_denied',
        },
      },
    ],
  },
  {
    alert: 'SidecarMonitorExporterDegraded',
    name: 'is quiet once the collector recovered',
    series: [
      {
        name: M.collectorDegraded.name,
        labels: { ...APP, collector: 'process', reason: 'permission_denied' },
        values: '1x20 0x20',
      },
    ],
    at: '35m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorExporterSeriesDropped',
    name: 'fires when series are dropped',
    series: [{ name: M.seriesDropped.name, labels: EXPORTER, values: '0x5 10+10x10' }],
    at: '10m',
    fires: [{ labels: EXPORTER, value: '50' }],
  },
  {
    alert: 'SidecarMonitorExporterSeriesDropped',
    name: 'is quiet while nothing is dropped',
    series: [{ name: M.seriesDropped.name, labels: EXPORTER, values: '0x20' }],
    at: '10m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorOperatorReconcileErrors',
    name: 'fires when a third of the reconciles fail',
    series: [
      {
        name: op.reconciles,
        labels: { ...OPERATOR, controller: 'sidecarmonitor', result: 'success' },
        values: '0+100x30',
      },
      {
        name: op.reconciles,
        labels: { ...OPERATOR, controller: 'sidecarmonitor', result: 'error' },
        values: '0+50x30',
      },
    ],
    at: '25m',
    fires: [{ labels: where(OPERATOR, ['namespace', 'job']), value: '33.33%' }],
  },
  {
    alert: 'SidecarMonitorOperatorReconcileErrors',
    name: 'is quiet at 1% errors',
    series: [
      {
        name: op.reconciles,
        labels: { ...OPERATOR, controller: 'sidecarmonitor', result: 'success' },
        values: '0+100x30',
      },
      {
        name: op.reconciles,
        labels: { ...OPERATOR, controller: 'sidecarmonitor', result: 'error' },
        values: '0+1x30',
      },
    ],
    at: '25m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorOperatorReconcileErrors',
    name: 'is quiet when no reconcile ever failed (no error series)',
    series: [
      {
        name: op.reconciles,
        labels: { ...OPERATOR, controller: 'sidecarmonitor', result: 'success' },
        values: '0+100x30',
      },
    ],
    at: '25m',
    fires: [],
  },
  {
    alert: 'SidecarMonitorRolloutFailed',
    name: 'fires when a workload is RolloutFailed',
    series: [
      { name: op.workloads, labels: { ...OPERATOR, state: 'Injected' }, values: '5x10' },
      { name: op.workloads, labels: { ...OPERATOR, state: 'RolloutFailed' }, values: '0 0 2x8' },
    ],
    at: '3m',
    fires: [{ labels: where(OPERATOR, ['namespace', 'job']), value: '2' }],
  },
  {
    alert: 'SidecarMonitorRolloutFailed',
    name: 'is quiet while every workload is injected',
    series: [
      { name: op.workloads, labels: { ...OPERATOR, state: 'Injected' }, values: '5x10' },
      { name: op.workloads, labels: { ...OPERATOR, state: 'RolloutFailed' }, values: '0x10' },
    ],
    at: '3m',
    fires: [],
  },
];

function selector(s: Series): string {
  const labels = Object.entries(s.labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ');
  return `${s.name}{${labels}}`;
}

/** Fills `{{ $labels.x }}` and `{{ $value | ... }}` the way the expected alert renders. */
function render(template: string, labels: Labels, value: string | undefined): string {
  return template.replace(
    /\{\{\s*\$(labels\.(\w+)|value)[^}]*\}\}/g,
    (whole, _m, label?: string) => {
      if (label !== undefined) return labels[label] ?? '';
      if (value === undefined)
        throw new Error(`the case must give the rendered $value for ${whole}`);
      return value;
    },
  );
}

export function promtoolTest(c: Case): unknown {
  const rule = rules.get(c.alert);
  if (!rule) throw new Error(`no rule ${c.alert}`);
  return {
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: c.series.map((s) => ({ series: selector(s), values: s.values })),
        alert_rule_test: [
          {
            eval_time: c.at,
            alertname: c.alert,
            exp_alerts: c.fires.map((f) => ({
              exp_labels: { ...f.labels, severity: rule.labels.severity },
              exp_annotations: {
                summary: render(rule.annotations.summary, f.labels, f.value),
                description: render(rule.annotations.description, f.labels, f.value),
              },
            })),
          },
        ],
      },
    ],
  };
}
