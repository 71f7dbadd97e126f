// The exporter's cost with gRPC health probes active, and the choice of implementation:
// node:http2 with the few bytes of grpc-wire.ts (what ships) against @grpc/grpc-js, with and
// without its proto tooling (@grpc/proto-loader + protobufjs via grpc-health-check). Next to
// them: no probes, and as many HTTP probes. Each variant is a fresh exporter as it ships
// (tsc output, its Node flags), standalone (no targets: probe costs alone), probing a real
// gRPC health service (@grpc/grpc-js) or a node:http server in this process.
//
//   npm run bench -- grpc-probes [--probes 8] [--interval 1] [--scrapes 1000] [--settle 10]
//                                [--idle 30] [--runs 1]
//
// Per variant: RSS after settling with probes running, CPU while idle (probes only, no
// scrapes) as % of a core and ms per probe attempt, CPU per scrape over 1000 scrapes, and
// RSS after them. Not a test: numbers on a shared machine are noisy; the README records a run.

import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { ProbeConfig } from '../../exporter/config.ts';
import { EXPORTER_NODE_FLAGS } from '../../exporter/runtime-flags.ts';
import { buildExporter } from '../exporter/helpers/build.ts';

type Variant = 'none' | 'http' | 'grpc-http2' | 'grpc-js' | 'grpc-js+proto';

const VARIANTS: readonly Variant[] = ['none', 'http', 'grpc-http2', 'grpc-js', 'grpc-js+proto'];

interface Row {
  variant: Variant;
  rssSettled: number;
  idleCpuPercent: number;
  msPerAttempt: number;
  attempts: number;
  failed: number;
  cpuPerScrapeMs: number;
  rssAfter: number;
}

/** utime + stime of a process, in seconds. */
async function procCpu(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]) * 1024;
}

/** Attempts and failed attempts so far, summed over every probe. */
async function attemptsSoFar(url: string): Promise<{ attempts: number; failed: number }> {
  const text = await (await fetch(url)).text();
  const sum = (re: RegExp) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    attempts: sum(/^sidecar_monitor_probe_duration_seconds_count\{[^}]*\} (\d+)/gm),
    failed: sum(/^sidecar_monitor_probe_failures_total\{[^}]*\} (\d+)/gm),
  };
}

async function startExporter(
  entry: string,
  probes: ProbeConfig[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      ...EXPORTER_NODE_FLAGS,
      entry,
      'exporter',
      '--listen',
      '127.0.0.1:0',
      '--match',
      '^sidecar-monitor-bench-matches-nothing$',
    ],
    {
      env: {
        ...process.env,
        ...env,
        SIDECAR_MONITOR_CONFIG: JSON.stringify({ version: 1, targets: [], probes }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (text += c.toString()));
  for (let i = 0; i < 300; i++) {
    const m = /"address":"(http:[^"]+)"/.exec(text);
    if (m) return { child, url: `${m[1]}/metrics` };
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`exporter did not start:\n${text}`);
}

const mb = (b: number) => (b / 2 ** 20).toFixed(1);

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      probes: { type: 'string', default: '8' },
      interval: { type: 'string', default: '1' },
      scrapes: { type: 'string', default: '1000' },
      settle: { type: 'string', default: '10' },
      idle: { type: 'string', default: '30' },
      runs: { type: 'string', default: '1' },
    },
  });
  const count = Number(values.probes);
  const interval = Number(values.interval);
  const scrapes = Number(values.scrapes);
  const settle = Number(values.settle);
  const idle = Number(values.idle);

  const health = new HealthImplementation({ '': 'SERVING' });
  const grpcServer = new grpc.Server();
  health.addToServer(grpcServer);
  const grpcPort = await new Promise<number>((resolve, reject) => {
    grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => {
      if (e) reject(e);
      else resolve(p);
    });
  });
  const http: Server = createServer((_req, res) => res.end('ok\n'));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const address = http.address();
  const httpPort = typeof address === 'object' && address ? address.port : 0;

  const builds = {
    shipped: await buildExporter(),
    grpcJs: await buildExporter(),
  };
  // The same build with the gRPC attempt module replaced by the grpc-js one.
  const grpcJsEntry = builds.grpcJs.entry;
  await copyFile(
    join(import.meta.dirname, 'grpc-js-probe.mjs'),
    join(dirname(grpcJsEntry), '../exporter/probes/grpc-probe.js'),
  );

  const common = { source: 'monitor' as const, intervalSeconds: interval, timeoutSeconds: 0.9 };
  const probesFor = (variant: Variant): ProbeConfig[] =>
    Array.from({ length: variant === 'none' ? 0 : count }, (_, i) =>
      variant === 'http'
        ? {
            ...common,
            type: 'http',
            name: `p${i}`,
            port: httpPort,
            path: '/healthz',
            scheme: 'HTTP',
            headers: [],
            insecureSkipVerify: false,
          }
        : {
            ...common,
            type: 'grpc',
            name: `p${i}`,
            port: grpcPort,
            service: '',
            tls: false,
            insecureSkipVerify: false,
          },
    );

  console.log(
    `node ${process.versions.node}, exporter flags: ${EXPORTER_NODE_FLAGS.join(' ')}; ${count} probes every ${interval} s, settle ${settle} s, idle ${idle} s, ${scrapes} scrapes`,
  );
  const rows: Row[] = [];
  try {
    for (let r = 0; r < Number(values.runs); r++) {
      for (const variant of VARIANTS) {
        const entry = variant.startsWith('grpc-js') ? grpcJsEntry : builds.shipped.entry;
        const env: Record<string, string> =
          variant === 'grpc-js+proto' ? { GRPC_JS_PROTO: '1' } : {};
        const { child, url } = await startExporter(entry, probesFor(variant), env);
        const pid = child.pid ?? 0;
        try {
          await sleep(settle * 1000);
          const rssSettled = await rss(pid);
          const a0 = await attemptsSoFar(url);
          const c0 = await procCpu(pid);
          await sleep(idle * 1000);
          const c1 = await procCpu(pid);
          const a1 = await attemptsSoFar(url);
          const idleCpu = c1 - c0;
          const s0 = await procCpu(pid);
          const t0 = performance.now();
          for (let i = 0; i < scrapes; i++) await (await fetch(url)).arrayBuffer();
          const wall = (performance.now() - t0) / 1000;
          const scrapeCpu = (await procCpu(pid)) - s0;
          // Probes kept running during the scrapes: take their share out, at the idle rate.
          const probeShare = (idleCpu / idle) * wall;
          const attempts = a1.attempts - a0.attempts;
          const baseline = rows.find((x) => x.variant === 'none');
          rows.push({
            variant,
            rssSettled,
            idleCpuPercent: (idleCpu / idle) * 100,
            msPerAttempt:
              attempts > 0 && baseline
                ? ((idleCpu - (baseline.idleCpuPercent / 100) * idle) * 1000) / attempts
                : 0,
            attempts,
            // Every probe targets a healthy peer: any failure would make the row meaningless.
            failed: a1.failed,
            cpuPerScrapeMs: (Math.max(0, scrapeCpu - probeShare) * 1000) / scrapes,
            rssAfter: await rss(pid),
          });
        } finally {
          child.kill('SIGTERM');
          await new Promise((r) => child.once('exit', r));
        }
      }
    }
  } finally {
    await builds.shipped.dispose();
    await builds.grpcJs.dispose();
    grpcServer.forceShutdown();
    http.close();
  }
  console.log(
    '\n| variant | RSS settled MB | idle CPU % (probes only) | attempts (failed) | CPU ms / attempt | CPU ms / scrape | RSS after scrapes MB |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.variant} | ${mb(r.rssSettled)} | ${r.idleCpuPercent.toFixed(2)} | ${r.attempts} (${r.failed}) | ${r.variant === 'none' ? '' : r.msPerAttempt.toFixed(2)} | ${r.cpuPerScrapeMs.toFixed(2)} | ${mb(r.rssAfter)} |`,
    );
  }
}
