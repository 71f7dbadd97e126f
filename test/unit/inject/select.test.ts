import { describe, expect, it } from 'vitest';
import { monitorSelects, selectorMatches } from '../../../operator/inject/index.ts';
import { deployment, monitor } from './fixtures.ts';

describe('selectorMatches', () => {
  const labels = { app: 'web', tier: 'backend' };
  it.each([
    [{ matchLabels: { app: 'web' } }, true],
    [{ matchLabels: { app: 'web', tier: 'frontend' } }, false],
    [
      { matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['backend', 'x'] }] },
      true,
    ],
    [{ matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['x'] }] }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['x'] }] }, true],
    [{ matchExpressions: [{ key: 'track', operator: 'NotIn' as const, values: ['x'] }] }, true],
    [
      { matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['backend'] }] },
      false,
    ],
    [{ matchExpressions: [{ key: 'app', operator: 'Exists' as const }] }, true],
    [{ matchExpressions: [{ key: 'track', operator: 'Exists' as const }] }, false],
    [{ matchExpressions: [{ key: 'track', operator: 'DoesNotExist' as const }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' as const }] }, false],
    [
      {
        matchLabels: { app: 'web' },
        matchExpressions: [{ key: 'tier', operator: 'Exists' as const }],
      },
      true,
    ],
  ])('%j → %s', (selector, expected) => {
    expect(selectorMatches(selector, labels)).toBe(expected);
  });

  it('treats an empty value as a value', () => {
    expect(
      selectorMatches(
        { matchExpressions: [{ key: 'a', operator: 'In', values: [''] }] },
        { a: '' },
      ),
    ).toBe(true);
    expect(
      selectorMatches({ matchExpressions: [{ key: 'a', operator: 'In', values: [''] }] }, {}),
    ).toBe(false);
  });
});

describe('monitorSelects', () => {
  it('selects on the workload labels, not the pod template labels', () => {
    const w = deployment({}, { labels: { app: 'other' } });
    expect(monitorSelects(monitor(), w)).toBe(true);
    w.metadata!.labels = { app: 'other' };
    expect(monitorSelects(monitor(), w)).toBe(false);
  });

  it('only in the monitor namespace; a manifest without namespace belongs to it', () => {
    const m = monitor();
    m.metadata!.namespace = 'shop';
    expect(monitorSelects(m, deployment())).toBe(true);
    m.metadata!.namespace = 'other';
    expect(monitorSelects(m, deployment())).toBe(false);
    const w = deployment();
    delete w.metadata!.namespace;
    expect(monitorSelects(m, w)).toBe(true);
  });

  it('only the kinds the monitor asks for, but always the pod kinds it cannot inject', () => {
    const m = monitor({ workloadKinds: ['StatefulSet'] });
    expect(monitorSelects(m, deployment())).toBe(false);
    expect(monitorSelects(m, { ...deployment(), kind: 'StatefulSet' })).toBe(true);
    expect(monitorSelects(m, { ...deployment(), apiVersion: 'batch/v1', kind: 'CronJob' })).toBe(
      true,
    );
    expect(monitorSelects(m, { ...deployment(), apiVersion: 'v1', kind: 'Service' })).toBe(false);
    expect(monitorSelects(monitor(), { ...deployment(), kind: 'DaemonSet' })).toBe(true);
  });
});
