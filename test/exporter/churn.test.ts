// Process churn (a shell spawning short-lived commands, a pre-fork server recycling workers):
// processes that exit while a scrape reads them are simply gone, never a container of their
// own without a cgroup, and degradation is reported only when it is real.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import {
  createSimulatedPod,
  type PodProcess,
  type SimulatedPod,
} from '../../examples/demo/simulated-pod.ts';
import { scrape } from './helpers/metrics.ts';
import { APP_UID, eventually, exporterCommand } from './helpers/pod.ts';
import { freePort } from './helpers/prometheus.ts';

let pod: SimulatedPod;
let exporter: PodProcess;
let url: string;

beforeAll(async () => {
  pod = await createSimulatedPod();
  await pod.start({
    name: 'app',
    uid: APP_UID,
    gid: APP_UID,
    // A few short-lived commands at a time, forever (bounded by the pod's lifetime).
    command: ['sh', '-c', 'while :; do /bin/true & /bin/true & /bin/true; wait; done'],
    env: { SIDECAR_MONITOR_CONTAINER: 'app' },
    limits: { cpuCores: 0.5 },
  });
  exporter = await pod.start({
    name: 'sidecar-monitor-exporter',
    uid: APP_UID,
    gid: APP_UID,
    command: [...exporterCommand(), '--listen', `127.0.0.1:${await freePort()}`],
    env: {
      SIDECAR_MONITOR_CONFIG: JSON.stringify({
        version: 1,
        targets: [{ name: 'app' }],
        probes: [],
      }),
    },
  });
  url = `${(await exporter.waitFor(/"address":"(http:[^"]+)"/))[1]}/metrics`;
});

afterAll(async () => {
  await (pod as SimulatedPod | undefined)?.stop();
});

describe('process churn', () => {
  it('300 scrapes: one container, never degraded, no warn/resolved pairs in the log', async () => {
    await eventually(async () => {
      const m = await scrape(url);
      return m.all(METRICS.containerProcesses.name, { container: 'app' }).length > 0
        ? m
        : undefined;
    }, 'the app container');
    const containers = new Set<string>();
    let degraded = 0;
    for (let i = 0; i < 300; i++) {
      const m = await scrape(url);
      for (const c of m.labelValues(METRICS.containerProcesses.name, 'container'))
        containers.add(c);
      degraded += m.all(METRICS.collectorDegraded.name).length;
    }
    console.log(
      `churn: containers seen ${[...containers].join(', ')}; degraded samples ${degraded}`,
    );
    expect([...containers]).toEqual(['app']);
    expect(degraded).toBe(0);
    expect(exporter.output()).not.toMatch(/degraded for|resolved:/);
  });
});
