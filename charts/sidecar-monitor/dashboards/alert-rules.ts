// Alert rules as code: the one source of the plain Prometheus rules file
// (rules/sidecar-monitor.rules.yaml, for any Prometheus) and of the chart's optional
// PrometheusRule, which embeds that same file. Metric names come from the exporter's
// catalog and the operator's registry, never spelled here.
import { METRICS, type MetricSpec } from '../../../exporter/metrics/catalog.ts';
import type { WorkloadState } from '../../../operator/api/v1alpha1.ts';
import { operatorMetricNames } from './operator-metrics.ts';

export type Severity = 'critical' | 'warning' | 'info';

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: Severity };
  readonly annotations: { readonly summary: string; readonly description: string };
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

/** Thresholds in one place, so the docs and the unit tests use the same numbers. */
export const THRESHOLDS = {
  probeLatencySeconds: 1,
  cpuThrottledRatio: 0.25,
  memoryOfLimitRatio: 0.9,
  reconcileErrorRatio: 0.1,
} as const;

const M = METRICS;
const histogram = (m: MetricSpec, series: 'bucket' | 'count' | 'sum') => `${m.name}_${series}`;
const WHERE_CONTAINER =
  '{{ $labels.namespace }}/{{ $labels.pod }} container {{ $labels.container }}';
const WHERE_PROBE = '{{ $labels.namespace }}/{{ $labels.pod }} probe {{ $labels.probe }}';
const percent = (ratio: number) => `${Math.round(ratio * 100)}%`;

function workloadRules(): AlertRule[] {
  const C = 'namespace, pod, container';
  return [
    {
      alert: 'SidecarMonitorProbeFailing',
      expr: `min by (namespace, pod, probe) (${M.probeSuccess.name}) == 0`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'A health endpoint of a pod has been failing for 5 minutes.',
        description: `Every attempt of ${WHERE_PROBE} failed for 5 minutes, probed on loopback from inside the pod. The reason is in sidecar_monitor_probe_failures_total (timeout, refused, bad_status, ...; for gRPC health checks not_serving, service_unknown, unimplemented), the probe's type in sidecar_monitor_probe_info, and both on the "Health and latency" dashboard.`,
      },
    },
    {
      alert: 'SidecarMonitorProbeLatencyHigh',
      expr: `histogram_quantile(0.99, sum by (namespace, pod, probe, le) (rate(${histogram(M.probeDurationSeconds, 'bucket')}[5m]))) > ${THRESHOLDS.probeLatencySeconds}`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'A health endpoint answers slowly.',
        description: `The 99th percentile latency of ${WHERE_PROBE} has been above ${THRESHOLDS.probeLatencySeconds}s for 10 minutes (now {{ $value | humanizeDuration }}). A loopback health check this slow usually means a starved or overloaded app; check CPU throttling on the "Workload resources" dashboard.`,
      },
    },
    {
      alert: 'SidecarMonitorCPUThrottlingHigh',
      expr: `sum by (${C}) (rate(${M.containerCpuCfsThrottledPeriods.name}[5m])) / sum by (${C}) (rate(${M.containerCpuCfsPeriods.name}[5m])) > ${THRESHOLDS.cpuThrottledRatio}`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'A container is throttled by its CPU limit.',
        description: `${WHERE_CONTAINER} was throttled in {{ $value | humanizePercentage }} of CFS periods for 15 minutes (threshold ${percent(THRESHOLDS.cpuThrottledRatio)}). Raise or remove its CPU limit, or reduce its load.`,
      },
    },
    {
      alert: 'SidecarMonitorMemoryNearLimit',
      expr: `max by (${C}) (${M.containerMemoryWorkingSetBytes.name}) / max by (${C}) (${M.containerSpecMemoryLimitBytes.name}) > ${THRESHOLDS.memoryOfLimitRatio}`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'A container is close to its memory limit.',
        description: `The working set of ${WHERE_CONTAINER} has been at {{ $value | humanizePercentage }} of its memory limit for 15 minutes (threshold ${percent(THRESHOLDS.memoryOfLimitRatio)}). Next comes reclaim of page cache, then the OOM killer: raise the limit or find the growth.`,
      },
    },
    {
      alert: 'SidecarMonitorContainerOOMKilled',
      expr: `increase(${M.containerOomEvents.name}[10m]) > 0`,
      for: '0m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'The OOM killer killed a process of a container.',
        description: `The kernel OOM-killed {{ $value | humanize }} process(es) of ${WHERE_CONTAINER} in the last 10 minutes. A killed main process restarts the container: raise its memory limit or find the growth.`,
      },
    },
  ];
}

function exporterRules(): AlertRule[] {
  return [
    {
      alert: 'SidecarMonitorExporterDown',
      // `up` has no metric of ours to select on, so pair it with targets that exposed our
      // build info in the last hour: works with PodMonitors and annotation-based scraping.
      expr: `up == 0 and on (job, instance) max_over_time(${M.buildInfo.name}[1h])`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Prometheus cannot scrape an injected exporter.',
        description:
          'The sidecar-monitor exporter of {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.instance }}) has not answered scrapes for 5 minutes, so its container and probe metrics are missing. Check the sidecar-monitor-exporter container of the pod (restarts, OOM kills, its memory limit).',
      },
    },
    {
      alert: 'SidecarMonitorExporterDegraded',
      expr: `max by (namespace, pod, collector, container, reason) (${M.collectorDegraded.name}) == 1`,
      for: '30m',
      labels: { severity: 'info' },
      annotations: {
        summary: "An exporter cannot read some of a container's data.",
        description:
          'The {{ $labels.collector }} collector of {{ $labels.namespace }}/{{ $labels.pod }} cannot read data of container {{ $labels.container }} ({{ $labels.reason }}); those series are absent. permission_denied: the exporter runs as another user or group than the app; set runAsUser and runAsGroup in the pod spec (the SidecarMonitor status says so too).',
      },
    },
    {
      alert: 'SidecarMonitorExporterSeriesDropped',
      expr: `increase(${M.seriesDropped.name}[10m]) > 0`,
      for: '0m',
      labels: { severity: 'info' },
      annotations: {
        summary: 'An exporter hit its series limit and dropped series.',
        description:
          'The exporter of {{ $labels.namespace }}/{{ $labels.pod }} dropped {{ $value | humanize }} series in 10 minutes because it reached its series cap. Fewer target containers or probes, or a higher maxSeries in the monitor, bring them back.',
      },
    },
  ];
}

const ROLLOUT_FAILED: WorkloadState = 'RolloutFailed';

function operatorRules(): AlertRule[] {
  const op = operatorMetricNames().families;
  const by = 'namespace, job';
  return [
    {
      alert: 'SidecarMonitorOperatorReconcileErrors',
      expr: `sum by (${by}) (rate(${op.reconciles}{result="error"}[5m])) / sum by (${by}) (rate(${op.reconciles}[5m])) > ${THRESHOLDS.reconcileErrorRatio}`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'The sidecar-monitor operator fails to reconcile.',
        description: `{{ $value | humanizePercentage }} of the reconciles of the operator in {{ $labels.namespace }} have failed for 15 minutes (threshold ${percent(THRESHOLDS.reconcileErrorRatio)}). Its logs name the object and the error; the SidecarMonitor conditions (Degraded, Conflict) say which workloads are affected.`,
      },
    },
    {
      alert: 'SidecarMonitorRolloutFailed',
      expr: `max by (${by}) (${op.workloads}{state="${ROLLOUT_FAILED}"}) > 0`,
      for: '0m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'A rollout of an injected workload is stuck, and its monitor is halted.',
        description:
          '{{ $value }} workload(s) did not finish rolling out the injected exporter within their progress deadline, so their SidecarMonitor stopped rolling out further workloads. `kubectl get sidecarmonitors -A` shows which (condition Degraded, state RolloutFailed): a ResourceQuota or a Pod Security level often rejects the new pods.',
      },
    },
  ];
}

export function ruleGroups(): RuleGroup[] {
  return [
    { name: 'sidecar-monitor.workloads', rules: workloadRules() },
    { name: 'sidecar-monitor.exporter', rules: exporterRules() },
    { name: 'sidecar-monitor.operator', rules: operatorRules() },
  ];
}
