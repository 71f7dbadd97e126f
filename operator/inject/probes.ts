// The health endpoints the exporter probes: derived from the target containers' httpGet,
// tcpSocket and grpc probes (named ports resolved against that container's ports) and from
// exec probes whose command is a form recognised exactly (exec-probe.ts), plus the monitor's
// own endpoints. The exporter only ever probes loopback, so a probe aimed at another host is
// reported and left out; other exec probes are reported as not probed (never run).

import {
  headerValueProblem,
  type ProbeConfig,
  type ProbeHeader,
  type ProbeSource,
} from '../../exporter/config.ts';
import { HEADER_ENV_PREFIX } from '../api/constants.ts';
import { parseDuration } from '../api/duration.ts';
import type { HealthEndpoint, HealthSpec } from '../api/v1alpha1.ts';
import { recogniseExec } from './exec-probe.ts';
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
  switch (p.type) {
    case 'tcp':
      return `tcp:${p.port}`;
    case 'grpc':
      return `grpc:${p.tls}:${p.port}:${p.service}`;
    case 'http':
      return `http:${p.scheme}:${p.port}:${p.path}:${JSON.stringify(p.headers)}`;
  }
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

/** The Kubernetes grpc action ({port, service}), as an HTTP/2 plaintext health check. */
function grpcAction(
  grpc: unknown,
  target: Container,
  where: string,
  notes: Note[],
): { port: number; service: string } | undefined {
  const action = (typeof grpc === 'object' && grpc !== null ? grpc : {}) as Record<string, unknown>;
  const port = resolvePort(action.port, [target]);
  if (port === undefined) {
    notes.push({
      code: 'ProbePortNotFound',
      message: `${where}: port ${shown(action.port)} is not a port of the container`,
    });
    return undefined;
  }
  const service = action.service ?? '';
  if (typeof service !== 'string' || service.length > 256 || !/^[!-~]*$/.test(service)) {
    notes.push({
      code: 'ProbeInvalid',
      message: `${where}: a gRPC service name the exporter cannot send`,
    });
    return undefined;
  }
  return { port, service };
}

/**
 * An exec probe as the equivalent httpGet or grpc action, when its command is a recognised
 * form; otherwise a note saying why it is not probed.
 */
function execAction(
  probe: Probe,
  where: string,
  notes: Note[],
): { probe: Probe; tls: boolean } | undefined {
  const command = (probe.exec as { command?: unknown } | null | undefined)?.command;
  const recognised = recogniseExec(command);
  if (!recognised.ok) {
    notes.push(
      recognised.why === 'not-loopback'
        ? { code: 'ProbeHostNotLoopback', message: `${where}: ${recognised.message}` }
        : {
            code: 'ProbeNotSupported',
            message: `${where}: exec probes are not probed unless recognised (grpc_health_probe, curl, wget): ${recognised.message}`,
          },
    );
    return undefined;
  }
  const { check } = recognised;
  const timing = { periodSeconds: probe.periodSeconds, timeoutSeconds: probe.timeoutSeconds };
  if (check.kind === 'grpc')
    return {
      probe: { ...timing, grpc: { port: check.port, service: check.service } },
      tls: check.tls,
    };
  return {
    probe: {
      ...timing,
      httpGet: {
        port: check.port,
        path: check.path,
        scheme: check.scheme,
        httpHeaders: check.headers,
      },
    },
    tls: false,
  };
}

function fromProbe(
  target: Container,
  original: Probe,
  source: ProbeSource,
  name: string,
  notes: Note[],
): ProbeConfig | undefined {
  const where = `${source} of container "${target.name}"`;
  const hasAction =
    original.httpGet !== undefined ||
    original.tcpSocket !== undefined ||
    original.grpc !== undefined;
  const equivalent =
    hasAction || original.exec === undefined
      ? { probe: original, tls: false }
      : execAction(original, where, notes);
  if (!equivalent) return undefined;
  const { probe } = equivalent;
  const interval = Math.min(Math.max(probe.periodSeconds ?? 10, MIN_DERIVED_INTERVAL), 3600);
  const timeout = Math.min(Math.max(probe.timeoutSeconds ?? 1, 1), interval);
  if (!probe.httpGet && !probe.tcpSocket && probe.grpc !== undefined) {
    const grpc = grpcAction(probe.grpc, target, where, notes);
    if (!grpc) return undefined;
    // The kubelet's grpc probes are plaintext; a recognised grpc_health_probe may ask for TLS.
    // Like the kubelet's HTTPS probes, derived probes do not verify certificates.
    const { tls } = equivalent;
    return {
      type: 'grpc',
      name,
      container: target.name,
      source,
      port: grpc.port,
      intervalSeconds: interval,
      timeoutSeconds: timeout,
      service: grpc.service,
      tls,
      insecureSkipVerify: tls,
    };
  }
  const action = probe.httpGet ?? probe.tcpSocket;
  if (!action) {
    notes.push({
      code: 'ProbeNotSupported',
      message: `${where}: probes without an action are not probed`,
    });
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
      message: `${where}: port ${shown(action.port)} is not a port of the container`,
    });
    return undefined;
  }
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
      message: `endpoint "${endpoint.name}": no container port named "${shown(endpoint.port)}"`,
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
  if (endpoint.type === 'GRPC')
    return {
      type: 'grpc',
      ...common,
      service: endpoint.service ?? '',
      tls: endpoint.tls ?? false,
      insecureSkipVerify: endpoint.insecureSkipVerify ?? false,
    };
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

/**
 * A value from a workload, quoted in a note. Anything can be there (String() throws on an
 * object whose toString is not a function, as the fuzz test found).
 */
function shown(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  try {
    // undefined for undefined, functions and symbols, whatever the declared type says
    const text = JSON.stringify(value) as string | undefined;
    return text ?? typeof value;
  } catch {
    return typeof value;
  }
}
