// The dashboards the chart ships, by file name under generated/. The generator writes them
// and a test checks the committed files are exactly what it would write.
import path from 'node:path';
import type { ClassicDashboard } from './layout.ts';
import { exporterCost } from './exporter-cost.ts';
import { healthLatency } from './health-latency.ts';
import { operator } from './operator.ts';
import { workloadResources } from './workload-resources.ts';

/** Where the committed JSON lives; the chart's ConfigMaps read it from there. */
export const GENERATED_DIR = path.join(import.meta.dirname, 'generated');

export interface DashboardFile {
  /** File name under generated/, also the key of the chart's ConfigMap. */
  readonly file: string;
  readonly build: () => ClassicDashboard;
}

export const DASHBOARDS: readonly DashboardFile[] = [
  { file: 'sidecar-monitor-workload-resources.json', build: workloadResources },
  { file: 'sidecar-monitor-health-latency.json', build: healthLatency },
  { file: 'sidecar-monitor-exporter-cost.json', build: exporterCost },
  { file: 'sidecar-monitor-operator.json', build: operator },
];

/** The committed form: stable key order (the builders'), two-space indent, final newline. */
export function render(dashboard: ClassicDashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
