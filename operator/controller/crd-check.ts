// Helm installs CRDs once and never upgrades them, so after `helm upgrade` a newer
// operator can meet an older SidecarMonitor CRD: fields it writes would be pruned and
// validations it relies on missing. It refuses to start instead, saying how to upgrade.
import { CRD_NAME, CRD_REVISION_ANNOTATION, VERSION } from '../api/constants.ts';

export const CRD_UPGRADE_HINT =
  'upgrade it with: kubectl apply --server-side --force-conflicts -f ' +
  'charts/sidecar-monitor/crds/sidecarmonitor.io_sidecarmonitors.yaml ' +
  '(Helm installs CRDs but never upgrades them)';

export type CrdCheck = { ok: true; revision: number } | { ok: false; message: string };

interface CrdLike {
  metadata?: { annotations?: Record<string, string> };
  spec?: { versions?: { name?: string; served?: boolean }[] };
  status?: { conditions?: { type?: string; status?: string }[] };
}

/** Judges the installed CRD (undefined: not installed) against the revision this operator needs. */
export function checkCrd(crd: CrdLike | undefined, required: number): CrdCheck {
  if (!crd) {
    return {
      ok: false,
      message: `the CustomResourceDefinition ${CRD_NAME} is not installed; install the Helm chart, or ${CRD_UPGRADE_HINT.replace('upgrade it with', 'apply it with')}`,
    };
  }
  const served = crd.spec?.versions?.some((v) => v.name === VERSION && v.served === true);
  if (!served) {
    return {
      ok: false,
      message: `the installed ${CRD_NAME} does not serve ${VERSION}; ${CRD_UPGRADE_HINT}`,
    };
  }
  const text = crd.metadata?.annotations?.[CRD_REVISION_ANNOTATION];
  const revision = text !== undefined && /^\d+$/.test(text) ? Number(text) : 0;
  if (revision < required) {
    return {
      ok: false,
      message: `the installed ${CRD_NAME} is revision ${text ?? '(none)'} but this operator needs revision ${required} or newer; ${CRD_UPGRADE_HINT}`,
    };
  }
  const established = crd.status?.conditions?.some(
    (c) => c.type === 'Established' && c.status === 'True',
  );
  if (established === false) {
    return { ok: false, message: `the installed ${CRD_NAME} is not Established yet` };
  }
  return { ok: true, revision };
}
