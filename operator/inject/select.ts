// Which workloads a monitor selects: same namespace, labels matching the selector, and a kind
// the monitor asks for. Kinds we cannot inject yet (Jobs, CronJobs, ...) are selected on
// labels alone, so they are reported as skipped instead of silently ignored.

import type { LabelSelector, SidecarMonitor } from '../api/v1alpha1.ts';
import type { Workload } from './k8s-types.ts';

export const SUPPORTED_KINDS: readonly string[] = ['Deployment', 'StatefulSet', 'DaemonSet'];
/** Other kinds that run pods from a template. */
export const OTHER_POD_KINDS: readonly string[] = [
  'Job',
  'CronJob',
  'ReplicaSet',
  'ReplicationController',
  'Pod',
];

export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    const ok =
      operator === 'In'
        ? has && values.includes(value ?? '')
        : operator === 'NotIn'
          ? !has || !values.includes(value ?? '')
          : operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/**
 * Whether the monitor selects the workload. A workload without a namespace (a manifest for
 * `kubectl apply -n`) is taken to live in the monitor's namespace.
 */
export function monitorSelects(monitor: SidecarMonitor, workload: Workload): boolean {
  const kind = workload.kind ?? '';
  const kinds: readonly string[] = monitor.spec.workloadKinds ?? SUPPORTED_KINDS;
  if (SUPPORTED_KINDS.includes(kind) ? !kinds.includes(kind) : !OTHER_POD_KINDS.includes(kind)) {
    return false;
  }
  const ns = workload.metadata?.namespace;
  const monitorNs = monitor.metadata?.namespace;
  if (ns !== undefined && monitorNs !== undefined && ns !== monitorNs) return false;
  return selectorMatches(monitor.spec.selector, workload.metadata?.labels ?? {});
}
