// A real Prometheus (Debian `prometheus`) on loopback with a given scrape configuration,
// and the two queries Grafana sends: instant and range, plus the label-values lookup of
// template variables. Its data lives in a temp directory removed by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';

export interface PromSeries {
  readonly metric: Record<string, string>;
  /** Instant: one [time, value]; range: many. Values are strings ("NaN", "+Inf" included). */
  readonly values: readonly (readonly [number, string])[];
}

export interface Prometheus extends AsyncDisposable {
  readonly url: string;
  instant(expr: string): Promise<PromSeries[]>;
  range(expr: string, seconds: number, stepSeconds: number): Promise<PromSeries[]>;
  /** Grafana's label_values(selector, label): the label's values on series matching selector. */
  labelValues(selector: string, label: string): Promise<string[]>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => {
        if (a !== null && typeof a === 'object') resolve(a.port);
        else reject(new Error('no port'));
      });
    });
  });
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
  errorType?: string;
}

export async function startPrometheus(scrapeConfigs: readonly object[]): Promise<Prometheus> {
  const dir = mkdtempSync(path.join(tmpdir(), 'prometheus-'));
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      scrape_configs: scrapeConfigs,
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const api = async <T>(route: string, params: Record<string, string>): Promise<T> => {
    const res = await fetch(`${url}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    });
    const body = (await res.json()) as ApiResponse<T>;
    if (body.status !== 'success') {
      throw new Error(
        `${route} ${JSON.stringify(params)}: ${body.errorType ?? ''} ${body.error ?? ''}`,
      );
    }
    return body.data;
  };

  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await fetch(`${url}/-/ready`).catch(() => undefined);
      if (ready?.status === 200) break;
      if (child.exitCode !== null) throw new Error(`prometheus exited:\n${log}`);
      if (Date.now() > deadline) throw new Error(`prometheus not ready:\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url,
    async instant(expr) {
      const data = await api<{
        result: { metric: Record<string, string>; value: [number, string] }[];
      }>('/api/v1/query', { query: expr });
      return data.result.map((r) => ({ metric: r.metric, values: [r.value] }));
    },
    async range(expr, seconds, step) {
      const end = Date.now() / 1000;
      return (
        await api<{ result: PromSeries[] }>('/api/v1/query_range', {
          query: expr,
          start: String(end - seconds),
          end: String(end),
          step: String(step),
        })
      ).result;
    },
    async labelValues(selector, label) {
      const query = new URLSearchParams({ 'match[]': selector }).toString();
      const res = await fetch(`${url}/api/v1/label/${encodeURIComponent(label)}/values?${query}`);
      const body = (await res.json()) as ApiResponse<string[]>;
      if (body.status !== 'success')
        throw new Error(`label_values(${selector}, ${label}): ${body.error ?? ''}`);
      return body.data;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Whether any sample of any series is a finite number (what a panel can draw). */
export function hasFiniteValue(series: readonly PromSeries[]): boolean {
  return series.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v))));
}
