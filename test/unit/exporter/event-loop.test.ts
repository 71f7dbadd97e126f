import { describe, expect, it } from 'vitest';
import { LagWindow } from '../../../exporter/metrics/event-loop.ts';

describe('event-loop lag window', () => {
  it('reports zeros before any sample, never empty-histogram sentinels', () => {
    expect(new LagWindow(60).stats()).toEqual({
      last: 0,
      min: 0,
      max: 0,
      mean: 0,
      stddev: 0,
      p50: 0,
      p90: 0,
      p99: 0,
    });
  });

  it('reports lags in seconds over the last one to two windows, reading does not reset', () => {
    const w = new LagWindow(3);
    for (const ms of [0, 2, 4]) w.record(ms * 1e6);
    const first = w.stats();
    expect(first.min).toBe(0);
    expect(first.max).toBeCloseTo(0.004, 4);
    expect(first.mean).toBeCloseTo(0.002, 3);
    expect(w.stats()).toEqual(first);
    // A stall in the next window, still filling: both windows count.
    w.record(500e6);
    expect(w.stats().max).toBeCloseTo(0.5, 2);
    expect(w.stats().min).toBe(0);
    // Once that window is full, the first is forgotten; one more full window forgets the stall.
    for (const ms of [1, 1]) w.record(ms * 1e6);
    expect(w.stats().min).toBeCloseTo(0.001, 4);
    expect(w.stats().max).toBeCloseTo(0.5, 2);
    for (const ms of [1, 1, 1]) w.record(ms * 1e6);
    expect(w.stats().max).toBeCloseTo(0.001, 4);
  });
});
