// A small HTTP app to watch: a health endpoint plus knobs for latency, CPU and memory, so the
// exporter's metrics have something real to follow. Plain node:http keeps it light.
//
//   GET /healthz                      200 ok
//   GET /work?latency_ms=&cpu_ms=     waits, then uses that much CPU time, then answers
//   GET /load?cpu=0.5                 background CPU load, fraction of one core (0 stops)
//   GET /hold?mb=200                  allocates and keeps that much touched memory
//   GET /release                      frees it
//   GET /spawn?n=50                   starts n idle child processes (sleep)
//   GET /unspawn                      stops them
//   GET /status                       current knobs and counters

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface SampleApp {
  server: Server;
  /** Stops background load and child processes (the server is closed by the caller). */
  shutdown(): void;
}

interface State {
  held: Buffer[];
  cpuFraction: number;
  cpuTimer: NodeJS.Timeout | undefined;
  children: ChildProcess[];
  requests: number;
}

const MIB = 1024 * 1024;

function number(url: URL, name: string, max: number): number {
  const n = Number(url.searchParams.get(name) ?? 0);
  return Number.isFinite(n) ? Math.min(Math.max(n, 0), max) : 0;
}

/**
 * Uses `ms` of CPU time (not wall time: on a busy machine that takes longer), so the CPU the
 * kernel accounts to the app is known whatever else runs. Gives up after a minute.
 */
function burn(ms: number): void {
  const start = process.cpuUsage();
  const deadline = performance.now() + 60_000;
  for (;;) {
    for (let i = 0; i < 100_000; i++) {
      // spin: the point is to use CPU
    }
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms || performance.now() > deadline) return;
  }
}

function setLoad(state: State, fraction: number): void {
  state.cpuFraction = fraction;
  clearInterval(state.cpuTimer);
  state.cpuTimer = undefined;
  if (fraction <= 0) return;
  // Busy for fraction × 100 ms of every 100 ms slice, on the event loop.
  state.cpuTimer = setInterval(() => {
    const end = performance.now() + 100 * fraction;
    while (performance.now() < end) {
      // spin
    }
  }, 100);
}

function hold(state: State, mb: number): void {
  for (let i = 0; i < mb; i++) {
    // Touch every page: an untouched allocation costs no RSS and would prove nothing.
    state.held.push(Buffer.alloc(MIB, i % 251));
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

export function createSampleApp(): SampleApp {
  const state: State = { held: [], cpuFraction: 0, cpuTimer: undefined, children: [], requests: 0 };
  const status = () => ({
    heldMiB: state.held.length,
    cpuFraction: state.cpuFraction,
    children: state.children.length,
    requests: state.requests,
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    state.requests++;
    const url = new URL(req.url ?? '/', 'http://app');
    switch (url.pathname) {
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
        return;
      case '/work': {
        const latency = number(url, 'latency_ms', 60_000);
        if (latency > 0) await new Promise((r) => setTimeout(r, latency));
        burn(number(url, 'cpu_ms', 60_000));
        json(res, 200, { latencyMs: latency });
        return;
      }
      case '/load':
        setLoad(state, number(url, 'cpu', 1));
        json(res, 200, status());
        return;
      case '/hold':
        hold(state, number(url, 'mb', 4096));
        json(res, 200, status());
        return;
      case '/release':
        state.held = [];
        json(res, 200, status());
        return;
      case '/spawn':
        for (let i = number(url, 'n', 1000); i > 0; i--) {
          const child = spawn('sleep', ['100000'], { stdio: 'ignore' });
          // Without a `sleep` on PATH the spawn fails: forget the child, never crash the app.
          child.once('error', () => {
            state.children = state.children.filter((c) => c !== child);
          });
          state.children.push(child);
        }
        json(res, 200, status());
        return;
      case '/unspawn':
        for (const c of state.children) c.kill('SIGKILL');
        state.children = [];
        json(res, 200, status());
        return;
      case '/status':
        json(res, 200, status());
        return;
      default:
        json(res, 404, { error: 'not found' });
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      json(res, 500, { error: String(err) });
    });
  });
  return {
    server,
    shutdown: () => {
      setLoad(state, 0);
      for (const c of state.children) c.kill('SIGKILL');
      state.children = [];
    },
  };
}
