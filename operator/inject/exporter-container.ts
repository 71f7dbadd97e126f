// The injected exporter container and its resources. Hardened whatever the app does:
// no privilege escalation, RuntimeDefault seccomp, read-only root filesystem, no
// service-account token, requests and limits, and no readiness or startup probe (a sick
// exporter must never make the app's pod unready or hold its start; liveness only, generous).

import { CONFIG_ENV } from '../../exporter/config.ts';
import {
  EXPORTER_CONTAINER,
  EXPORTER_PORT_NAME,
  NO_TOKEN_VOLUME,
  SERVICE_ACCOUNT_TOKEN_PATH,
} from '../api/constants.ts';
import { parseQuantity, QuantityError } from '../api/quantity.ts';
import type { CpuMemory } from '../api/v1alpha1.ts';
import type { Container, EnvVar, SecurityContext } from './k8s-types.ts';
import type { Note } from './types.ts';

export interface ExporterResources {
  requests: CpuMemory;
  limits: CpuMemory;
}

/**
 * The monitor's resources over the operator's defaults. A request above the limit (one of
 * them from the defaults) would make the API server reject every pod: the value the monitor
 * set wins and the other follows it.
 */
export function mergeResources(
  defaults: ExporterResources,
  monitor: { requests?: CpuMemory; limits?: CpuMemory } | undefined,
  notes: Note[],
): ExporterResources {
  const out: ExporterResources = { requests: {}, limits: {} };
  for (const name of ['cpu', 'memory'] as const) {
    const explicitRequest = monitor?.requests?.[name];
    const explicitLimit = monitor?.limits?.[name];
    let request = explicitRequest ?? defaults.requests[name];
    let limit = explicitLimit ?? defaults.limits[name];
    const r = parseQuantity(request);
    const l = parseQuantity(limit);
    if (
      request !== undefined &&
      limit !== undefined &&
      !(r instanceof QuantityError) &&
      !(l instanceof QuantityError) &&
      r > l
    ) {
      if (explicitLimit !== undefined && explicitRequest === undefined) request = limit;
      else limit = request;
      notes.push({
        code: 'ResourcesAdjusted',
        message: `exporter ${name} request and limit set to ${String(request)} (the request was above the limit)`,
      });
    }
    if (request !== undefined) out.requests[name] = request;
    if (limit !== undefined) out.limits[name] = limit;
  }
  return out;
}

export interface ExporterContainerInput {
  image: string;
  port: number;
  /** The serialised ExporterConfig. */
  configJson: string;
  headerEnv: readonly EnvVar[];
  resources: ExporterResources;
  securityContext: SecurityContext;
  native: boolean;
}

/** How the image's entrypoint (the sidecar-monitor CLI) is told to run the exporter. */
export function exporterArgs(port: number): string[] {
  return ['exporter', `--listen=:${port}`];
}

export function exporterContainer(input: ExporterContainerInput): Container {
  const container: Container = {
    name: EXPORTER_CONTAINER,
    image: input.image,
    args: exporterArgs(input.port),
    ports: [{ name: EXPORTER_PORT_NAME, containerPort: input.port, protocol: 'TCP' }],
    env: [{ name: CONFIG_ENV, value: input.configJson }, ...input.headerEnv],
    resources: { requests: { ...input.resources.requests }, limits: { ...input.resources.limits } },
    livenessProbe: {
      httpGet: { path: '/healthz', port: EXPORTER_PORT_NAME },
      periodSeconds: 30,
      timeoutSeconds: 5,
      failureThreshold: 4,
    },
    securityContext: input.securityContext,
    volumeMounts: [
      { name: NO_TOKEN_VOLUME, mountPath: SERVICE_ACCOUNT_TOKEN_PATH, readOnly: true },
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (input.native) container.restartPolicy = 'Always';
  return container;
}
