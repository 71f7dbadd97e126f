// How many series a config needs, by the cap's units (scrape/exposition.ts), so the operator
// can tell a monitor's owner, before any pod runs, that its probes will not fit its maxSeries.
// Pure, from the catalog: a family added there is counted here.

import type { ExporterConfig, ProbeConfig } from '../config.ts';
import {
  COLLECTORS,
  CONTEXT_SWITCH_TYPES,
  CPU_MODES,
  METRIC_LIST,
  PROBE_DURATION_BUCKETS,
  type MetricSpec,
} from './catalog.ts';

/** Label values with a fixed set, by label name; other labels name the unit itself. */
const FIXED_LABEL_VALUES: Readonly<Record<string, number>> = {
  mode: CPU_MODES.length,
  type: CONTEXT_SWITCH_TYPES.length,
  collector: COLLECTORS.length,
};

function seriesOf(spec: MetricSpec): number {
  let n = spec.type === 'histogram' ? PROBE_DURATION_BUCKETS.length + 3 : 1;
  for (const label of spec.labels) n *= FIXED_LABEL_VALUES[label] ?? 1;
  return n;
}

const sum = (specs: readonly MetricSpec[]) => specs.reduce((n, s) => n + seriesOf(s), 0);

/** build and workload info, collector duration and success, the limit and the dropped count. */
export const ESSENTIAL_SERIES = sum(
  METRIC_LIST.filter((s) => s.group === 'exporter' && !s.labels.includes('container')),
);

/** One watched container with every container and process series. */
export const CONTAINER_SERIES = sum(
  METRIC_LIST.filter((s) => s.group === 'container' || s.group === 'process'),
);

/** Failure reasons a probe is counted with: one series each once seen (a few, in practice). */
export const FAILURE_REASONS_ASSUMED = 2;

/**
 * Series of one probe: info, the duration histogram, phases, success, the status code (HTTP),
 * and a failure counter per reason seen.
 */
export function probeSeries(probe: ProbeConfig): number {
  const phases = probe.type === 'http' ? 3 : 2;
  const statusCode = probe.type === 'http' ? 1 : 0;
  return (
    1 + (PROBE_DURATION_BUCKETS.length + 3) + phases + 1 + statusCode + FAILURE_REASONS_ASSUMED
  );
}

export interface SeriesNeed {
  /** Essential families, the configured targets and every probe. */
  needed: number;
  limit: number;
  /** How many probes (in config order) fit after the essential families and the targets. */
  probesThatFit: number;
}

/** The series a config needs against its limit (the exporter's own runtime series come last). */
export function seriesNeed(config: ExporterConfig, limit: number): SeriesNeed {
  let used = ESSENTIAL_SERIES + config.targets.length * CONTAINER_SERIES;
  let probesThatFit = 0;
  let needed = used;
  for (const p of config.probes) {
    needed += probeSeries(p);
    if (used + probeSeries(p) <= limit) {
      used += probeSeries(p);
      probesThatFit++;
    } else used = Infinity;
  }
  return { needed, limit, probesThatFit };
}
