// Reads a dashboard's panels, queries and variables, and fills variables into a query the
// way Grafana's Prometheus data source does, so tests can run every panel's queries against
// a real Prometheus exactly as Grafana would send them.
import type { Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard';
import type { ClassicDashboard as Dashboard } from '../../../charts/sidecar-monitor/dashboards/layout.ts';

export interface PanelQuery {
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
  readonly instant: boolean;
}

export interface VariableDef {
  readonly name: string;
  readonly type: string;
  /** The `label_values(...)` query of a query variable. */
  readonly query?: string;
  readonly multi: boolean;
  readonly includeAll: boolean;
  readonly allValue?: string;
}

/** Every non-row panel, including panels nested in collapsed rows. */
export function panelsOf(dashboard: Dashboard): Panel[] {
  const out: Panel[] = [];
  for (const p of dashboard.panels ?? []) {
    if (p.type === 'row') out.push(...(p as RowPanel).panels);
    else out.push(p);
  }
  return out;
}

interface RawTarget {
  refId?: unknown;
  expr?: unknown;
  instant?: unknown;
}

export function queriesOf(dashboard: Dashboard): PanelQuery[] {
  return panelsOf(dashboard).flatMap((p) =>
    ((p.targets ?? []) as RawTarget[]).map((t) => ({
      panel: p.title ?? '(untitled)',
      refId: String(t.refId),
      expr: String(t.expr),
      instant: t.instant === true,
    })),
  );
}

export function variablesOf(dashboard: Dashboard): VariableDef[] {
  return (dashboard.templating.list ?? []).map((v) => {
    const def: VariableDef = {
      name: v.name,
      type: v.type,
      multi: v.multi === true,
      includeAll: v.includeAll === true,
      ...(typeof v.query === 'string' ? { query: v.query } : {}),
      ...(v.allValue !== undefined ? { allValue: v.allValue } : {}),
    };
    return def;
  });
}

/** Names of variables a query refers to (`$x`, `${x}`, `[[x]]`), Grafana's built-ins excluded. */
export function referencedVariables(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g)) {
    const name = m[1] ?? m[2] ?? m[3]!;
    if (!name.startsWith('__')) names.add(name);
  }
  return [...names];
}

/** `label_values(selector, label)` → its parts, or undefined for other variable queries. */
export function parseLabelValues(query: string): { selector: string; label: string } | undefined {
  const m = /^label_values\((.*),\s*(\w+)\)$/.exec(query.trim());
  return m ? { selector: m[1]!.trim(), label: m[2]! } : undefined;
}

/** What a variable is set to: some of its values, or "All". */
export type Selection =
  { readonly values: readonly string[] } | { readonly all: readonly string[] };

export interface Interpolation {
  readonly variables: ReadonlyMap<string, { def: VariableDef; selection: Selection }>;
  /** Grafana's `$__rate_interval`, `$__interval` and `$__range`, e.g. `1m`. */
  readonly rateInterval: string;
  readonly interval: string;
  readonly range: string;
}

// Grafana's Prometheus data source escapes regex metacharacters of multi-value variables
// and joins them as an alternation; a single-value variable only escapes backslashes and
// quotes (prometheusRegularEscape / prometheusSpecialRegexEscape).
function regularEscape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/'/g, "\\\\'");
}
function regexEscape(v: string): string {
  return v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
}

function format(def: VariableDef, selection: Selection): string {
  if ('all' in selection) {
    if (def.allValue !== undefined) return def.allValue;
    return `(${selection.all.map(regexEscape).join('|')})`;
  }
  if (!def.multi && !def.includeAll) return regularEscape(selection.values[0] ?? '');
  if (selection.values.length === 1) return regexEscape(selection.values[0]!);
  return `(${selection.values.map(regexEscape).join('|')})`;
}

export function interpolate(expr: string, ctx: Interpolation): string {
  const builtins: Record<string, string> = {
    __rate_interval: ctx.rateInterval,
    __interval: ctx.interval,
    __range: ctx.range,
  };
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g,
    (whole, a?: string, b?: string, c?: string) => {
      const name = a ?? b ?? c!;
      const builtin = builtins[name];
      if (builtin !== undefined) return builtin;
      const v = ctx.variables.get(name);
      if (v === undefined) throw new Error(`query refers to unknown variable ${whole}: ${expr}`);
      return format(v.def, v.selection);
    },
  );
}
