// Memory is a test, not only a benchmark: it is not noisy the way time is. The exporter as it
// ships (compiled JavaScript, its own Node flags) in a simulated pod with 50 target processes
// stays under 96 MB of RSS after 2,000 scrapes.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import { EXPORTER_NODE_FLAGS } from '../../exporter/runtime-flags.ts';
import { buildExporter, type ExporterBuild } from './helpers/build.ts';
import { scrape } from './helpers/metrics.ts';
import { APP_UID, eventually } from './helpers/pod.ts';
import { rssBytes } from './helpers/process.ts';
import { freePort } from './helpers/prometheus.ts';
import {
  createSimulatedPod,
  type PodProcess,
  type SimulatedPod,
} from '../../examples/demo/simulated-pod.ts';

const MB = 1024 * 1024;
let build: ExporterBuild;
let pod: SimulatedPod;
let exporter: PodProcess;
let url: string;

beforeAll(async () => {
  build = await buildExporter();
  pod = await createSimulatedPod();
  await pod.start({
    name: 'app',
    uid: APP_UID,
    gid: APP_UID,
    command: [
      'sh',
      '-c',
      'i=1; while [ $i -lt 50 ]; do sleep 100000 & i=$((i+1)); done; exec sleep 100000',
    ],
    env: { SIDECAR_MONITOR_CONTAINER: 'app' },
  });
  exporter = await pod.start({
    name: 'sidecar-monitor-exporter',
    uid: APP_UID,
    gid: APP_UID,
    command: ['node', build.entry, 'exporter', '--listen', `127.0.0.1:${await freePort()}`],
  });
  url = `${(await exporter.waitFor(/"address":"(http:[^"]+)"/))[1]}/metrics`;
});

afterAll(async () => {
  await (pod as SimulatedPod | undefined)?.stop();
  await (build as ExporterBuild | undefined)?.dispose();
});

describe('exporter memory', () => {
  it('stays under 96 MB RSS after 2,000 scrapes with 50 target processes', async () => {
    // All 50 processes are in the output before counting.
    await eventually(async () => {
      const m = await scrape(url);
      return m.get(METRICS.containerProcesses.name, { container: 'app' }) === 50 ? m : undefined;
    }, '50 target processes');
    const cmdline = (await import('node:fs/promises')).readFile(
      `/proc/${exporter.hostPid}/cmdline`,
      'utf8',
    );
    // It runs with its memory flags (re-executed with them, same pid).
    for (const flag of EXPORTER_NODE_FLAGS) expect((await cmdline).split('\0')).toContain(flag);
    for (let i = 0; i < 2000; i++) {
      const response = await fetch(url);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    const rss = await rssBytes(exporter.hostPid);
    console.log(`exporter RSS after 2000 scrapes with 50 targets: ${(rss / MB).toFixed(1)} MB`);
    expect(rss).toBeLessThan(96 * MB);
    // What it reports about itself agrees with the kernel.
    const m = await scrape(url);
    const reported = m.value(METRICS.runtimeProcessResidentMemoryBytes.name);
    expect(Math.abs(reported - rss)).toBeLessThan(10 * MB);
  });
});
