// Shared inputs of the injection tests: the real-world workload fixtures, a standard monitor
// and standard cluster facts. Not a test file.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_EXPORTER_RESOURCES } from '../../../operator/api/constants.ts';
import type { SidecarMonitor } from '../../../operator/api/v1alpha1.ts';
import type { ClusterFacts, Workload } from '../../../operator/inject/index.ts';

export const WORKLOADS_DIR = join(import.meta.dirname, '../../../../shared/fixtures/workloads');
/** Workloads written for the probe derivation (gRPC, grpc_health_probe, curl, wget probes). */
export const PROBE_WORKLOADS_DIR = join(import.meta.dirname, '../../fixtures/workloads');

export interface Fixture {
  file: string;
  text: string;
  workload: Workload;
}

export function loadFixtures(dir = WORKLOADS_DIR): Fixture[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(dir, file), 'utf8');
      const doc = parseAllDocuments(text, { version: '1.1' }).find((d) => d.contents !== null);
      return { file, text, workload: doc?.toJS() as Workload };
    });
}

/** The real-world fixtures and the probe-form fixtures: what the laws must hold over. */
export function loadAllFixtures(): Fixture[] {
  return [...loadFixtures(), ...loadFixtures(PROBE_WORKLOADS_DIR)];
}

export const IMAGE = 'ghcr.io/sidecar-monitor/sidecar-monitor:v0.1.0';

export function facts(overrides: Partial<ClusterFacts> = {}): ClusterFacts {
  return {
    nativeSidecars: false,
    podMonitors: false,
    defaultExporterImage: IMAGE,
    allowedExporterImages: [],
    defaultExporterResources: structuredClone(DEFAULT_EXPORTER_RESOURCES),
    ...overrides,
  };
}

export function monitor(spec: Partial<SidecarMonitor['spec']> = {}, name = 'web'): SidecarMonitor {
  return {
    apiVersion: 'sidecarmonitor.io/v1alpha1',
    kind: 'SidecarMonitor',
    metadata: { name },
    spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
  };
}

/** A small Deployment to vary in focused tests. */
export function deployment(
  podSpec: Record<string, unknown> = {},
  templateMeta: Record<string, unknown> = { labels: { app: 'web' } },
): Workload {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: structuredClone(templateMeta),
        spec: {
          containers: [
            { name: 'app', image: 'example/app:1', ports: [{ name: 'http', containerPort: 8080 }] },
          ],
          ...structuredClone(podSpec),
        },
      },
    },
  };
}
