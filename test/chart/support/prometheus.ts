// A real Prometheus (Debian `prometheus`) on loopback with a given scrape configuration,
// and the two queries Grafana sends: instant and range, plus the label-values lookup of
// template variables. Its data lives in a temp directory removed by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { prometheusApi, type PromSeries } from '../../stack/prometheus-api.ts';

export type { PromSeries } from '../../stack/prometheus-api.ts';
export { hasFiniteValue } from '../../stack/prometheus-api.ts';

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

  const { instant, range, labelValues } = prometheusApi(url);
  return {
    url,
    instant,
    range,
    labelValues,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
