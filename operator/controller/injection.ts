// The operator's only door to the pure injection core (operator/inject): it turns cached
// workloads into core inputs and core results into server-side-apply bodies. The
// injection logic itself lives in the core; nothing here decides what gets injected.
import type { SidecarMonitor } from '../api/v1alpha1.ts';
import {
  applyConfiguration,
  type ClusterFacts as CoreFacts,
  currentInjection as coreCurrentInjection,
  desiredPodTemplate,
  type Note,
  type Workload,
} from '../inject/index.ts';
import type { KubeObject } from '../kube/resources.ts';

export interface InjectionDefaults {
  exporterImage: string;
  allowedExporterImages: readonly string[];
  exporterResources: CoreFacts['defaultExporterResources'];
}

export interface LiveFacts {
  /** Native sidecars for this workload (the cluster's support, or the choice already made). */
  nativeSidecars: boolean;
  /** The PodMonitor CRD is served. */
  podMonitors: boolean;
}

export interface CurrentInjection {
  present: boolean;
  monitor?: string | undefined;
  hash?: string;
  nativeSidecar?: boolean;
}

export type DesiredInjection =
  | {
      outcome: 'Injected';
      hash: string;
      nativeSidecar: boolean;
      /** The server-side-apply body: identity, a resourceVersion precondition, our fields. */
      applyBody: Record<string, unknown>;
      /** Why the exporter runs as the fallback user, if it does (uid-unknown, ...). */
      securityReason?: string;
      /** For status: the security downgrade and the core's notes, for people. */
      message?: string;
    }
  | {
      outcome: 'Skipped';
      reason: string;
      message: string;
      /** The template must lose an existing injection (else it is left as it is). */
      removeInjection: boolean;
      /** The removal body, when removeInjection. */
      applyBody?: Record<string, unknown>;
    };

/**
 * The server-side-apply body with a resourceVersion precondition: a decision made from a
 * stale cache (say, before the workload was labelled inject: "false") is refused by the
 * API server with an optimistic-concurrency conflict and retried once the cache caught up.
 */
function withPrecondition(w: KubeObject, config: object): Record<string, unknown> {
  const body = structuredClone(config) as { metadata: Record<string, unknown> };
  body.metadata = { ...body.metadata, resourceVersion: w.metadata.resourceVersion };
  return body;
}

export function currentInjection(w: KubeObject): CurrentInjection {
  const workload: Workload = w;
  const c = coreCurrentInjection(workload.spec?.template);
  return c
    ? { present: true, monitor: c.monitor, hash: c.hash, nativeSidecar: c.nativeSidecar }
    : { present: false };
}

function describeNotes(notes: readonly Note[]): string {
  return notes.map((n) => `${n.code}: ${n.message}`).join('; ');
}

export function desiredInjection(
  w: KubeObject,
  monitor: SidecarMonitor,
  facts: LiveFacts,
  defaults: InjectionDefaults,
): DesiredInjection {
  const workload: Workload = w;
  const result = desiredPodTemplate(workload, monitor, {
    nativeSidecars: facts.nativeSidecars,
    podMonitors: facts.podMonitors,
    defaultExporterImage: defaults.exporterImage,
    allowedExporterImages: defaults.allowedExporterImages,
    defaultExporterResources: defaults.exporterResources,
  });
  const config = applyConfiguration(workload, result);
  if (result.outcome === 'Skipped') {
    const out: DesiredInjection = {
      outcome: 'Skipped',
      reason: result.reason,
      message: result.message,
      removeInjection: config !== undefined,
    };
    if (config) out.applyBody = withPrecondition(w, config);
    return out;
  }
  if (!config)
    throw new Error('the injection core returned no apply configuration for an injection');
  const parts: string[] = [];
  if (result.security.message !== undefined) parts.push(result.security.message);
  if (result.notes.length > 0) parts.push(describeNotes(result.notes));
  const out: DesiredInjection = {
    outcome: 'Injected',
    hash: result.hash,
    nativeSidecar: result.nativeSidecar,
    applyBody: withPrecondition(w, config),
  };
  if (result.security.reason !== undefined) out.securityReason = result.security.reason;
  if (parts.length > 0) out.message = parts.join('; ').slice(0, 1024);
  return out;
}

/** Removal: the workload's identity and nothing owned, so every field only we held goes. */
export function removalBody(w: KubeObject): Record<string, unknown> {
  return withPrecondition(w, {
    apiVersion: w.apiVersion,
    kind: w.kind,
    metadata: { name: w.metadata.name, namespace: w.metadata.namespace },
  });
}
