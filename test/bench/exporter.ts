// The exporter against node_exporter and Debian's process-exporter (which reads the same
// per-process files we do), side by side in one run, in the same simulated pod: scrape latency
// p50/p99, CPU seconds per 1000 scrapes, RSS idle and after 1000 scrapes, idle CPU, with 1, 50
// and 500 target processes; RSS after 10,000 scrapes; and the raw floor (reading the same files
// in a tight loop). Prints a markdown table with ratios. Then the hostile cases of
// exporter-hostile.ts (floods, endless 1xx, --match).
//
//   npm run bench -- exporter [--targets 1,50,500] [--scrapes 1000] [--long 10000]
//                             [--node-flags "--max-semi-space-size=1 ..."] [--only compare|hostile]
//
// Needs root (the simulated pod). Not a test: numbers on a shared machine are noisy; the
// README records a run.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { V1_CONTROLLERS, cgroupFiles, type CgroupLocation } from '../../exporter/cgroup/locate.ts';
import { open, readdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { EXPORTER_NODE_FLAGS, NODE_FLAGS_ENV } from '../../exporter/runtime-flags.ts';
import {
  createSimulatedPod,
  podSupport,
  type PodProcess,
  type SimulatedPod,
} from '../../examples/demo/simulated-pod.ts';
import { buildExporter } from '../exporter/helpers/build.ts';
import { ensureDebianPackage, runHostile } from './exporter-hostile.ts';

const UID = 10001;
/** Idle CPU is measured over this long, after the settle time (start-up work is over by then). */
const IDLE_SECONDS = 30;
const NODE_EXPORTER_ARGS = [
  '--collector.disable-defaults',
  '--no-collector.systemd',
  '--collector.cpu',
  '--collector.meminfo',
  '--collector.pressure',
  '--collector.processes',
  '--collector.stat',
];

/**
 * process-exporter watching the app's processes (all `sleep`) as one group, per-process files
 * only: no per-thread metrics, no smaps (we read neither).
 */
const PROCESS_EXPORTER_ARGS = [
  '-procnames=sleep',
  '-threads=false',
  '-gather-smaps=false',
  '-children=false',
];

interface Measured {
  p50: number;
  p99: number;
  cpuPer1000: number;
  rssIdle: number;
  rssAfter: number;
  idleCpuPercent: number;
  bytes: number;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise((r) => server.close(r));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssBytes(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function get(url: string): Promise<number> {
  const response = await fetch(url);
  const body = await response.arrayBuffer();
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return body.byteLength;
}

/** Interleaves scrapes of both exporters so machine noise hits them alike. */
async function scrapeBoth(targets: { url: string; pid: number }[], n: number) {
  const latencies = targets.map(() => [] as number[]);
  const cpu0 = targets.map((t) => cpuSeconds(t.pid));
  const bytes = targets.map(() => 0);
  for (let i = 0; i < n; i++) {
    for (const [j, t] of targets.entries()) {
      const start = performance.now();
      bytes[j] = await get(t.url);
      latencies[j]!.push(performance.now() - start);
    }
  }
  return targets.map((t, j) => {
    const sorted = latencies[j]!.sort((a, b) => a - b);
    return {
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      cpuPer1000: ((cpuSeconds(t.pid) - cpu0[j]!) * 1000) / n,
      bytes: bytes[j]!,
    };
  });
}

/** The files one scrape reads for these processes, read in a tight loop: the floor. */
async function rawFloor(pids: number[], location: CgroupLocation, iterations: number) {
  const perProcess = ['stat', 'status', 'io'];
  const cgroupPaths = cgroupFiles(location).map(([, path]) => path);
  const buffer = Buffer.allocUnsafe(64 * 1024);
  const syncStart = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    readdirSync('/proc');
    for (const pid of pids) {
      for (const f of perProcess) readFileSync(`/proc/${pid}/${f}`);
      statSync(`/proc/${pid}/fd`);
    }
    for (const f of cgroupPaths) readFileSync(f);
  }
  const sync = process.cpuUsage(syncStart);
  const readAsync = async (path: string) => {
    const h = await open(path);
    try {
      await h.read(buffer, 0, buffer.length, null);
    } finally {
      await h.close();
    }
  };
  const asyncStart = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    await readdir('/proc');
    await Promise.all([
      ...pids.flatMap((pid) => [
        ...perProcess.map((f) => readAsync(`/proc/${pid}/${f}`)),
        stat(`/proc/${pid}/fd`),
      ]),
      ...cgroupPaths.map(readAsync),
    ]);
  }
  const asyncUsage = process.cpuUsage(asyncStart);
  const ms = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000 / iterations;
  return {
    files: pids.length * 4 + cgroupPaths.length + 1,
    syncMs: ms(sync),
    asyncMs: ms(asyncUsage),
  };
}

async function idleCpuPercent(pids: number[], seconds: number): Promise<number[]> {
  const before = pids.map(cpuSeconds);
  await sleep(seconds * 1000);
  return pids.map((pid, i) => ((cpuSeconds(pid) - before[i]!) / seconds) * 100);
}

async function startTargets(pod: SimulatedPod, n: number): Promise<PodProcess> {
  // n processes: n-1 background sleeps and the shell itself, exec'd into one more sleep.
  return pod.start({
    name: 'app',
    uid: UID,
    gid: UID,
    command: [
      'sh',
      '-c',
      `i=1; while [ $i -lt ${n} ]; do sleep 100000 & i=$((i+1)); done; exec sleep 100000`,
    ],
    env: { SIDECAR_MONITOR_CONTAINER: 'app' },
  });
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await sleep(100);
  }
  throw new Error(`${url} never answered`);
}

const mb = (b: number) => (b / 2 ** 20).toFixed(1);
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '-');

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string', default: '1,50,500' },
      scrapes: { type: 'string', default: '1000' },
      long: { type: 'string', default: '10000' },
      'node-flags': { type: 'string' },
      env: { type: 'string' },
      settle: { type: 'string', default: '10' },
      only: { type: 'string' },
    },
  });
  const why = podSupport();
  if (why) throw new Error(`the exporter benchmark runs in a simulated pod: ${why}`);
  const counts = values.targets.split(',').map(Number);
  const scrapes = Number(values.scrapes);
  const long = Number(values.long);
  const settle = Number(values.settle);
  const flags =
    values['node-flags'] === undefined
      ? [...EXPORTER_NODE_FLAGS]
      : values['node-flags'].split(' ').filter(Boolean);
  const exporterEnv: Record<string, string> = Object.fromEntries(
    (values.env ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=') as [string, string]),
  );
  // Explicit flags are compared as given: the exporter must not add its own.
  if (values['node-flags'] !== undefined) exporterEnv[NODE_FLAGS_ENV] = 'off';
  ensureDebianPackage('prometheus-node-exporter', 'prometheus-node-exporter');
  ensureDebianPackage('prometheus-process-exporter', 'prometheus-process-exporter');
  const build = await buildExporter();
  if (values.only === 'hostile') {
    try {
      await runHostile(build.entry);
    } finally {
      await build.dispose();
    }
    return;
  }
  console.log(
    `node ${process.versions.node}, exporter flags: ${flags.join(' ') || '(none)'}, env: ${JSON.stringify(exporterEnv)}; node_exporter ${NODE_EXPORTER_ARGS.join(' ')}`,
  );
  const rows: string[] = [];
  const notes: string[] = [];
  try {
    for (const n of counts) {
      const pod = await createSimulatedPod({ name: `bench${n}` });
      try {
        await startTargets(pod, n);
        await sleep(Math.min(5000, 200 + n * 5));
        const ours = await pod.start({
          name: 'sidecar-monitor-exporter',
          uid: UID,
          gid: UID,
          command: [
            'node',
            ...flags,
            build.entry,
            'exporter',
            '--listen',
            `127.0.0.1:${await freePort()}`,
            '--max-series',
            '10000',
          ],
          env: exporterEnv,
        });
        const oursUrl = `${(await ours.waitFor(/"address":"(http:[^"]+)"/))[1]}/metrics`;
        const port = await freePort();
        const theirs = await pod.start({
          name: 'node-exporter',
          uid: UID,
          gid: UID,
          command: [
            'prometheus-node-exporter',
            `--web.listen-address=127.0.0.1:${port}`,
            ...NODE_EXPORTER_ARGS,
          ],
        });
        const theirsUrl = `http://127.0.0.1:${port}/metrics`;
        await waitReady(theirsUrl);
        const processPort = await freePort();
        const processExporter = await pod.start({
          name: 'process-exporter',
          uid: UID,
          gid: UID,
          command: [
            'prometheus-process-exporter',
            `-web.listen-address=127.0.0.1:${processPort}`,
            ...PROCESS_EXPORTER_ARGS,
          ],
        });
        const processUrl = `http://127.0.0.1:${processPort}/metrics`;
        await waitReady(processUrl);
        await sleep(settle * 1000);
        const pids = [ours.hostPid, theirs.hostPid, processExporter.hostPid];
        const idle = await idleCpuPercent(pids, IDLE_SECONDS);
        const rssIdle = pids.map(rssBytes);
        const targets = [
          { url: oursUrl, pid: ours.hostPid },
          { url: theirsUrl, pid: theirs.hostPid },
          { url: processUrl, pid: processExporter.hostPid },
        ];
        const measured = await scrapeBoth(targets, scrapes);
        const rssAfter = pids.map(rssBytes);
        const m: Measured[] = measured.map((x, i) => ({
          ...x,
          rssIdle: rssIdle[i]!,
          rssAfter: rssAfter[i]!,
          idleCpuPercent: idle[i]!,
        }));
        const appPids = (await readFile_(`${pod.cgroupDir('app', 'pids')}/cgroup.procs`))
          .split('\n')
          .filter(Boolean)
          .map(Number);
        const location: CgroupLocation = { version: 1, v1: {} };
        for (const c of V1_CONTROLLERS) {
          const dir = pod.cgroupDir('app', c);
          if (dir) location.v1[c] = dir;
        }
        const unified = pod.cgroupDir('app', 'unified');
        if (unified) location.unified = unified;
        const floor = await rawFloor(appPids, location, Math.max(100, Math.min(scrapes, 1000)));
        rows.push(
          `| ${n} | sidecar-monitor | ${m[0]!.p50.toFixed(2)} | ${m[0]!.p99.toFixed(2)} | ${m[0]!.cpuPer1000.toFixed(2)} | ${mb(m[0]!.rssIdle)} | ${mb(m[0]!.rssAfter)} | ${m[0]!.idleCpuPercent.toFixed(2)} | ${(m[0]!.bytes / 1024).toFixed(1)} |`,
          `| ${n} | node_exporter | ${m[1]!.p50.toFixed(2)} | ${m[1]!.p99.toFixed(2)} | ${m[1]!.cpuPer1000.toFixed(2)} | ${mb(m[1]!.rssIdle)} | ${mb(m[1]!.rssAfter)} | ${m[1]!.idleCpuPercent.toFixed(2)} | ${(m[1]!.bytes / 1024).toFixed(1)} |`,
          `| ${n} | ratio to node_exporter | ${ratio(m[0]!.p50, m[1]!.p50)} | ${ratio(m[0]!.p99, m[1]!.p99)} | ${ratio(m[0]!.cpuPer1000, m[1]!.cpuPer1000)} | ${ratio(m[0]!.rssIdle, m[1]!.rssIdle)} | ${ratio(m[0]!.rssAfter, m[1]!.rssAfter)} | | |`,
          `| ${n} | process-exporter | ${m[2]!.p50.toFixed(2)} | ${m[2]!.p99.toFixed(2)} | ${m[2]!.cpuPer1000.toFixed(2)} | ${mb(m[2]!.rssIdle)} | ${mb(m[2]!.rssAfter)} | ${m[2]!.idleCpuPercent.toFixed(2)} | ${(m[2]!.bytes / 1024).toFixed(1)} |`,
          `| ${n} | ratio to process-exporter | ${ratio(m[0]!.p50, m[2]!.p50)} | ${ratio(m[0]!.p99, m[2]!.p99)} | ${ratio(m[0]!.cpuPer1000, m[2]!.cpuPer1000)} | ${ratio(m[0]!.rssIdle, m[2]!.rssIdle)} | ${ratio(m[0]!.rssAfter, m[2]!.rssAfter)} | | |`,
          `| ${n} | raw floor (${floor.files} files) | | | sync ${floor.syncMs.toFixed(2)} / async ${floor.asyncMs.toFixed(2)} | | | | |`,
        );
        if (n === 50 && long > scrapes) {
          for (let i = scrapes; i < long; i++) await get(oursUrl);
          notes.push(
            `sidecar-monitor RSS after ${long} scrapes with ${n} targets: ${mb(rssBytes(ours.hostPid))} MB`,
          );
        }
      } finally {
        await pod.stop();
      }
    }
  } finally {
    await build.dispose();
  }
  console.log(
    '\n| targets | exporter | p50 ms | p99 ms | CPU s / 1000 scrapes | RSS idle MB | RSS after MB | idle CPU % | body KiB |',
  );
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) console.log(row);
  console.log('');
  for (const note of notes) console.log(`- ${note}`);
  console.log(
    '- raw floor: CPU ms per pass over the same files (readFileSync / fs.promises), in this process.',
  );
  if (values.only !== 'compare') {
    const rebuilt = await buildExporter();
    try {
      await runHostile(rebuilt.entry);
    } finally {
      await rebuilt.dispose();
    }
  }
}

function readFile_(path: string): Promise<string> {
  return import('node:fs/promises').then((fs) => fs.readFile(path, 'utf8'));
}
