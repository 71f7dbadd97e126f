// `npm start` / `sidecar-monitor demo`: the sample app and the exporter watching it, no cluster.
// As root it runs them as a simulated pod (shared PID namespace, own cgroups), so container
// metrics are real; otherwise the exporter runs standalone with --pid. It prints the metrics
// URL, then a short live summary until Ctrl-C (or --duration).

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { serializeExporterConfig, type ExporterConfig } from '../../exporter/config.ts';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import { DEFAULT_PORT } from '../../exporter/options.ts';
import { scrape, type Metrics } from './prom-text.ts';
import { createSimulatedPod, podSupport, type SimulatedPod } from './simulated-pod.ts';

const REPO = resolve(import.meta.dirname, '../..');
const DEMO_UID = 10001;
const USAGE = `usage: sidecar-monitor demo [--port N] [--mode auto|pod|standalone] [--duration SECONDS]

  --port       exporter port on 127.0.0.1 (default ${DEFAULT_PORT}; 0 picks a free one)
  --mode       pod needs root; auto picks pod as root, else standalone
  --duration   stop after this many seconds (default: run until Ctrl-C)`;

interface Running {
  mode: 'pod' | 'standalone';
  metricsUrl: string;
  appUrl: string;
  exporterPid: number;
  stop(): Promise<void>;
}

function config(appPort: number): ExporterConfig {
  const http = (name: string, path: string) => ({
    type: 'http' as const,
    name,
    source: 'monitor' as const,
    container: 'app',
    port: appPort,
    path,
    scheme: 'HTTP' as const,
    headers: [],
    intervalSeconds: 2,
    timeoutSeconds: 1,
    insecureSkipVerify: false,
  });
  return {
    version: 1,
    workload: { kind: 'Deployment', namespace: 'demo', name: 'sample-app', monitor: 'demo' },
    targets: [
      {
        name: 'app',
        requests: { cpuCores: 0.25, memoryBytes: 128 * 2 ** 20 },
        limits: { cpuCores: 1, memoryBytes: 512 * 2 ** 20 },
      },
    ],
    probes: [http('healthz', '/healthz'), http('work', '/work?latency_ms=20&cpu_ms=2')],
  };
}

function lines(child: ChildProcess, onLine: (line: string) => void): void {
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n');
    rest = parts.pop() ?? '';
    parts.forEach(onLine);
  });
}

function waitForMatch(
  child: ChildProcess,
  pattern: RegExp,
  what: string,
): Promise<RegExpExecArray> {
  return new Promise((resolveMatch, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const m = pattern.exec(seen);
      if (m) {
        child.stdout?.off('data', onData);
        resolveMatch(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    child.once('exit', () => {
      reject(new Error(`${what} exited:\n${seen.slice(-2000)}`));
    });
  });
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

async function runStandalone(port: number): Promise<Running> {
  const app = spawn(process.execPath, [`${REPO}/examples/sample-app/main.ts`, '--port', '0'], {
    env: { ...process.env, SIDECAR_MONITOR_CONTAINER: 'app' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const appPort = Number((await waitForMatch(app, /"port":(\d+)/, 'the sample app'))[1]);
  const exporter = spawn(
    process.execPath,
    [
      `${REPO}/bin/sidecar-monitor.ts`,
      'exporter',
      '--listen',
      `127.0.0.1:${port}`,
      '--pid',
      String(app.pid),
    ],
    {
      env: { ...process.env, SIDECAR_MONITOR_CONFIG: serializeExporterConfig(config(appPort)) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const address = (await waitForMatch(exporter, /"address":"(http:[^"]+)"/, 'the exporter'))[1];
  lines(exporter, () => undefined);
  const stopChild = (c: ChildProcess) =>
    new Promise<void>((done) => {
      if (c.exitCode !== null || c.signalCode !== null) done();
      else {
        c.once('exit', () => {
          done();
        });
        c.kill('SIGTERM');
      }
    });
  return {
    mode: 'standalone',
    metricsUrl: `${address}/metrics`,
    appUrl: `http://127.0.0.1:${appPort}`,
    exporterPid: exporter.pid ?? 0,
    stop: async () => {
      await stopChild(exporter);
      await stopChild(app);
    },
  };
}

async function runPod(port: number): Promise<Running> {
  const pod: SimulatedPod = await createSimulatedPod({ name: 'demo' });
  try {
    const app = await pod.start({
      name: 'app',
      uid: DEMO_UID,
      gid: DEMO_UID,
      command: ['node', `${REPO}/examples/sample-app/main.ts`, '--port', '0'],
      env: { SIDECAR_MONITOR_CONTAINER: 'app' },
      limits: { cpuCores: 1, memoryBytes: 512 * 2 ** 20 },
    });
    const appPort = Number((await app.waitFor(/"port":(\d+)/))[1]);
    const exporter = await pod.start({
      name: 'sidecar-monitor-exporter',
      uid: DEMO_UID,
      gid: DEMO_UID,
      command: [
        'node',
        `${REPO}/bin/sidecar-monitor.ts`,
        'exporter',
        '--listen',
        `127.0.0.1:${port}`,
      ],
      env: { SIDECAR_MONITOR_CONFIG: serializeExporterConfig(config(appPort)) },
      limits: { cpuCores: 0.2, memoryBytes: 128 * 2 ** 20 },
    });
    const address = (await exporter.waitFor(/"address":"(http:[^"]+)"/))[1];
    return {
      mode: 'pod',
      metricsUrl: `${address}/metrics`,
      appUrl: `http://127.0.0.1:${appPort}`,
      exporterPid: exporter.hostPid,
      stop: async () => {
        exporter.kill('SIGTERM');
        await Promise.race([exporter.exited, sleep(3000, undefined, { ref: false })]);
        await pod.stop();
      },
    };
  } catch (err) {
    await pod.stop();
    throw err;
  }
}

const mib = (bytes: number | undefined) =>
  bytes === undefined ? '-' : `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function probeText(m: Metrics, probe: string): string {
  const ok = m.get(METRICS.probeSuccess.name, { probe });
  const total = m.get(METRICS.probePhaseDurationSeconds.name, { probe, phase: 'total' });
  if (ok === undefined) return `${probe} …`;
  return `${probe} ${ok === 1 ? 'ok' : 'FAIL'} ${total === undefined ? '' : `${(total * 1000).toFixed(1)} ms`}`.trim();
}

function summary(
  m: Metrics,
  mode: Running['mode'],
  previous: { at: number; cpu: number; self: number } | undefined,
  at: number,
) {
  const app = { container: 'app' };
  // Standalone, the app shares its cgroup with whatever started it: use its own processes.
  const cpu =
    (mode === 'pod' ? m.get(METRICS.containerCpuUsageSeconds.name, app) : undefined) ??
    m.sum(METRICS.processCpuSeconds.name, app);
  const self = m.get(METRICS.runtimeProcessCpuSeconds.name) ?? 0;
  const dt = previous ? (at - previous.at) / 1000 : 0;
  const rate = (now: number, before: number | undefined) =>
    previous && dt > 0 && before !== undefined ? ((now - before) / dt).toFixed(2) : '…';
  const ws = mode === 'pod' ? m.get(METRICS.containerMemoryWorkingSetBytes.name, app) : undefined;
  const text = [
    `app: cpu ${rate(cpu, previous?.cpu)} cores`,
    ws === undefined
      ? `rss ${mib(m.get(METRICS.processResidentMemoryBytes.name, app))}`
      : `working set ${mib(ws)}`,
    `processes ${m.get(METRICS.containerProcesses.name, app) ?? 0}`,
    `| ${probeText(m, 'healthz')}, ${probeText(m, 'work')}`,
    `| exporter: rss ${mib(m.get(METRICS.runtimeProcessResidentMemoryBytes.name))}, cpu ${previous ? (((self - previous.self) / dt) * 100).toFixed(1) : '…'}%`,
  ].join('  ');
  return { text, state: { at, cpu, self } };
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        port: { type: 'string', default: String(DEFAULT_PORT) },
        mode: { type: 'string', default: 'auto' },
        duration: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    console.error(`sidecar-monitor demo: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = Number(values.port);
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (
    !Number.isInteger(port) ||
    port < 0 ||
    port > 65535 ||
    (duration !== undefined && !(duration > 0))
  ) {
    console.error(`sidecar-monitor demo: bad --port or --duration\n\n${USAGE}`);
    return 2;
  }
  const why = podSupport();
  let mode = values.mode;
  if (mode === 'auto') mode = why === undefined ? 'pod' : 'standalone';
  if (mode !== 'pod' && mode !== 'standalone') {
    console.error(`sidecar-monitor demo: --mode must be auto, pod or standalone\n\n${USAGE}`);
    return 2;
  }
  if (mode === 'pod' && why !== undefined) {
    console.error(`sidecar-monitor demo: --mode pod: ${why}`);
    return 2;
  }
  if (mode === 'standalone' && why !== undefined)
    console.log(
      `(${why}: running the exporter standalone with --pid; container metrics need the pod mode)`,
    );

  let running: Running;
  try {
    // The exporter refuses port 0 (nothing could find it): the demo picks the free port.
    const listen = port === 0 ? await freeLoopbackPort() : port;
    running = mode === 'pod' ? await runPod(listen) : await runStandalone(listen);
  } catch (err) {
    console.error(`sidecar-monitor demo: ${(err as Error).message}`);
    return 1;
  }
  console.log(`metrics: ${running.metricsUrl}`);
  console.log(
    `app:     ${running.appUrl}  (try: curl '${running.appUrl}/load?cpu=0.5', '${running.appUrl}/hold?mb=100', '${running.appUrl}/spawn?n=5')`,
  );
  console.log(
    `mode:    ${running.mode === 'pod' ? 'simulated pod (shared PID namespace, own cgroups, non-root)' : 'standalone (--pid)'}`,
  );

  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (stopRequested = r));
  const onSignal = () => {
    stopRequested();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = duration === undefined ? undefined : setTimeout(onSignal, duration * 1000);

  let state: { at: number; cpu: number; self: number } | undefined;
  const tick = async () => {
    try {
      const m = await scrape(running.metricsUrl);
      const s = summary(m, running.mode, state, Date.now());
      state = s.state;
      console.log(s.text);
    } catch (err) {
      console.log(`(scrape failed: ${(err as Error).message})`);
    }
  };
  await tick();
  const interval = setInterval(() => void tick(), 2000);
  await stopped;
  clearInterval(interval);
  clearTimeout(timer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  console.log('stopping…');
  await running.stop();
  return 0;
}
