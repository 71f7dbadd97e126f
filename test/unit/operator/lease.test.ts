import { describe, expect, it } from 'vitest';
import {
  decide,
  DEFAULT_TIMING,
  microTime,
  observe,
  releasedSpec,
} from '../../../operator/leader/lease.ts';

const t0 = Date.UTC(2026, 0, 1);
/** The same reading on both clocks (the tests below that need them apart say so). */
const at = (t: number) => ({ monotonic: t, wall: t });

describe('lease decisions', () => {
  it('creates a missing lease', () => {
    const d = decide(undefined, undefined, 'me', at(t0), DEFAULT_TIMING);
    expect(d).toEqual({
      action: 'create',
      spec: {
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: '2026-01-01T00:00:00.000000Z',
        renewTime: '2026-01-01T00:00:00.000000Z',
        leaseTransitions: 0,
      },
    });
  });

  it('waits while another holder keeps renewing, judged by our own observation time', () => {
    const other = {
      holderIdentity: 'other',
      leaseDurationSeconds: 15,
      renewTime: microTime(t0),
      leaseTransitions: 2,
    };
    let seen = observe(undefined, other, t0);
    expect(decide(other, seen, 'me', at(t0 + 14_999), DEFAULT_TIMING)).toEqual({
      action: 'wait',
      holder: 'other',
    });
    // The holder renews: a new record restarts our observation window.
    const renewed = { ...other, renewTime: microTime(t0 + 10_000) };
    seen = observe(seen, renewed, t0 + 10_000);
    expect(decide(renewed, seen, 'me', at(t0 + 20_000), DEFAULT_TIMING).action).toBe('wait');
    // Even if the holder's clock says its renewTime is far in the future or past,
    // only what we observed matters.
    const skewed = { ...other, renewTime: '2000-01-01T00:00:00.000000Z' };
    const s2 = observe(undefined, skewed, t0);
    expect(decide(skewed, s2, 'me', at(t0 + 1000), DEFAULT_TIMING).action).toBe('wait');
  });

  it('takes over an expired or released lease and counts the transition', () => {
    const other = {
      holderIdentity: 'other',
      leaseDurationSeconds: 15,
      renewTime: microTime(t0),
      leaseTransitions: 2,
    };
    const seen = observe(undefined, other, t0);
    const d = decide(other, seen, 'me', at(t0 + 15_000), DEFAULT_TIMING);
    expect(d).toMatchObject({
      action: 'update',
      acquired: true,
      spec: { holderIdentity: 'me', leaseTransitions: 3 },
    });
    const released = releasedSpec(other, t0 + 1000);
    expect(released).toMatchObject({ holderIdentity: null, leaseDurationSeconds: 1 });
    const r = decide(
      released,
      observe(seen, released, t0 + 1000),
      'me',
      at(t0 + 1001),
      DEFAULT_TIMING,
    );
    expect(r).toMatchObject({ action: 'update', acquired: true });
  });

  it('renews its own lease, keeping acquireTime', () => {
    const mine = {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: microTime(t0),
      renewTime: microTime(t0),
      leaseTransitions: 1,
    };
    const d = decide(mine, observe(undefined, mine, t0), 'me', at(t0 + 2000), DEFAULT_TIMING);
    expect(d).toEqual({
      action: 'update',
      acquired: false,
      spec: { ...mine, renewTime: '2026-01-01T00:00:02.000000Z' },
    });
  });
});

describe('lease expiry is judged on the monotonic clock', () => {
  const other = {
    holderIdentity: 'other',
    leaseDurationSeconds: 15,
    renewTime: microTime(t0),
    leaseTransitions: 2,
  };

  it('a wall clock stepped forward (NTP, a resumed VM) does not expire a live lease', () => {
    const seen = observe(undefined, other, 1_000);
    // One second later on the monotonic clock, an hour later on the wall clock.
    const d = decide(other, seen, 'me', { monotonic: 2_000, wall: t0 + 3_600_000 }, DEFAULT_TIMING);
    expect(d).toEqual({ action: 'wait', holder: 'other' });
  });

  it('a wall clock stepped back does not keep a dead holder alive; timestamps use the wall clock', () => {
    const seen = observe(undefined, other, 1_000);
    const d = decide(
      other,
      seen,
      'me',
      { monotonic: 16_000, wall: t0 - 3_600_000 },
      DEFAULT_TIMING,
    );
    expect(d).toMatchObject({
      action: 'update',
      acquired: true,
      spec: { holderIdentity: 'me', renewTime: microTime(t0 - 3_600_000) },
    });
  });
});
