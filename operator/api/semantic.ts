// The checks a schema alone cannot state, implemented once in TypeScript. Most mirror a CEL
// rule of the CRD (same message, same field): the API server runs the CEL, and this code runs
// them where there is no API server (`sidecar-monitor inject`) and in the operator, for a
// monitor that reached it without the server's checks (an older CRD, a stored object from
// before a rule existed). A test proves every CEL rule has its mirror here. The rest are
// TypeScript-only (marked server: false): they need Kubernetes quantity arithmetic, which
// the CEL environment of older API servers lacks; the operator reports them as Degraded.
//
// Input: a monitor that passed the schema, with defaults applied.

import { EXPORTER_CONTAINER, MESH_SIDECARS } from './constants.ts';
import { parseDuration } from './duration.ts';
import { childPath, type FieldError } from './field-error.ts';
import { isLabelKey } from './labels.ts';
import { parseQuantity, QuantityError } from './quantity.ts';
import type { CpuMemory, SidecarMonitor } from './v1alpha1.ts';

export const MESSAGES = {
  labelKeys:
    "keys must be label keys (an optional DNS subdomain prefix and '/', then a name of at most 63 characters)",
  requirementValues:
    'values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist',
  selectorNotEmpty:
    'must not be empty (an empty selector would select every workload in the namespace)',
  targetName: 'must not name a service-mesh proxy or the exporter itself',
  port: 'must be a port number from 1 to 65535 or a port name (at most 15 lowercase letters, digits and single hyphens, with at least one letter)',
  headerValue: 'exactly one of value and valueFrom must be set',
  interval: 'must be from 1s to 1h',
  timeoutMin: 'must be at least 1ms',
  timeoutBelowInterval: 'must be below interval',
  httpOnly: 'path, scheme and headers apply to HTTP endpoints only',
  grpcOnly: 'service and tls apply to GRPC endpoints only',
  notTcp: 'insecureSkipVerify applies to HTTP and GRPC endpoints only',
  quantityNegative: 'must not be negative',
  requestOverLimit: 'must not exceed the limit',
} as const;

/** Where each rule applies (schema path, [] for list items) and whether the server checks it. */
export const SEMANTIC_RULES: readonly { field: string; message: string; server: boolean }[] = [
  { field: 'spec.selector.matchLabels', message: MESSAGES.labelKeys, server: true },
  {
    field: 'spec.selector.matchExpressions[].values',
    message: MESSAGES.requirementValues,
    server: true,
  },
  { field: 'spec.selector', message: MESSAGES.selectorNotEmpty, server: true },
  { field: 'spec.targetContainers[]', message: MESSAGES.targetName, server: true },
  { field: 'spec.health.endpoints[].port', message: MESSAGES.port, server: true },
  { field: 'spec.health.endpoints[].headers[]', message: MESSAGES.headerValue, server: true },
  { field: 'spec.health.endpoints[].interval', message: MESSAGES.interval, server: true },
  { field: 'spec.health.endpoints[].timeout', message: MESSAGES.timeoutMin, server: true },
  {
    field: 'spec.health.endpoints[].timeout',
    message: MESSAGES.timeoutBelowInterval,
    server: true,
  },
  { field: 'spec.health.endpoints[].type', message: MESSAGES.httpOnly, server: true },
  { field: 'spec.health.endpoints[].type', message: MESSAGES.grpcOnly, server: true },
  { field: 'spec.health.endpoints[].type', message: MESSAGES.notTcp, server: true },
  { field: 'spec.prometheus.podMonitorLabels', message: MESSAGES.labelKeys, server: true },
  {
    field: 'spec.exporter.resources.{requests,limits}.{cpu,memory}',
    message: MESSAGES.quantityNegative,
    server: false,
  },
  {
    field: 'spec.exporter.resources.requests.{cpu,memory}',
    message: MESSAGES.requestOverLimit,
    server: false,
  },
];

const MESH_OR_EXPORTER = new Set([...MESH_SIDECARS, EXPORTER_CONTAINER]);
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isPortNumberOrName(port: unknown): boolean {
  if (typeof port === 'number') return Number.isInteger(port) && port >= 1 && port <= 65535;
  return (
    typeof port === 'string' &&
    port.length <= 15 &&
    PORT_NAME.test(port) &&
    /[a-z]/.test(port) &&
    !port.includes('--')
  );
}

function resourceErrors(resources: { requests?: CpuMemory; limits?: CpuMemory } | undefined) {
  const errors: FieldError[] = [];
  const base = 'spec.exporter.resources';
  const values = { requests: new Map<string, number>(), limits: new Map<string, number>() };
  for (const group of ['requests', 'limits'] as const) {
    for (const name of ['cpu', 'memory'] as const) {
      const raw = resources?.[group]?.[name];
      if (raw === undefined) continue;
      const field = `${base}.${group}.${name}`;
      const v = parseQuantity(raw);
      if (v instanceof QuantityError) errors.push({ field, message: v.message });
      else if (v < 0) errors.push({ field, message: MESSAGES.quantityNegative });
      else values[group].set(name, v);
    }
  }
  for (const [name, request] of values.requests) {
    const limit = values.limits.get(name);
    if (limit !== undefined && request > limit) {
      errors.push({ field: `${base}.requests.${name}`, message: MESSAGES.requestOverLimit });
    }
  }
  return errors;
}

/** Every semantic error of a schema-valid, defaulted monitor (empty when it is valid). */
export function semanticErrors(monitor: SidecarMonitor): FieldError[] {
  const errors: FieldError[] = [];
  const spec = monitor.spec;
  const selector = spec.selector;

  const labels = selector.matchLabels ?? {};
  if (!Object.keys(labels).every(isLabelKey)) {
    errors.push({ field: 'spec.selector.matchLabels', message: MESSAGES.labelKeys });
  }
  (selector.matchExpressions ?? []).forEach((req, i) => {
    const hasValues = (req.values ?? []).length > 0;
    const needsValues = req.operator === 'In' || req.operator === 'NotIn';
    if (hasValues !== needsValues) {
      errors.push({
        field: `spec.selector.matchExpressions[${i}].values`,
        message: MESSAGES.requirementValues,
      });
    }
  });
  if (Object.keys(labels).length === 0 && (selector.matchExpressions ?? []).length === 0) {
    errors.push({ field: 'spec.selector', message: MESSAGES.selectorNotEmpty });
  }

  (spec.targetContainers ?? []).forEach((name, i) => {
    if (MESH_OR_EXPORTER.has(name)) {
      errors.push({ field: `spec.targetContainers[${i}]`, message: MESSAGES.targetName });
    }
  });

  (spec.health?.endpoints ?? []).forEach((endpoint, i) => {
    const base = childPath('spec.health.endpoints', i);
    if (!isPortNumberOrName(endpoint.port)) {
      errors.push({ field: `${base}.port`, message: MESSAGES.port });
    }
    (endpoint.headers ?? []).forEach((header, j) => {
      if ((header.value === undefined) === (header.valueFrom === undefined)) {
        errors.push({ field: `${base}.headers[${j}]`, message: MESSAGES.headerValue });
      }
    });
    const interval = parseDuration(endpoint.interval ?? '');
    const timeout = parseDuration(endpoint.timeout ?? '');
    if (interval === undefined || interval < 1 || interval > 3600) {
      errors.push({ field: `${base}.interval`, message: MESSAGES.interval });
    }
    if (timeout === undefined || timeout < 0.001) {
      errors.push({ field: `${base}.timeout`, message: MESSAGES.timeoutMin });
    }
    if (interval !== undefined && timeout !== undefined && !(timeout < interval)) {
      errors.push({ field: `${base}.timeout`, message: MESSAGES.timeoutBelowInterval });
    }
    const httpOnly =
      endpoint.path !== undefined ||
      endpoint.scheme !== undefined ||
      endpoint.headers !== undefined;
    if (endpoint.type !== 'HTTP' && httpOnly) {
      errors.push({ field: `${base}.type`, message: MESSAGES.httpOnly });
    }
    if (
      endpoint.type !== 'GRPC' &&
      (endpoint.service !== undefined || endpoint.tls !== undefined)
    ) {
      errors.push({ field: `${base}.type`, message: MESSAGES.grpcOnly });
    }
    if (endpoint.type === 'TCP' && endpoint.insecureSkipVerify !== undefined) {
      errors.push({ field: `${base}.type`, message: MESSAGES.notTcp });
    }
  });

  if (!Object.keys(spec.prometheus?.podMonitorLabels ?? {}).every(isLabelKey)) {
    errors.push({ field: 'spec.prometheus.podMonitorLabels', message: MESSAGES.labelKeys });
  }

  errors.push(...resourceErrors(spec.exporter?.resources));
  return errors;
}
