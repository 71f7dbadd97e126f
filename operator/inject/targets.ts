// Which containers the exporter measures: the monitor's explicit list, else the pod's main
// container (kubectl's default-container annotation, else the first container), never a
// service-mesh proxy and never the exporter itself.

import {
  DEFAULT_CONTAINER_ANNOTATION,
  EXPORTER_CONTAINER,
  MESH_SIDECARS,
} from '../api/constants.ts';
import type { Container, PodSpec } from './k8s-types.ts';
import type { Note } from './types.ts';

export interface Target {
  container: Container;
  list: 'containers' | 'initContainers';
}

export type TargetChoice = { targets: Target[]; notes: Note[] } | { missing: string };

function eligible(name: string): boolean {
  return name !== EXPORTER_CONTAINER && !MESH_SIDECARS.includes(name);
}

export function chooseTargets(
  spec: PodSpec,
  annotations: Record<string, string>,
  explicit: readonly string[] | undefined,
): TargetChoice {
  const regular = spec.containers;
  if (explicit !== undefined && explicit.length > 0) {
    // Native sidecars of the app (restartable init containers) may be named explicitly.
    const sidecars = (spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
    const targets: Target[] = [];
    const notes: Note[] = [];
    for (const name of explicit) {
      const inContainers = regular.find((c) => c.name === name);
      const inInit = sidecars.find((c) => c.name === name);
      if (!eligible(name)) continue;
      if (inContainers) targets.push({ container: inContainers, list: 'containers' });
      else if (inInit) targets.push({ container: inInit, list: 'initContainers' });
      else notes.push({ code: 'TargetNotFound', message: `no container named "${name}"` });
    }
    if (targets.length === 0) {
      return { missing: `none of the target containers (${explicit.join(', ')}) is in the pod` };
    }
    return { targets, notes };
  }
  const named = annotations[DEFAULT_CONTAINER_ANNOTATION];
  const main =
    regular.find((c) => c.name === named && eligible(c.name)) ??
    regular.find((c) => eligible(c.name));
  if (!main) return { missing: 'the pod has no container other than mesh proxies' };
  return { targets: [{ container: main, list: 'containers' }], notes: [] };
}
