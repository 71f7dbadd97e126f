// A simulated pod with the sample app and the exporter, as the operator would inject it.

import { resolve } from 'node:path';
import type { ExporterConfig } from '../../../exporter/config.ts';
import { serializeExporterConfig } from '../../../exporter/config.ts';
import {
  createSimulatedPod,
  type CgroupNamespaceMode,
  type ContainerLimits,
  type PodProcess,
  type SimulatedPod,
} from '../../../examples/demo/simulated-pod.ts';
import { scrape, type Metrics } from './metrics.ts';
import { freePort } from './prometheus.ts';

export const REPO = resolve(import.meta.dirname, '../../..');
/** Non-root ids the pod's containers run as (an app and its exporter share them). */
export const APP_UID = 10001;
export const OTHER_UID = 10002;

export interface MonitoredPodOptions {
  appUid?: number;
  exporterUid?: number;
  appLimits?: ContainerLimits;
  /** The exporter's config, given the app's port (for probes). */
  config?: (appPort: number) => ExporterConfig;
  /** argv of the exporter; default: the TypeScript sources via the CLI. */
  exporterCommand?: string[];
  exporterArgs?: string[];
  /** How containers see their cgroups (default: what runc does on this host). */
  cgroupNamespace?: CgroupNamespaceMode;
}

export interface MonitoredPod {
  pod: SimulatedPod;
  app: PodProcess;
  exporter: PodProcess;
  appUrl: string;
  metricsUrl: string;
  scrape(): Promise<Metrics>;
  /** GET on the sample app; returns its JSON. */
  appGet(path: string): Promise<unknown>;
  stop(): Promise<void>;
}

export function exporterCommand(): string[] {
  return ['node', `${REPO}/bin/sidecar-monitor.ts`, 'exporter'];
}

export async function startMonitoredPod(options: MonitoredPodOptions = {}): Promise<MonitoredPod> {
  const pod = await createSimulatedPod(
    options.cgroupNamespace === undefined ? {} : { cgroupNamespace: options.cgroupNamespace },
  );
  try {
    const app = await pod.start({
      name: 'app',
      uid: options.appUid ?? APP_UID,
      gid: options.appUid ?? APP_UID,
      command: ['node', `${REPO}/examples/sample-app/main.ts`, '--port', '0'],
      env: { SIDECAR_MONITOR_CONTAINER: 'app' },
      ...(options.appLimits ? { limits: options.appLimits } : {}),
    });
    const port = Number((await app.waitFor(/"port":(\d+)/))[1]);
    const config = options.config?.(port) ?? { version: 1, targets: [{ name: 'app' }], probes: [] };
    const exporter = await pod.start({
      name: 'sidecar-monitor-exporter',
      uid: options.exporterUid ?? APP_UID,
      gid: options.exporterUid ?? APP_UID,
      command: [
        ...(options.exporterCommand ?? exporterCommand()),
        '--listen',
        `127.0.0.1:${await freePort()}`,
        ...(options.exporterArgs ?? []),
      ],
      env: { SIDECAR_MONITOR_CONFIG: serializeExporterConfig(config) },
    });
    const address = (await exporter.waitFor(/"address":"(http:[^"]+)"/))[1]!;
    const appUrl = `http://127.0.0.1:${port}`;
    return {
      pod,
      app,
      exporter,
      appUrl,
      metricsUrl: `${address}/metrics`,
      scrape: () => scrape(`${address}/metrics`),
      appGet: async (path) => {
        const response = await fetch(`${appUrl}${path}`, { signal: AbortSignal.timeout(60_000) });
        return response.json();
      },
      stop: () => pod.stop(),
    };
  } catch (err) {
    await pod.stop();
    throw err;
  }
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}`, last === undefined ? {} : { cause: last });
    await new Promise((r) => setTimeout(r, 250));
  }
}
