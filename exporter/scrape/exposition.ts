// The last step of a scrape: the series cap and the Prometheus text format. Pure.
//
// The cap keeps whole units, never half of one, in the order of what users came for:
//   1. the exporter's essential families (build and workload info, scrape and collector health,
//      degraded reasons, the limit and the dropped count: they say what was dropped);
//   2. the watched containers, one at a time in priority order (configured targets first), each
//      with all its container and process series or none, so a dashboard never shows a
//      container with CPU but no memory;
//   3. the probes, one at a time in config order, each with all its series;
//   4. the exporter's own Node.js runtime families last.

import type { MetricGroup } from '../metrics/catalog.ts';

export interface FamilyValue {
  value: number;
  labels: Record<string, string | number | undefined>;
  metricName?: string;
}

export interface Family {
  name: string;
  help: string;
  type: string;
  values: FamilyValue[];
}

/** The order units keep their series in, as far as the families do not say it themselves. */
export interface CapOrder {
  /** Container names, highest priority first. */
  containers: readonly string[];
  /** Probe names in config order. */
  probes: readonly string[];
}

/** What the cap left out, by unit: container and probe names, family names. */
export interface Dropped {
  series: number;
  exporter: string[];
  containers: string[];
  probes: string[];
  runtime: string[];
}

const isContainerGroup = (g: MetricGroup | undefined) => g === 'container' || g === 'process';

/** Series per unit (a label's value) over the families of some groups, in first-seen order. */
function unitSizes(families: readonly Family[], label: string, inGroup: (f: Family) => boolean) {
  const sizes = new Map<string, number>();
  for (const f of families) {
    if (!inGroup(f)) continue;
    for (const v of f.values) {
      const key = String(v.labels[label] ?? '');
      sizes.set(key, (sizes.get(key) ?? 0) + 1);
    }
  }
  return sizes;
}

export function capSeries(
  families: readonly Family[],
  limit: number,
  order: CapOrder,
  groupOf: (name: string) => MetricGroup | undefined,
): { families: Family[]; dropped: Dropped } {
  let budget = limit;
  const dropped: Dropped = { series: 0, exporter: [], containers: [], probes: [], runtime: [] };
  const keptFamilies = new Set<string>();
  const wholeFamilies = (pick: (g: MetricGroup | undefined) => boolean, into: string[]) => {
    for (const f of families) {
      if (!pick(groupOf(f.name))) continue;
      if (f.values.length <= budget) {
        budget -= f.values.length;
        keptFamilies.add(f.name);
      } else {
        dropped.series += f.values.length;
        into.push(f.name);
      }
    }
  };
  const units = (sizes: Map<string, number>, first: readonly string[], into: string[]) => {
    const kept = new Set<string>();
    for (const key of [...first, ...[...sizes.keys()].filter((k) => !first.includes(k))]) {
      const n = sizes.get(key);
      if (n === undefined || kept.has(key)) continue;
      if (n <= budget) {
        budget -= n;
        kept.add(key);
      } else {
        dropped.series += n;
        into.push(key);
      }
    }
    return kept;
  };

  wholeFamilies((g) => g === 'exporter', dropped.exporter);
  const containers = units(
    unitSizes(families, 'container', (f) => isContainerGroup(groupOf(f.name))),
    order.containers,
    dropped.containers,
  );
  const probes = units(
    unitSizes(families, 'probe', (f) => groupOf(f.name) === 'probe'),
    order.probes,
    dropped.probes,
  );
  // Runtime families, and any family the catalog does not know, last.
  wholeFamilies((g) => g === 'runtime' || g === undefined, dropped.runtime);

  const out: Family[] = [];
  for (const f of families) {
    const g = groupOf(f.name);
    if (isContainerGroup(g))
      out.push({
        ...f,
        values: f.values.filter((v) => containers.has(String(v.labels.container ?? ''))),
      });
    else if (g === 'probe')
      out.push({ ...f, values: f.values.filter((v) => probes.has(String(v.labels.probe ?? ''))) });
    else if (keptFamilies.has(f.name)) out.push(f);
  }
  return { families: out, dropped };
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function escapeLabel(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Prometheus text exposition format 0.0.4. No timestamps: values are read at scrape time. */
export function renderText(families: readonly Family[]): string {
  const parts: string[] = [];
  for (const f of families) {
    parts.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const v of f.values) {
      const labels = Object.entries(v.labels)
        .filter(([, value]) => value !== undefined)
        .map(([name, value]) => `${name}="${escapeLabel(String(value))}"`);
      const name = v.metricName ?? f.name;
      parts.push(
        labels.length > 0
          ? `${name}{${labels.join(',')}} ${formatValue(v.value)}`
          : `${name} ${formatValue(v.value)}`,
      );
    }
  }
  parts.push('');
  return parts.join('\n');
}
