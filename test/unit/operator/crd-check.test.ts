import { describe, expect, it } from 'vitest';
import { checkCrd } from '../../../operator/controller/crd-check.ts';

const crd = (revision: string | undefined, served = true): object => ({
  metadata: {
    annotations: revision === undefined ? {} : { 'sidecarmonitor.io/crd-revision': revision },
  },
  spec: { versions: [{ name: 'v1alpha1', served }] },
  status: { conditions: [{ type: 'Established', status: 'True' }] },
});

describe('checkCrd', () => {
  it('accepts the same or a newer revision', () => {
    expect(checkCrd(crd('3'), 3)).toEqual({ ok: true, revision: 3 });
    expect(checkCrd(crd('4'), 3)).toEqual({ ok: true, revision: 4 });
  });

  it('refuses an older, unannotated, missing or non-serving CRD, saying how to upgrade', () => {
    const older = checkCrd(crd('2'), 3);
    expect(older.ok).toBe(false);
    expect(!older.ok && older.message).toMatch(
      /is revision 2 but this operator needs revision 3 or newer; upgrade it with: kubectl apply --server-side/,
    );
    const none = checkCrd(crd(undefined), 1);
    expect(!none.ok && none.message).toMatch(/is revision \(none\)/);
    const missing = checkCrd(undefined, 1);
    expect(!missing.ok && missing.message).toMatch(/is not installed/);
    const notServed = checkCrd(crd('5', false), 1);
    expect(!notServed.ok && notServed.message).toMatch(/does not serve v1alpha1/);
    expect(checkCrd(crd('x'), 1).ok).toBe(false);
  });
});
