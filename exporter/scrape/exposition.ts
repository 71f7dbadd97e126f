// The last step of a scrape: the series cap and the Prometheus text format. Pure.
//
// The cap keeps whole units, never half of one: the exporter's own families first (they say
// what was dropped), then probes and runtime families, then containers one at a time in
// priority order (configured targets first), each with all its series or none, so a
// dashboard never shows a container with CPU but no memory.

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

const FIXED_ORDER: readonly (MetricGroup | undefined)[] = [
  'exporter',
  'probe',
  'runtime',
  undefined,
];

export function capSeries(
  families: readonly Family[],
  limit: number,
  priority: readonly string[],
  groupOf: (name: string) => MetricGroup | undefined,
): { families: Family[]; dropped: number } {
  let budget = limit;
  let dropped = 0;
  const keptFixed = new Set<string>();
  const perContainer = new Map<string, number>();
  for (const group of FIXED_ORDER) {
    for (const f of families) {
      const g = groupOf(f.name);
      if (g === 'container' || g === 'process' || g !== group) continue;
      if (f.values.length <= budget) {
        budget -= f.values.length;
        keptFixed.add(f.name);
      } else dropped += f.values.length;
    }
  }
  for (const f of families) {
    const g = groupOf(f.name);
    if (g !== 'container' && g !== 'process') continue;
    for (const v of f.values) {
      const c = String(v.labels.container ?? '');
      perContainer.set(c, (perContainer.get(c) ?? 0) + 1);
    }
  }
  const order = [...priority, ...[...perContainer.keys()].filter((c) => !priority.includes(c))];
  const keptContainers = new Set<string>();
  for (const c of order) {
    const n = perContainer.get(c);
    if (n === undefined) continue;
    if (n <= budget) {
      budget -= n;
      keptContainers.add(c);
    } else dropped += n;
  }
  const out: Family[] = [];
  for (const f of families) {
    const g = groupOf(f.name);
    if (g === 'container' || g === 'process') {
      out.push({
        ...f,
        values: f.values.filter((v) => keptContainers.has(String(v.labels.container ?? ''))),
      });
    } else if (keptFixed.has(f.name)) out.push(f);
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
