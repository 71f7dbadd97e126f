// The series a config needs, and the operator's note when a monitor's probes do not fit.

import { describe, expect, it } from 'vitest';
import type { ProbeConfig } from '../../../exporter/config.ts';
import {
  CONTAINER_SERIES,
  ESSENTIAL_SERIES,
  probeSeries,
  seriesNeed,
} from '../../../exporter/metrics/budget.ts';
import { desiredPodTemplate } from '../../../operator/inject/index.ts';
import { deployment, facts, monitor } from '../inject/fixtures.ts';

const http = (name: string): ProbeConfig => ({
  type: 'http',
  name,
  source: 'monitor',
  port: 8080,
  path: '/',
  scheme: 'HTTP',
  headers: [],
  intervalSeconds: 10,
  timeoutSeconds: 1,
  insecureSkipVerify: false,
});

describe('series budget', () => {
  it('counts the units the cap keeps', () => {
    // build and workload info, 3 collectors × (duration, success), limit, dropped.
    expect(ESSENTIAL_SERIES).toBe(10);
    expect(CONTAINER_SERIES).toBeGreaterThan(40);
    // info 1, histogram 13 buckets + Inf + sum + count, 3 phases, success, status code, 2 reasons.
    expect(probeSeries(http('a'))).toBe(24);
    const need = seriesNeed(
      { version: 1, targets: [{ name: 'app' }], probes: ['a', 'b', 'c'].map(http) },
      10 + CONTAINER_SERIES + 2 * 24,
    );
    expect(need).toEqual({
      needed: 10 + CONTAINER_SERIES + 72,
      limit: 10 + CONTAINER_SERIES + 48,
      probesThatFit: 2,
    });
  });

  it('the operator notes a monitor whose probes do not fit its maxSeries, and how to fix it', () => {
    const endpoints = Array.from({ length: 20 }, (_, i) => ({
      name: `e${i}`,
      type: 'HTTP' as const,
      port: 8080,
      path: `/health/${i}`,
    }));
    const tight = desiredPodTemplate(deployment(), monitor({ health: { endpoints } }), facts());
    if (tight.outcome !== 'Injected') throw new Error(tight.message);
    const note = tight.notes.find((n) => n.code === 'SeriesBudget');
    expect(note?.message).toMatch(
      /need about \d+ series but spec\.exporter\.maxSeries is 500: only the first 1\d probes fit.*set spec\.exporter\.maxSeries to at least \d+/,
    );
    const roomy = desiredPodTemplate(
      deployment(),
      monitor({ health: { endpoints }, exporter: { maxSeries: 2000 } }),
      facts(),
    );
    if (roomy.outcome !== 'Injected') throw new Error(roomy.message);
    expect(roomy.notes.filter((n) => n.code === 'SeriesBudget')).toEqual([]);
  });
});
