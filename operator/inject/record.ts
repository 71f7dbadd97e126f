// How an injection records itself in the pod template: the monitor label, the hash annotation,
// and the "created" annotation listing what the injection added that was absent before (an
// env list, shareProcessNamespace, the scrape annotations...), so that removal gives back
// the original template exactly, empty lists and all.

import { EXPORTER_CONTAINER, HASH_ANNOTATION, MONITOR_LABEL } from '../api/constants.ts';
import type { PodTemplateSpec } from './k8s-types.ts';

export type CreatedToken =
  | 'metadata'
  | 'labels'
  | 'annotations'
  | 'shareProcessNamespace'
  | 'scrapeAnnotations'
  | 'initContainers'
  | 'volumes'
  | `env:${string}`;

export function formatCreated(tokens: Iterable<CreatedToken>): string {
  return [...new Set(tokens)].sort().join(',');
}

export function parseCreated(value: string | undefined): Set<string> {
  return new Set((value ?? '').split(',').filter((t) => t.length > 0));
}

export interface CurrentInjection {
  /** The monitor whose injection the template carries. */
  monitor: string | undefined;
  hash: string;
  /** Whether the exporter sits in initContainers (the choice sticks per workload). */
  nativeSidecar: boolean;
}

/** The injection a pod template carries, if any (e.g. for the operator's no-op check). */
export function currentInjection(
  template: PodTemplateSpec | undefined,
): CurrentInjection | undefined {
  const hash = template?.metadata?.annotations?.[HASH_ANNOTATION];
  if (typeof hash !== 'string') return undefined;
  const init: unknown = template?.spec?.initContainers;
  return {
    monitor: template?.metadata?.labels?.[MONITOR_LABEL],
    hash,
    nativeSidecar:
      Array.isArray(init) &&
      init.some((c: unknown) => (c as { name?: unknown } | null)?.name === EXPORTER_CONTAINER),
  };
}
