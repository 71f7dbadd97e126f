// The health endpoints the exporter probes: derived from the target containers' httpGet and
// tcpSocket probes (named ports resolved against that container's ports), plus the
// monitor's own endpoints. The exporter only ever probes loopback, so a probe aimed at
// another host is reported and left out; grpc and exec probes are reported as not probed.

import {
  headerValueProblem,
  type ProbeConfig,
  type ProbeHeader,
  type ProbeSource,
} from '../../exporter/config.ts';
import { HEADER_ENV_PREFIX } from '../api/constants.ts';
import { parseDuration } from '../api/duration.ts';
import type { HealthEndpoint, HealthSpec } from '../api/v1alpha1.ts';
import type { Container, EnvVar, Probe } from './k8s-types.ts';
import type { Target } from './targets.ts';
import type { Note } from './types.ts';

/** The exporter accepts at most this many probes. */
const MAX_PROBES = 64;
/** Derived probes run at the probe's period, but never more often than this. */
const MIN_DERIVED_INTERVAL = 5;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const KINDS = [
  ['readinessProbe', 'readiness'],
  ['livenessProbe', 'liveness'],
  ['startupProbe', 'startup'],
] as const;

export interface ProbePlan {
  probes: ProbeConfig[];
  /** Exporter env vars holding header values from Secrets. */
  env: EnvVar[];
  notes: Note[];
}

function resolvePort(port: unknown, containers: readonly Container[]): number | undefined {
  if (typeof port === 'number')
    return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
  // Workloads come from the API server or a file: a malformed port is skipped, not a crash.
  if (typeof port !== 'string') return undefined;
  if (/^\d+$/.test(port)) return resolvePort(Number(port), containers);
  for (const c of containers) {
    const found = c.ports?.find((p) => p.name === port);
    if (found) return found.containerPort;
  }
  return undefined;
}

function isLoopback(host: string | undefined): boolean {
  return (
    host === undefined || host === '' || LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host)
  );
}

/** Same endpoint, same request: probing it twice measures nothing new. */
function identity(p: ProbeConfig): string {
  return p.type === 'tcp'
    ? `tcp:${p.port}`
    : `http:${p.scheme}:${p.port}:${p.path}:${JSON.stringify(p.headers)}`;
}

function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 2; taken.has(name); i++) {
    const suffix = `-${i}`;
    name = `${base.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`;
  }
  taken.add(name);
  return name;
}

function derivedName(container: string, kind: string): string {
  return `${container.slice(0, 62 - kind.length).replace(/-+$/, '')}-${kind}`;
}

function fromProbe(
  target: Container,
  probe: Probe,
  source: ProbeSource,
  name: string,
  notes: Note[],
): ProbeConfig | undefined {
  const where = `${source} of container "${target.name}"`;
  const action = probe.httpGet ?? probe.tcpSocket;
  if (!action) {
    const kind = probe.grpc !== undefined ? 'grpc' : probe.exec !== undefined ? 'exec' : 'unknown';
    notes.push({ code: 'ProbeNotSupported', message: `${where}: ${kind} probes are not probed` });
    return undefined;
  }
  if (!isLoopback(action.host)) {
    notes.push({
      code: 'ProbeHostNotLoopback',
      message: `${where}: host ${action.host ?? ''} is not this pod; the exporter probes loopback only`,
    });
    return undefined;
  }
  const port = resolvePort(action.port, [target]);
  if (port === undefined) {
    notes.push({
      code: 'ProbePortNotFound',
      message: `${where}: port ${String(action.port)} is not a port of the container`,
    });
    return undefined;
  }
  const interval = Math.min(Math.max(probe.periodSeconds ?? 10, MIN_DERIVED_INTERVAL), 3600);
  const timeout = Math.min(Math.max(probe.timeoutSeconds ?? 1, 1), interval);
  const common = {
    name,
    container: target.name,
    source,
    port,
    intervalSeconds: interval,
    timeoutSeconds: timeout,
  };
  if (!probe.httpGet) return { type: 'tcp', ...common };
  const raw = probe.httpGet.path ?? '/';
  const path = raw.startsWith('/') ? raw : `/${raw}`;
  const headers: ProbeHeader[] = (probe.httpGet.httpHeaders ?? []).map((h) => ({
    name: h.name,
    value: h.value,
  }));
  const badHeader = headers.find(
    (h) => !HEADER_NAME.test(h.name) || headerValueProblem(h.value ?? '') !== undefined,
  );
  if (/\s/.test(path) || path.length > 2048 || badHeader || headers.length > 16) {
    notes.push({
      code: 'ProbeInvalid',
      message: `${where}: path or headers the exporter cannot send`,
    });
    return undefined;
  }
  const scheme = probe.httpGet.scheme === 'HTTPS' ? 'HTTPS' : 'HTTP';
  // The kubelet never verifies a probe's certificate; neither do we for the same endpoint.
  return { type: 'http', ...common, path, scheme, headers, insecureSkipVerify: scheme === 'HTTPS' };
}

function fromEndpoint(
  endpoint: HealthEndpoint,
  index: number,
  targets: readonly Container[],
  all: readonly Container[],
  env: EnvVar[],
  notes: Note[],
): ProbeConfig | undefined {
  const port = resolvePort(endpoint.port, targets) ?? resolvePort(endpoint.port, all);
  if (port === undefined) {
    notes.push({
      code: 'EndpointPortNotFound',
      message: `endpoint "${endpoint.name}": no container port named "${String(endpoint.port)}"`,
    });
    return undefined;
  }
  const intervalSeconds = parseDuration(endpoint.interval ?? '10s') ?? 10;
  const timeoutSeconds = parseDuration(endpoint.timeout ?? '1s') ?? 1;
  const common = {
    name: endpoint.name,
    source: 'monitor' as const,
    port,
    intervalSeconds,
    timeoutSeconds,
  };
  if (endpoint.type === 'TCP') return { type: 'tcp', ...common };
  const bad = (endpoint.headers ?? []).find(
    (h) => h.value !== undefined && headerValueProblem(h.value) !== undefined,
  );
  if (bad?.value !== undefined) {
    notes.push({
      code: 'ProbeInvalid',
      message: `endpoint "${endpoint.name}": header ${bad.name}: ${headerValueProblem(bad.value) ?? ''}`,
    });
    return undefined;
  }
  const headers = (endpoint.headers ?? []).map((h, j): ProbeHeader => {
    if (h.value !== undefined) return { name: h.name, value: h.value };
    const envName = `${HEADER_ENV_PREFIX}${index}_${j}`;
    const ref = h.valueFrom?.secretKeyRef;
    // optional: a missing Secret must not keep the pod (and so the app) from starting.
    env.push({
      name: envName,
      valueFrom: { secretKeyRef: { name: ref?.name, key: ref?.key, optional: true } },
    });
    return { name: h.name, valueFromEnv: envName };
  });
  return {
    type: 'http',
    ...common,
    path: endpoint.path ?? '/',
    scheme: endpoint.scheme ?? 'HTTP',
    headers,
    insecureSkipVerify: endpoint.insecureSkipVerify ?? false,
  };
}

export function planProbes(
  targets: readonly Target[],
  allContainers: readonly Container[],
  health: HealthSpec | undefined,
): ProbePlan {
  const notes: Note[] = [];
  const env: EnvVar[] = [];
  const explicit = (health?.endpoints ?? []).flatMap((endpoint, i) => {
    const p = fromEndpoint(
      endpoint,
      i,
      targets.map((t) => t.container),
      allContainers,
      env,
      notes,
    );
    return p ? [p] : [];
  });
  const taken = new Set(explicit.map((p) => p.name));
  const seen = new Set(explicit.map(identity));
  const derived: ProbeConfig[] = [];
  if (health?.fromProbes !== false) {
    for (const { container } of targets) {
      for (const [field, kind] of KINDS) {
        const probe = container[field];
        if (!probe) continue;
        const p = fromProbe(container, probe, field, derivedName(container.name, kind), notes);
        if (!p || seen.has(identity(p))) continue;
        seen.add(identity(p));
        derived.push({ ...p, name: uniqueName(p.name, taken) });
      }
    }
  }
  const probes = [...derived, ...explicit];
  if (probes.length > MAX_PROBES) {
    notes.push({
      code: 'ProbeLimit',
      message: `only the first ${MAX_PROBES} of ${probes.length} endpoints are probed`,
    });
  }
  return { probes: probes.slice(0, MAX_PROBES), env, notes };
}
