// What the operator sends with server-side apply (field manager sidecar-monitor): the
// workload's identity and only the fields sidecar-monitor owns, list items by their merge
// keys (containers and env by name). Removal is the same call with nothing owned: the API
// server then drops every field only our manager held and keeps the ones others hold too.

import type { ObjectMeta } from '../api/meta.ts';
import type { PodTemplateSpec, Workload } from './k8s-types.ts';
import type { InjectionResult } from './types.ts';

export interface ApplyConfiguration {
  apiVersion: string;
  kind: string;
  metadata: Pick<ObjectMeta, 'name' | 'namespace'>;
  spec?: { template: PodTemplateSpec };
}

/**
 * The apply configuration for a result of desiredPodTemplate; undefined when the workload
 * must be left alone (a skip that keeps the current template).
 */
export function applyConfiguration(
  workload: Workload,
  result: InjectionResult,
): ApplyConfiguration | undefined {
  if (result.outcome === 'Skipped' && result.template === undefined) return undefined;
  const metadata: ApplyConfiguration['metadata'] = { name: workload.metadata?.name ?? '' };
  if (workload.metadata?.namespace !== undefined) metadata.namespace = workload.metadata.namespace;
  const config: ApplyConfiguration = {
    apiVersion: workload.apiVersion ?? '',
    kind: workload.kind ?? '',
    metadata,
  };
  if (result.outcome === 'Injected') config.spec = { template: structuredClone(result.owned) };
  return config;
}
