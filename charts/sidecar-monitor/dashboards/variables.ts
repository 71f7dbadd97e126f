// Template variables and the label filters that use them. The workload a pod belongs to
// comes from the exporter's own info metric (the operator passes the identity in), so the
// dashboards need neither kube-state-metrics nor relabelling beyond the `namespace` and
// `pod` target labels that every Kubernetes scrape configuration adds.
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  VariableRefresh,
  VariableSort,
  type VariableModel,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { METRICS, type MetricSpec } from '../../../exporter/metrics/catalog.ts';
import { DATASOURCE } from './panels.ts';

/** Series of the selected pods. */
export const PODS = 'namespace="$namespace", pod=~"$pod"';
/** Series of the selected containers of the selected pods. */
export const CONTAINERS = `${PODS}, container=~"$container"`;
/** Series of the selected probes of the selected pods. */
export const PROBES = `${PODS}, probe=~"$probe"`;

/** `metric{filter, extra...}`, or the bare name without matchers. */
export function sel(metric: MetricSpec, filter: string, ...extra: string[]): string {
  const matchers = [filter, ...extra].filter((m) => m !== '').join(', ');
  return matchers === '' ? metric.name : `${metric.name}{${matchers}}`;
}

export function datasourceVariable(): cog.Builder<VariableModel> {
  return new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus');
}

export interface QueryVariable {
  readonly name: string;
  readonly label: string;
  readonly query: string;
  readonly description: string;
  /** Several values and an "All" option. */
  readonly multi?: boolean;
  /**
   * What "All" means. Unset, Grafana sends every value it found (right for pods: `.*` would
   * match every pod of the namespace, not only the workload's). `.*` also matches series
   * without the label, right for containers and probes that may not carry one.
   */
  readonly allValue?: string;
}

export function queryVariable(v: QueryVariable): cog.Builder<VariableModel> {
  const b = new QueryVariableBuilder(v.name)
    .label(v.label)
    .description(v.description)
    .datasource(DATASOURCE)
    .query(v.query)
    .definition(v.query)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc);
  if (v.multi === true) b.multi(true).includeAll(true);
  if (v.allValue !== undefined) b.allValue(v.allValue);
  return b;
}

const info = METRICS.workloadInfo.name;

export function namespaceVariable(): cog.Builder<VariableModel> {
  return queryVariable({
    name: 'namespace',
    label: 'Namespace',
    description: 'Namespaces with at least one injected exporter.',
    query: `label_values(${info}, namespace)`,
  });
}

export function workloadVariable(): cog.Builder<VariableModel> {
  return queryVariable({
    name: 'workload',
    label: 'Workload',
    description: 'Deployments, StatefulSets and DaemonSets of the namespace with an exporter.',
    query: `label_values(${info}{namespace="$namespace"}, workload_name)`,
  });
}

export function podVariable(): cog.Builder<VariableModel> {
  return queryVariable({
    name: 'pod',
    label: 'Pod',
    description: "The workload's pods.",
    query: `label_values(${info}{namespace="$namespace", workload_name="$workload"}, pod)`,
    multi: true,
  });
}

export function containerVariable(): cog.Builder<VariableModel> {
  return queryVariable({
    name: 'container',
    label: 'Container',
    description: 'The containers the exporter watches (never the exporter itself).',
    query: `label_values(${sel(METRICS.containerProcesses, PODS)}, container)`,
    multi: true,
    allValue: '.*',
  });
}

/** Probe types (http, tcp, grpc): narrows the probe list, so gRPC probes can be seen alone. */
export function probeTypeVariable(): cog.Builder<VariableModel> {
  return queryVariable({
    name: 'type',
    label: 'Probe type',
    description: 'Kinds of health probe: http (GET), tcp (connect), grpc (grpc.health.v1 Check).',
    query: `label_values(${sel(METRICS.probeInfo, PODS, 'container=~"$container"')}, type)`,
    multi: true,
    allValue: '.*',
  });
}

export function probeVariable(): cog.Builder<VariableModel> {
  return queryVariable({
    name: 'probe',
    label: 'Probe',
    description:
      "The health probes of the selected containers and types (derived from their Kubernetes probes, or the monitor's own).",
    query: `label_values(${sel(METRICS.probeInfo, PODS, 'container=~"$container"', 'type=~"$type"')}, probe)`,
    multi: true,
    allValue: '.*',
  });
}

/** The variables of every workload-scoped dashboard, in the order Grafana resolves them. */
export function workloadVariables(): cog.Builder<VariableModel>[] {
  return [datasourceVariable(), namespaceVariable(), workloadVariable(), podVariable()];
}
