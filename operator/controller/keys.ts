// Queue keys: "Kind/namespace/name" for workloads, "namespace/name" for monitors.
import type { WorkloadKind } from '../api/v1alpha1.ts';

export interface WorkloadKey {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

const KINDS: readonly string[] = ['Deployment', 'StatefulSet', 'DaemonSet'];

export function workloadKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function parseWorkloadKey(key: string): WorkloadKey | undefined {
  const [kind, namespace, name, ...rest] = key.split('/');
  if (!kind || !namespace || !name || rest.length > 0 || !KINDS.includes(kind)) return undefined;
  return { kind: kind as WorkloadKind, namespace, name };
}

export function monitorKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function parseMonitorKey(key: string): { namespace: string; name: string } | undefined {
  const [namespace, name, ...rest] = key.split('/');
  if (!namespace || !name || rest.length > 0) return undefined;
  return { namespace, name };
}

/** "Kind/name" of a workload key, for people (the namespace is the monitor's own). */
export function describeKey(key: string): string {
  const ref = parseWorkloadKey(key);
  return ref ? `${ref.kind}/${ref.name}` : key;
}
