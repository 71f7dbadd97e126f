import { describe, expect, it } from 'vitest';
import type { SidecarMonitor } from '../../../operator/api/v1alpha1.ts';
import { selectOwner, selects } from '../../../operator/controller/selection.ts';
import type { KubeObject } from '../../../operator/kube/resources.ts';

function monitor(
  name: string,
  created: string,
  spec: Partial<SidecarMonitor['spec']> = {},
  extra: object = {},
): SidecarMonitor {
  return {
    apiVersion: 'sidecarmonitor.io/v1alpha1',
    kind: 'SidecarMonitor',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, creationTimestamp: created, ...extra },
    spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
  };
}

const w: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'ns', labels: { app: 'web' } },
};

describe('selectOwner', () => {
  it('gives the workload to the oldest selecting monitor, the others lose', () => {
    const old = monitor('old', '2026-01-01T00:00:00Z');
    const young = monitor('young', '2026-01-02T00:00:00Z');
    const sameAgeB = monitor('b', '2026-01-02T00:00:00Z');
    const s = selectOwner([young, sameAgeB, old], w);
    expect(s.winner?.metadata?.name).toBe('old');
    expect(s.losers.map((m) => m.metadata?.name)).toEqual(['b', 'young']);
  });

  it('ignores monitors being deleted, of other kinds, or not matching', () => {
    const deleting = monitor(
      'a',
      '2026-01-01T00:00:00Z',
      {},
      { deletionTimestamp: '2026-01-03T00:00:00Z' },
    );
    const stsOnly = monitor('b', '2026-01-01T00:00:01Z', { workloadKinds: ['StatefulSet'] });
    const other = monitor('d', '2026-01-01T00:00:01Z', {
      selector: { matchLabels: { app: 'db' } },
    });
    const next = monitor('c', '2026-01-02T00:00:00Z');
    expect(selects(stsOnly, w)).toBe(false);
    expect(selects(other, w)).toBe(false);
    const s = selectOwner([deleting, stsOnly, other, next], w);
    expect(s.winner?.metadata?.name).toBe('c');
    expect(s.losers).toEqual([]);
    expect(selectOwner([deleting], w).winner).toBeUndefined();
  });
});
