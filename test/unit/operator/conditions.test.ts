import { describe, expect, it } from 'vitest';
import {
  findCondition,
  sameConditions,
  setCondition,
} from '../../../operator/controller/conditions.ts';

const t1 = new Date('2026-01-01T00:00:00.123Z');
const t2 = new Date('2026-01-01T01:00:00Z');

describe('setCondition', () => {
  it('keeps lastTransitionTime while the status stays, and moves it when the status flips', () => {
    let c = setCondition(
      [],
      { type: 'Ready', status: 'False', reason: 'Pending', message: 'a' },
      t1,
    );
    expect(c[0]!.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    c = setCondition(c, { type: 'Ready', status: 'False', reason: 'Other', message: 'b' }, t2);
    expect(c[0]).toMatchObject({ reason: 'Other', lastTransitionTime: '2026-01-01T00:00:00Z' });
    c = setCondition(c, { type: 'Ready', status: 'True', reason: 'Ok', message: 'c' }, t2);
    expect(c[0]!.lastTransitionTime).toBe('2026-01-01T01:00:00Z');
  });

  it('keeps the position of existing conditions and appends new ones, without mutating', () => {
    const base = setCondition(
      setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: '' }, t1),
      { type: 'Degraded', status: 'False', reason: 'B', message: '' },
      t1,
    );
    const frozen = structuredClone(base);
    const next = setCondition(
      base,
      { type: 'Ready', status: 'False', reason: 'C', message: '' },
      t2,
    );
    expect(next.map((c) => c.type)).toEqual(['Ready', 'Degraded']);
    expect(base).toEqual(frozen);
    expect(findCondition(next, 'Ready')?.reason).toBe('C');
    expect(findCondition(next, 'Conflict')).toBeUndefined();
  });

  it('sameConditions ignores only lastTransitionTime', () => {
    const a = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: 'm' }, t1);
    const b = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: 'm' }, t2);
    expect(sameConditions(a, b)).toBe(true);
    const c = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: 'n' }, t1);
    expect(sameConditions(a, c)).toBe(false);
    expect(sameConditions(a, [])).toBe(false);
  });
});
