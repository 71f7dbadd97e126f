// "Operator": is the controller leading, keeping up and succeeding; what state the selected
// workloads are in; and how it treats the Kubernetes API server.
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type { VariableModel } from '@grafana/grafana-foundation-sdk/dashboard';
import { buildDashboard, type ClassicDashboard } from './layout.ts';
import { operatorMetricNames } from './operator-metrics.ts';
import { stat, table, timeseries } from './panels.ts';
import { datasourceVariable, queryVariable } from './variables.ts';

const R = '$__rate_interval';
const F = 'namespace="$namespace", pod=~"$pod"';

export function operator(): ClassicDashboard {
  const names = operatorMetricNames();
  const op = names.families;
  const m = (name: string, ...extra: string[]) => `${name}{${[F, ...extra].join(', ')}}`;
  const bucket = (name: string) => `${name}_bucket{${F}}`;
  // prom-client's process metrics carry no prefix: keep only the operator's own targets.
  const own = (name: string) => `${m(name)} and on (job, instance) ${m(op.buildInfo)}`;
  const variables: cog.Builder<VariableModel>[] = [
    datasourceVariable(),
    queryVariable({
      name: 'namespace',
      label: 'Namespace',
      description: 'Namespace the operator runs in.',
      query: `label_values(${op.buildInfo}, namespace)`,
    }),
    queryVariable({
      name: 'pod',
      label: 'Pod',
      description: 'Operator replicas (one leads, the others wait for the lease).',
      query: `label_values(${op.buildInfo}{namespace="$namespace"}, pod)`,
      multi: true,
    }),
  ];
  return buildDashboard({
    uid: 'sidecar-monitor-operator',
    title: 'sidecar-monitor / Operator',
    description:
      'The sidecar-monitor operator: leadership, reconciles, work queue, the state of the workloads it manages, rollouts, and its requests to the Kubernetes API server.',
    variables,
    sections: [
      {
        title: 'Overview',
        panels: [
          stat({
            title: 'Replicas leading',
            description:
              'Replicas holding the leader lease: 1 when healthy, 0 while no replica leads (nothing is reconciled).',
            unit: 'short',
            thresholds: [],
            queries: [{ expr: `sum(${m(op.leader)})`, legend: 'leading' }],
          }),
          stat({
            title: 'Reconcile errors',
            description: 'Share of reconciles that failed (retried with backoff).',
            unit: 'percentunit',
            thresholds: [{ value: 0.1, color: 'red' }],
            queries: [
              {
                expr: `(sum(rate(${m(op.reconciles, 'result="error"')}[${R}])) or vector(0)) / sum(rate(${m(op.reconciles)}[${R}]))`,
                legend: 'errors',
              },
            ],
          }),
          stat({
            title: 'Queue depth',
            description:
              'Keys waiting to be reconciled. Growing without bound: the operator cannot keep up.',
            unit: 'short',
            queries: [{ expr: `sum(${m(op.queueDepth)})`, legend: 'waiting' }],
          }),
          stat({
            title: 'Operator memory',
            description: 'Resident memory of the operator replicas, summed.',
            unit: 'bytes',
            queries: [
              { expr: `sum(${own(names.processResidentMemoryBytes)})`, legend: 'resident' },
            ],
          }),
        ],
      },
      {
        title: 'Reconciles',
        panels: [
          timeseries({
            title: 'Reconciles by result',
            description: 'Reconciles per second by controller and result.',
            unit: 'ops',
            min: 0,
            width: 8,
            stacked: true,
            queries: [
              {
                expr: `sum by (controller, result) (rate(${m(op.reconciles)}[${R}]))`,
                legend: '{{controller}} {{result}}',
              },
            ],
          }),
          timeseries({
            title: 'Reconcile duration',
            description: 'p50 and p99 of the time one reconcile takes, by controller.',
            unit: 's',
            min: 0,
            width: 8,
            queries: [0.5, 0.99].map((q) => ({
              expr: `histogram_quantile(${q}, sum by (controller, le) (rate(${bucket(op.reconcileDuration)}[${R}])))`,
              legend: `{{controller}} p${q * 100}`,
            })),
          }),
          timeseries({
            title: 'Work queue depth',
            description: 'Keys waiting in each controller queue, per replica.',
            unit: 'short',
            min: 0,
            width: 8,
            queries: [
              {
                expr: `max by (pod, controller) (${m(op.queueDepth)})`,
                legend: '{{pod}} {{controller}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Workloads and rollouts',
        panels: [
          timeseries({
            title: 'Workloads by state',
            description:
              'Workloads selected by SidecarMonitors, by state: Injected, Pending, RollingOut, RolloutFailed (the monitor halts), Skipped, Conflict.',
            unit: 'short',
            min: 0,
            width: 8,
            stacked: true,
            queries: [{ expr: `max by (state) (${m(op.workloads)})`, legend: '{{state}}' }],
          }),
          timeseries({
            title: 'Rollouts',
            description:
              'Rollouts the operator started, holding a slot of the rollout limits or waiting for one.',
            unit: 'short',
            min: 0,
            width: 8,
            queries: [{ expr: `max by (state) (${m(op.rollouts)})`, legend: '{{state}}' }],
          }),
          timeseries({
            title: 'Workload writes',
            description:
              'Server-side-apply writes to workloads by kind and action (inject, update, remove). Each write rolls the workload: a steady rate here is a fight with another controller.',
            unit: 'short',
            min: 0,
            width: 8,
            bars: true,
            queries: [
              {
                expr: `sum by (kind, action) (increase(${m(op.workloadWrites)}[${R}]))`,
                legend: '{{kind}} {{action}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Kubernetes API and process',
        panels: [
          timeseries({
            title: 'API requests by status code',
            description: 'Requests to the API server per second by method and status code.',
            unit: 'reqps',
            min: 0,
            width: 8,
            queries: [
              {
                expr: `sum by (method, code) (rate(${m(op.apiRequests)}[${R}]))`,
                legend: '{{method}} {{code}}',
              },
            ],
          }),
          timeseries({
            title: 'API request latency (p99)',
            description: '99th percentile latency of API requests by method (watches excluded).',
            unit: 's',
            min: 0,
            width: 8,
            queries: [
              {
                expr: `histogram_quantile(0.99, sum by (method, le) (rate(${bucket(op.apiRequestDuration)}[${R}])))`,
                legend: '{{method}}',
              },
            ],
          }),
          timeseries({
            title: 'Informer failures',
            description:
              'List and watch failures of the informers, by resource and reason. Each is retried with backoff; a steady rate means the operator works from a stale cache.',
            unit: 'short',
            min: 0,
            width: 8,
            bars: true,
            queries: [
              {
                expr: `sum by (resource, reason) (increase(${m(op.informerFailures)}[${R}]))`,
                legend: '{{resource}} {{reason}}',
              },
            ],
          }),
          timeseries({
            title: 'Operator CPU',
            description: 'CPU cores used by each operator replica.',
            unit: 'short',
            min: 0,
            width: 12,
            queries: [
              {
                expr: `sum by (pod) (rate(${m(names.processCpuSeconds)}[${R}]) and on (job, instance) ${m(op.buildInfo)})`,
                legend: '{{pod}}',
              },
            ],
          }),
          table({
            title: 'Replicas',
            description: 'Operator replicas, their version, and which one holds the lease.',
            unit: 'short',
            width: 12,
            valueName: 'Leader',
            queries: [
              {
                expr: `max by (pod, version) (${m(op.buildInfo)}) * on (pod) group_left () max by (pod) (${m(op.leader)})`,
                legend: '',
              },
            ],
          }),
        ],
      },
    ],
  });
}
