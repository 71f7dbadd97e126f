// The exporter's own event-loop lag figures mean what their names say whoever scrapes and how
// often: an idle exporter lags by milliseconds (not the 1 s sampling period), and two scrapes a
// few milliseconds apart (an HA Prometheus pair) both read real figures, the same ones.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import { scrape } from './helpers/metrics.ts';
import { MATCH_NOTHING, startExporter, type ExporterProcess } from './helpers/process.ts';
import { promtoolCheckMetrics } from './helpers/prometheus.ts';

let exporter: ExporterProcess;
beforeAll(async () => {
  exporter = await startExporter(MATCH_NOTHING);
});
afterAll(async () => {
  await (exporter as ExporterProcess | undefined)?.stop();
});

const LAG = [
  METRICS.runtimeEventLoopLagMinSeconds,
  METRICS.runtimeEventLoopLagMaxSeconds,
  METRICS.runtimeEventLoopLagMeanSeconds,
  METRICS.runtimeEventLoopLagStddevSeconds,
  METRICS.runtimeEventLoopLagP50Seconds,
  METRICS.runtimeEventLoopLagP90Seconds,
  METRICS.runtimeEventLoopLagP99Seconds,
  METRICS.runtimeEventLoopLagSeconds,
];

describe('event-loop lag', () => {
  it('idle: lags well under the 1 s sampling period; HA pairs read the same real figures; promtool clean', async () => {
    const url = `${exporter.address}/metrics`;
    // A few samples (one a second).
    await new Promise((r) => setTimeout(r, 3500));
    const [a, b] = await Promise.all([scrape(url), scrape(url)]);
    const c = await scrape(url);
    for (const m of [a, b, c]) {
      for (const spec of LAG) {
        const v = m.value(spec.name);
        expect(Number.isFinite(v), `${spec.name} = ${v}`).toBe(true);
        expect(v, spec.name).toBeGreaterThanOrEqual(0);
        // prom-client read ~1.0 s here (the period itself), and 9223372036.85 when empty.
        expect(v, spec.name).toBeLessThan(0.5);
      }
      expect(m.value(METRICS.runtimeEventLoopLagMaxSeconds.name)).toBeGreaterThanOrEqual(
        m.value(METRICS.runtimeEventLoopLagMinSeconds.name),
      );
      expect(promtoolCheckMetrics(m.text)).toEqual({ status: 0, output: '' });
    }
    // Scraping does not reset the window: back-to-back scrapes read the same distribution.
    expect(c.value(METRICS.runtimeEventLoopLagMaxSeconds.name)).toBe(
      a.value(METRICS.runtimeEventLoopLagMaxSeconds.name),
    );
  });
});
