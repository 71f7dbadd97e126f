// The exporter (as it ships: tsc output, its Node flags) against hostile clients, targets and
// settings, on loopback: what the exporter suite asserts as bounds, measured as times and CPU
// shares (never asserted on a shared machine). Part of `npm run bench -- exporter`.
//
//   - pipelined flood: 4 connections × 10,000 `GET /metrics`, never read: RSS growth, /healthz
//     latency on new connections meanwhile, SIGTERM-to-exit time with the flood still open;
//   - a probe target answering `100 Continue` forever: exporter CPU share, /metrics p99, the
//     longest attempt, against the same exporter probing a healthy target;
//   - --match: CPU per scrape and RSS against --pid on the same 50 processes, and scrapes with
//     a catastrophic pattern and a command line built to trigger it.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** Installs a Debian package when its command is missing (as test/setup/tools.sh does). */
export function ensureDebianPackage(command: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${command}`]).status === 0) return;
  if (process.getuid?.() !== 0)
    throw new Error(`the benchmark needs ${pkg}: apt-get install ${pkg}`);
  console.log(`[bench] installing ${pkg} (Debian package)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], {
      env,
      stdio: 'ignore',
    });
  if (install().status !== 0) {
    execFileSync('apt-get', ['update'], { env, stdio: 'ignore' });
    if (install().status !== 0) throw new Error(`apt-get install ${pkg} failed`);
  }
}

const cpuSeconds = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
};
const rss = (pid: number) =>
  Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
const mb = (b: number) => (b / 2 ** 20).toFixed(1);
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** One GET on a new connection; resolves with ms, or rejects after `timeoutMs`. */
function timedGet(url: string, timeoutMs = 10_000): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve(performance.now() - start);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function startExporter(
  entry: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Running> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [entry, 'exporter', '--listen', `127.0.0.1:${port}`, ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text = (text + c.toString()).slice(-200_000)));
  child.stderr.on('data', (c: Buffer) => (text = (text + c.toString()).slice(-200_000)));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (
      await timedGet(`${url}/healthz`, 1000).then(
        () => true,
        () => false,
      )
    )
      return { child, url, output: () => text, exited };
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`exporter did not start:\n${text}`);
}

async function stop(r: Running): Promise<number> {
  const start = performance.now();
  r.child.kill('SIGTERM');
  await r.exited;
  return (performance.now() - start) / 1000;
}

async function flood(entry: string, target: number): Promise<void> {
  const r = await startExporter(entry, ['--pid', String(target)]);
  for (let i = 0; i < 50; i++) await timedGet(`${r.url}/metrics`);
  const pid = r.child.pid ?? 0;
  const base = rss(pid);
  const payload = Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(10_000));
  const { hostname, port } = new URL(r.url);
  const sockets: Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = connect({ host: hostname, port: Number(port) });
    s.on('error', () => undefined);
    s.once('connect', () => {
      s.pause();
      s.write(payload);
    });
    sockets.push(s);
  }
  let peak = base;
  const health: number[] = [];
  let failed = 0;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  while (performance.now() - t0 < 5000) {
    peak = Math.max(peak, rss(pid));
    await timedGet(`${r.url}/healthz`, 5000).then(
      (ms) => health.push(ms),
      () => failed++,
    );
    await sleep(100);
  }
  const cpu = (cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000);
  const exitSeconds = await stop(r);
  for (const s of sockets) s.destroy();
  console.log(
    `| pipelined flood, 4 × 10,000 never read | RSS ${mb(base)} → peak ${mb(peak)} MB (+${mb(peak - base)}) | /healthz on new connections: p50 ${q(health, 0.5).toFixed(1)} ms, p99 ${q(health, 0.99).toFixed(1)} ms, max ${Math.max(...health).toFixed(1)} ms, ${failed} unanswered of ${health.length + failed} | CPU ${(cpu * 100).toFixed(0)}% of a core over 5 s | SIGTERM → exit ${exitSeconds.toFixed(2)} s |`,
  );
}

/** `100 Continue` forever, as fast as the client reads. */
function endlessContinue(): Promise<{ server: Server; port: number }> {
  const server = createNetServer((socket) => {
    socket.on('error', () => undefined);
    const burst = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'.repeat(1000));
    const pump = () => {
      while (!socket.destroyed && socket.write(burst));
      if (!socket.destroyed) socket.once('drain', pump);
    };
    socket.once('data', pump);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, port: (server.address() as { port: number }).port });
    }),
  );
}

async function probeTarget(entry: string, target: number, port: number, label: string) {
  const probes = [
    {
      type: 'http',
      name: 'p',
      source: 'monitor',
      port,
      path: '/',
      intervalSeconds: 1,
      timeoutSeconds: 1,
    },
  ];
  const r = await startExporter(entry, ['--pid', String(target)], {
    SIDECAR_MONITOR_CONFIG: JSON.stringify({ version: 1, targets: [], probes }),
  });
  await sleep(3000);
  const pid = r.child.pid ?? 0;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const latencies: number[] = [];
  let longest = 0;
  while (performance.now() - t0 < 20_000) {
    const start = performance.now();
    const body = await fetch(`${r.url}/metrics`).then((x) => x.text());
    latencies.push(performance.now() - start);
    const total = /probe_phase_duration_seconds\{probe="p",phase="total"\} (\S+)/.exec(body);
    longest = Math.max(longest, Number(total?.[1] ?? 0));
    await sleep(100);
  }
  const cpu = (cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000);
  const body = await fetch(`${r.url}/metrics`).then((x) => x.text());
  const reasons = [...body.matchAll(/probe_failures_total\{probe="p",reason="(\w+)"\} (\S+)/g)]
    .map((m) => `${m[1]} ${m[2]}`)
    .join(', ');
  await stop(r);
  console.log(
    `| probe target: ${label} | exporter CPU ${(cpu * 100).toFixed(1)}% of a core | /metrics p50 ${q(latencies, 0.5).toFixed(1)} ms, p99 ${q(latencies, 0.99).toFixed(1)} ms | longest attempt ${longest.toFixed(3)} s (timeout 1 s) | failures: ${reasons || 'none'} |`,
  );
}

async function matchCost(entry: string): Promise<void> {
  // Its own process group, so the sleeps go with it.
  const parent = spawn('sh', ['-c', 'for i in $(seq 50); do sleep 100000 & done; wait'], {
    stdio: 'ignore',
    detached: true,
  });
  const catastrophic = spawn(
    process.execPath,
    ['-e', 'setInterval(()=>{},1e9)', `${'a'.repeat(34)}!`],
    {
      stdio: 'ignore',
    },
  );
  await sleep(1000);
  try {
    for (const [label, args] of [
      ['--pid (50 processes)', ['--pid', String(parent.pid)]],
      ["--match '^sleep 100000$' (same 50)", ['--match', '^sleep 100000$']],
      ["--match '(a+)+$' with a command line of 34 a's and '!'", ['--match', '(a+)+$']],
    ] as const) {
      const r = await startExporter(entry, [...args]);
      const pid = r.child.pid ?? 0;
      for (let i = 0; i < 20; i++) await timedGet(`${r.url}/metrics`);
      const cpu0 = cpuSeconds(pid);
      const latencies: number[] = [];
      for (let i = 0; i < 500; i++) latencies.push(await timedGet(`${r.url}/metrics`));
      const cpuPer1000 = ((cpuSeconds(pid) - cpu0) * 1000) / 500;
      console.log(
        `| ${label} | CPU ${cpuPer1000.toFixed(2)} s / 1000 scrapes | p50 ${q(latencies, 0.5).toFixed(2)} ms, p99 ${q(latencies, 0.99).toFixed(2)} ms | RSS ${mb(rss(pid))} MB |`,
      );
      await stop(r);
    }
  } finally {
    if (parent.pid !== undefined) process.kill(-parent.pid, 'SIGKILL');
    catastrophic.kill('SIGKILL');
  }
}

export async function runHostile(entry: string): Promise<void> {
  console.log(
    '\n#### hostile clients, targets and settings (the exporter as it ships, standalone)\n',
  );
  const target = spawn('sleep', ['100000'], { stdio: 'ignore' });
  const ok = createHttpServer((_req, res) => res.end('ok\n'));
  await new Promise<void>((r) => ok.listen(0, '127.0.0.1', r));
  const hostile = await endlessContinue();
  try {
    await flood(entry, target.pid ?? 0);
    await probeTarget(entry, target.pid ?? 0, (ok.address() as { port: number }).port, 'healthy');
    await probeTarget(entry, target.pid ?? 0, hostile.port, 'endless 100 Continue');
    await matchCost(entry);
  } finally {
    target.kill('SIGKILL');
    await new Promise((r) => ok.close(r));
    hostile.server.close();
  }
}
