// "Health and latency": the pod's own health endpoints, probed on loopback by the exporter
// on their own schedule: whether they pass, how fast they answer, and why they fail.
import { METRICS, PROBE_FAILURE_REASONS } from '../../../exporter/metrics/catalog.ts';
import { buildDashboard, type ClassicDashboard } from './layout.ts';
import { heatmap, stat, table, timeseries } from './panels.ts';
import {
  containerVariable,
  PODS,
  PROBES,
  probeTypeVariable,
  probeVariable,
  sel,
  workloadVariables,
} from './variables.ts';

const M = METRICS;
const R = '$__rate_interval';
const LEGEND = '{{pod}} / {{probe}}';
const bucket = `${M.probeDurationSeconds.name}_bucket`;
const count = `${M.probeDurationSeconds.name}_count`;
const sum = `${M.probeDurationSeconds.name}_sum`;
const failures = sel(M.probeFailures, PROBES);

/**
 * Share of attempts that succeeded over `window`, by `by`. A probe that never failed has no
 * failure series yet: `or` fills in zero so it shows 100% instead of no data.
 */
function successRatio(by: string, window: string): string {
  const attempts = `sum by (${by}) (increase(${count}{${PROBES}}[${window}]))`;
  return `1 - (sum by (${by}) (increase(${failures}[${window}])) or 0 * ${attempts}) / ${attempts}`;
}

function quantile(q: number, by: string): string {
  return `histogram_quantile(${q}, sum by (${by}, le) (rate(${bucket}{${PROBES}}[${R}])))`;
}

export function healthLatency(): ClassicDashboard {
  return buildDashboard({
    uid: 'sidecar-monitor-health',
    title: 'sidecar-monitor / Health and latency',
    description:
      "The workload's health endpoints (its readiness, liveness and startup probes, plus the monitor's own; HTTP, TCP and gRPC), probed on loopback by the injected exporter: success, latency, status codes and failure reasons.",
    variables: [...workloadVariables(), containerVariable(), probeTypeVariable(), probeVariable()],
    sections: [
      {
        title: 'Overview',
        panels: [
          stat({
            title: 'Success ratio',
            description: 'Share of probe attempts that succeeded over the dashboard time range.',
            unit: 'percentunit',
            queries: [{ expr: successRatio('namespace', '$__range'), legend: 'success' }],
            thresholds: [],
          }),
          stat({
            title: 'Probes failing now',
            description: 'Probes whose last attempt failed.',
            unit: 'short',
            thresholds: [{ value: 1, color: 'red' }],
            queries: [
              {
                expr: `count(${sel(M.probeSuccess, PROBES)} == 0) or vector(0)`,
                legend: 'failing',
              },
            ],
          }),
          stat({
            title: 'p99 latency',
            description: '99th percentile of probe latency over the dashboard time range.',
            unit: 's',
            queries: [
              {
                expr: `histogram_quantile(0.99, sum by (le) (increase(${bucket}{${PROBES}}[$__range])))`,
                legend: 'p99',
              },
            ],
          }),
          stat({
            title: 'Attempts per second',
            description: 'Probe attempts per second across the selected pods and probes.',
            unit: 'ops',
            queries: [{ expr: `sum(rate(${count}{${PROBES}}[${R}]))`, legend: 'attempts' }],
          }),
        ],
      },
      {
        title: 'Success',
        panels: [
          timeseries({
            title: 'Success ratio by probe',
            description: 'Share of attempts that succeeded, per pod and probe.',
            unit: 'percentunit',
            min: 0,
            max: 1,
            queries: [{ expr: successRatio('pod, probe', R), legend: LEGEND }],
          }),
          timeseries({
            title: 'Failures by reason',
            description: `Failed attempts per second by reason: ${PROBE_FAILURE_REASONS.join(', ')}. gRPC health checks add not_serving (the service answered NOT_SERVING or UNKNOWN), service_unknown (the health service does not know the service name) and unimplemented (no health service on that port).`,
            unit: 'ops',
            min: 0,
            stacked: true,
            queries: [
              {
                expr: `sum by (probe, reason) (rate(${failures}[${R}]))`,
                legend: '{{probe}} {{reason}}',
              },
            ],
          }),
          timeseries({
            title: 'Last HTTP status code',
            description:
              'Status code of the last attempt of each HTTP probe; 0 when there was no response.',
            unit: 'none',
            queries: [
              { expr: `max by (pod, probe) (${sel(M.probeStatusCode, PROBES)})`, legend: LEGEND },
            ],
          }),
          timeseries({
            title: 'Last attempt passed',
            description: '1 while the last attempt of the probe succeeded, 0 while it failed.',
            unit: 'none',
            min: 0,
            max: 1,
            queries: [
              { expr: `min by (pod, probe) (${sel(M.probeSuccess, PROBES)})`, legend: LEGEND },
            ],
          }),
        ],
      },
      {
        title: 'Latency',
        panels: [
          timeseries({
            title: 'Latency percentiles',
            description:
              'p50, p90 and p99 of probe latency (all attempts, successful or not), per probe.',
            unit: 's',
            min: 0,
            queries: [
              { expr: quantile(0.5, 'probe'), legend: '{{probe}} p50' },
              { expr: quantile(0.9, 'probe'), legend: '{{probe}} p90' },
              { expr: quantile(0.99, 'probe'), legend: '{{probe}} p99' },
            ],
          }),
          heatmap({
            title: 'Latency distribution',
            description: 'Probe attempts per latency bucket over time.',
            unit: 's',
            queries: [
              {
                expr: `sum by (le) (increase(${bucket}{${PROBES}}[${R}]))`,
                legend: '{{le}}',
              },
            ],
          }),
          timeseries({
            title: 'Mean latency',
            description: 'Mean probe latency per pod and probe.',
            unit: 's',
            min: 0,
            queries: [
              {
                expr: `sum by (pod, probe) (rate(${sum}{${PROBES}}[${R}])) / sum by (pod, probe) (rate(${count}{${PROBES}}[${R}]))`,
                legend: LEGEND,
              },
            ],
          }),
          timeseries({
            title: 'Phases of the last attempt',
            description:
              'Time to connect, to the first byte of the response and in total, for the last attempt of each probe. A slow connect points at the network stack or an overloaded accept queue; a slow first byte at the app.',
            unit: 's',
            min: 0,
            queries: [
              {
                expr: `max by (pod, probe, phase) (${sel(M.probePhaseDurationSeconds, PROBES)})`,
                legend: '{{pod}} / {{probe}} {{phase}}',
              },
            ],
          }),
          timeseries({
            title: 'Latency p99 by probe type',
            description:
              '99th percentile of probe latency per type (http, tcp, grpc), so gRPC health checks compare with HTTP ones.',
            unit: 's',
            min: 0,
            width: 24,
            queries: [
              {
                expr: `histogram_quantile(0.99, sum by (type, le) (rate(${bucket}{${PROBES}}[${R}]) * on (namespace, pod, probe) group_left (type) max by (namespace, pod, probe, type) (${sel(M.probeInfo, PROBES)})))`,
                legend: '{{type}} p99',
              },
            ],
          }),
          table({
            title: 'Probes',
            description:
              'Every probe the exporter runs: type, the container it belongs to, and where it came from (a Kubernetes probe of the container, or the monitor).',
            unit: 'none',
            width: 24,
            valueName: 'Configured',
            queries: [
              {
                expr: `max by (pod, probe, type, container, source) (${sel(M.probeInfo, PODS, 'probe=~"$probe"')})`,
                legend: '',
              },
            ],
          }),
        ],
      },
    ],
  });
}
