// The exporter's security context. The kernel lets one process read another's
// /proc/<pid>/{root,io,fd,environ} only when their uid and gid match and the reader's
// capabilities include all of the target's; so the exporter mirrors its targets' effective
// uid and gid (container level over pod level), and as root their capability set. It never
// gets more privilege than the app it watches: when that cannot be guaranteed it runs as the
// non-root fallback user, loses the protected metrics, and the reason says how to fix it.

import { FALLBACK_GID, FALLBACK_UID } from '../api/constants.ts';
import { canonicalJson } from './canonical.ts';
import type { Capabilities, PodSpec, SecurityContext } from './k8s-types.ts';
import type { Target } from './targets.ts';
import type { Security } from './types.ts';

const HOW_TO_FIX =
  'set securityContext.runAsUser and runAsGroup (pod or container level) to the ids the app runs as';

interface Effective {
  name: string;
  uid: number | undefined;
  gid: number | undefined;
  privileged: boolean;
  capabilities: Capabilities | undefined;
}

function effective(target: Target, spec: PodSpec): Effective {
  const c = target.container.securityContext;
  const pod = spec.securityContext;
  const add = c?.capabilities?.add ?? [];
  return {
    name: target.container.name,
    uid: c?.runAsUser ?? pod?.runAsUser,
    gid: c?.runAsGroup ?? pod?.runAsGroup,
    privileged: c?.privileged === true || add.some((cap) => /^(CAP_)?SYS_ADMIN$|^ALL$/i.test(cap)),
    capabilities: c?.capabilities,
  };
}

function fallback(reason: Security['reason'], message: string): Security {
  return { mode: 'fallback', runAsUser: FALLBACK_UID, runAsGroup: FALLBACK_GID, reason, message };
}

export function chooseSecurity(targets: readonly Target[], spec: PodSpec): Security {
  const all = targets.map((t) => effective(t, spec));
  const privileged = all.find((t) => t.privileged);
  if (privileged) {
    return fallback(
      'target-privileged',
      `container "${privileged.name}" is privileged or adds CAP_SYS_ADMIN; the exporter never mirrors that, so it runs as ${FALLBACK_UID} without the metrics that need the app's user`,
    );
  }
  const unknown = all.find((t) => t.uid === undefined || t.gid === undefined);
  if (unknown) {
    const what = unknown.uid === undefined ? 'runAsUser' : 'runAsGroup';
    return fallback(
      'uid-unknown',
      `${what} of container "${unknown.name}" is not set in the pod spec (only its image knows it), so the exporter runs as ${FALLBACK_UID} without the metrics that need the app's user: ${HOW_TO_FIX}`,
    );
  }
  const first = all[0];
  if (!first) return fallback('uid-unknown', 'no target container');
  const other = all.find((t) => t.uid !== first.uid || t.gid !== first.gid);
  if (other) {
    return fallback(
      'uid-mismatch',
      `containers "${first.name}" (${first.uid}:${first.gid}) and "${other.name}" (${other.uid}:${other.gid}) run as different users, so the exporter runs as ${FALLBACK_UID}: target containers of one user, or ${HOW_TO_FIX} alike`,
    );
  }
  if (first.uid === 0) {
    const caps = canonicalJson(first.capabilities ?? null);
    const differs = all.find((t) => canonicalJson(t.capabilities ?? null) !== caps);
    if (differs) {
      return fallback(
        'capabilities-mismatch',
        `root containers "${first.name}" and "${differs.name}" have different capabilities, so the exporter runs as ${FALLBACK_UID}: target containers with one capability set`,
      );
    }
  }
  return {
    mode: 'mirrored',
    runAsUser: first.uid ?? FALLBACK_UID,
    runAsGroup: first.gid ?? FALLBACK_GID,
  };
}

/** The exporter container's securityContext for a choice made by chooseSecurity. */
export function exporterSecurityContext(
  security: Security,
  targets: readonly Target[],
): SecurityContext {
  const root = security.runAsUser === 0;
  // Root mirrors the app's own capability set (absent: the runtime's default set, as the app
  // has); anyone else needs none.
  const capabilities = root
    ? structuredClone(targets[0]?.container.securityContext?.capabilities)
    : { drop: ['ALL'] };
  const context: SecurityContext = {
    runAsUser: security.runAsUser,
    runAsGroup: security.runAsGroup,
    runAsNonRoot: !root,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    seccompProfile: { type: 'RuntimeDefault' },
  };
  if (capabilities) context.capabilities = capabilities;
  return context;
}
