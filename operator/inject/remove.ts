// removeInjection: the exact inverse of the injection. Removes only what the injection
// added, as its record says, and leaves everything else (order included) as it was.

import { CONFIG_ENV, CONTAINER_ENV } from '../../exporter/config.ts';
import {
  CREATED_ANNOTATION,
  EXPORTER_CONTAINER,
  HASH_ANNOTATION,
  MONITOR_LABEL,
  NO_TOKEN_VOLUME,
  SCRAPE_ANNOTATIONS,
} from '../api/constants.ts';
import type { Container, PodTemplateSpec } from './k8s-types.ts';
import { parseCreated } from './record.ts';
import { templateShapeError } from './shape.ts';

/** Target names from the exporter's own config; undefined when it cannot be read. */
function injectedTargets(containers: readonly Container[]): Set<string> | undefined {
  const exporter = containers.find((c) => c.name === EXPORTER_CONTAINER);
  const json = exporter?.env?.find((e) => e.name === CONFIG_ENV)?.value;
  try {
    const config = JSON.parse(json ?? '') as { targets?: { name?: unknown }[] };
    const names = (config.targets ?? []).map((t) => t.name).filter((n) => typeof n === 'string');
    return new Set(names);
  } catch {
    return undefined;
  }
}

function without(record: Record<string, string>, keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => !keys.includes(k)));
}

/** A copy of the template without sidecar-monitor's injection (unchanged when there is none). */
export function removeInjection(template: PodTemplateSpec): PodTemplateSpec {
  const out = structuredClone(template);
  // Not a template we could have injected: nothing of ours to remove.
  if (templateShapeError(template) !== undefined) return out;
  const metadata = out.metadata;
  const annotations = metadata?.annotations;
  if (!metadata || annotations?.[HASH_ANNOTATION] === undefined) return out;
  const created = parseCreated(annotations[CREATED_ANNOTATION]);
  const spec = out.spec;

  if (spec && Array.isArray(spec.containers)) {
    const targets = injectedTargets([...spec.containers, ...(spec.initContainers ?? [])]);
    spec.containers = spec.containers.filter((c) => c.name !== EXPORTER_CONTAINER);
    if (spec.initContainers) {
      spec.initContainers = spec.initContainers.filter((c) => c.name !== EXPORTER_CONTAINER);
      if (spec.initContainers.length === 0 && created.has('initContainers')) {
        delete spec.initContainers;
      }
    }
    for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
      if (!c.env) continue;
      const ours = targets ? targets.has(c.name) : true;
      c.env = c.env.filter((e) => !(ours && e.name === CONTAINER_ENV && e.value === c.name));
      if (c.env.length === 0 && created.has(`env:${c.name}`)) delete c.env;
    }
    if (spec.volumes) {
      spec.volumes = spec.volumes.filter((v) => v.name !== NO_TOKEN_VOLUME);
      if (spec.volumes.length === 0 && created.has('volumes')) delete spec.volumes;
    }
    if (created.has('shareProcessNamespace')) delete spec.shareProcessNamespace;
  }

  if (metadata.labels) {
    metadata.labels = without(metadata.labels, [MONITOR_LABEL]);
    if (Object.keys(metadata.labels).length === 0 && created.has('labels')) delete metadata.labels;
  }
  const ours = [HASH_ANNOTATION, CREATED_ANNOTATION];
  if (created.has('scrapeAnnotations')) {
    ours.push(SCRAPE_ANNOTATIONS.scrape, SCRAPE_ANNOTATIONS.port, SCRAPE_ANNOTATIONS.path);
  }
  metadata.annotations = without(annotations, ours);
  if (Object.keys(metadata.annotations).length === 0 && created.has('annotations')) {
    delete metadata.annotations;
  }
  if (Object.keys(metadata).length === 0 && created.has('metadata')) delete out.metadata;
  return out;
}
