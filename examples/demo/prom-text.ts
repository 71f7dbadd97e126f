// A strict reader of the Prometheus text format, for the demo's live summary and for test
// assertions: every line must be a comment or a well-formed sample, so a formatting bug fails
// whatever reads the output.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  if (Number.isNaN(n)) throw new Error(`bad sample value "${text}"`);
  return n;
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    let consumed = 0;
    for (let l = LABEL.exec(body); l; l = LABEL.exec(body)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      consumed = LABEL.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`bad labels in: ${line}`);
    out.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  return out;
}

export class Metrics {
  readonly text: string;
  readonly samples: Sample[];
  constructor(text: string) {
    this.text = text;
    this.samples = parseMetrics(text);
  }

  /** Samples of a metric whose labels include all of `labels`. */
  all(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
  }

  get(name: string, labels: Record<string, string> = {}): number | undefined {
    return this.all(name, labels)[0]?.value;
  }

  /** Like get, but fails the test with the metric's samples when absent. */
  value(name: string, labels: Record<string, string> = {}): number {
    const v = this.get(name, labels);
    if (v === undefined) {
      const seen = this.all(name).map((s) => JSON.stringify(s.labels));
      throw new Error(`no ${name}${JSON.stringify(labels)}; present: ${seen.join(' ') || 'none'}`);
    }
    return v;
  }

  sum(name: string, labels: Record<string, string> = {}): number {
    return this.all(name, labels).reduce((n, s) => n + s.value, 0);
  }

  /** Distinct values of a label across a metric's samples. */
  labelValues(name: string, label: string): string[] {
    return [...new Set(this.all(name).map((s) => s.labels[label] ?? ''))].sort();
  }
}

export async function scrape(url: string): Promise<Metrics> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return new Metrics(await response.text());
}
