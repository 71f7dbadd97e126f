// Prometheus's HTTP API as Grafana and the tests use it: instant and range queries, the
// label-values lookup of template variables, and the targets and rules pages.
export interface PromSeries {
  readonly metric: Record<string, string>;
  /** Instant: one [time, value]; range: many. Values are strings ("NaN", "+Inf" included). */
  readonly values: readonly (readonly [number, string])[];
}

export interface PromTarget {
  readonly labels: Record<string, string>;
  readonly discoveredLabels: Record<string, string>;
  readonly scrapePool: string;
  readonly scrapeUrl: string;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
}

export interface PromRule {
  readonly name: string;
  readonly query: string;
  readonly type: 'alerting' | 'recording';
  readonly health: string;
  readonly lastError?: string;
  readonly state?: 'inactive' | 'pending' | 'firing';
  readonly alerts?: { labels: Record<string, string>; state: string }[];
}

export interface PrometheusApi {
  readonly url: string;
  readonly instant: (expr: string) => Promise<PromSeries[]>;
  readonly range: (expr: string, seconds: number, stepSeconds: number) => Promise<PromSeries[]>;
  /** Grafana's label_values(selector, label): the label's values on series matching selector. */
  readonly labelValues: (selector: string, label: string) => Promise<string[]>;
  readonly activeTargets: () => Promise<PromTarget[]>;
  readonly rules: () => Promise<{ name: string; file: string; rules: PromRule[] }[]>;
  /** The configuration Prometheus runs with (YAML). */
  readonly config: () => Promise<string>;
  readonly buildInfo: () => Promise<{ version: string }>;
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
  errorType?: string;
}

export function prometheusApi(url: string): PrometheusApi {
  const call = async <T>(route: string, params?: Record<string, string>): Promise<T> => {
    const res = await fetch(
      `${url}${route}`,
      params === undefined
        ? {}
        : {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams(params).toString(),
          },
    );
    const body = (await res.json()) as ApiResponse<T>;
    if (body.status !== 'success') {
      throw new Error(
        `${route} ${JSON.stringify(params ?? {})}: ${body.errorType ?? ''} ${body.error ?? ''}`,
      );
    }
    return body.data;
  };
  return {
    url,
    async instant(expr) {
      const data = await call<{
        result: { metric: Record<string, string>; value: [number, string] }[];
      }>('/api/v1/query', { query: expr });
      return data.result.map((r) => ({ metric: r.metric, values: [r.value] }));
    },
    async range(expr, seconds, step) {
      const end = Date.now() / 1000;
      return (
        await call<{ result: PromSeries[] }>('/api/v1/query_range', {
          query: expr,
          start: String(end - seconds),
          end: String(end),
          step: String(step),
        })
      ).result;
    },
    labelValues(selector, label) {
      const query = new URLSearchParams({ 'match[]': selector }).toString();
      return call<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values?${query}`);
    },
    async activeTargets() {
      return (await call<{ activeTargets: PromTarget[] }>('/api/v1/targets?state=active'))
        .activeTargets;
    },
    async rules() {
      return (
        await call<{ groups: { name: string; file: string; rules: PromRule[] }[] }>('/api/v1/rules')
      ).groups;
    },
    async config() {
      return (await call<{ yaml: string }>('/api/v1/status/config')).yaml;
    },
    buildInfo: () => call<{ version: string }>('/api/v1/status/buildinfo'),
  };
}

/** Whether any sample of any series is a finite number (what a panel can draw). */
export function hasFiniteValue(series: readonly PromSeries[]): boolean {
  return series.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v))));
}
