// The contract between the operator and the exporter: the operator serialises an
// ExporterConfig into the exporter container's SIDECAR_MONITOR_CONFIG env var, the
// exporter parses it back here. Both sides import this one file, so a field added on
// one side without the other fails to compile, and a test feeds the injected value
// to parseExporterConfig.

export const CONFIG_ENV = 'SIDECAR_MONITOR_CONFIG';
/** Set in each target container so the exporter can name a process group. */
export const CONTAINER_ENV = 'SIDECAR_MONITOR_CONTAINER';
export const CONFIG_VERSION = 1;
/**
 * Linux refuses to exec a process with one environment string ("NAME=value" and its NUL)
 * longer than MAX_ARG_STRLEN, 32 pages: a config past it means a pod that can never start.
 */
export const MAX_ENV_STRING_BYTES = 128 * 1024;

/** Bytes the config takes as one environment string, to compare with MAX_ENV_STRING_BYTES. */
export function configEnvBytes(json: string): number {
  return Buffer.byteLength(`${CONFIG_ENV}=${json}`) + 1;
}

export interface ResourceAmounts {
  /** CPU in cores (a Kubernetes quantity already resolved, e.g. "250m" → 0.25). */
  cpuCores?: number;
  memoryBytes?: number;
}

export interface TargetContainer {
  /** Kubernetes container name. */
  name: string;
  requests?: ResourceAmounts;
  limits?: ResourceAmounts;
}

export interface ProbeHeader {
  name: string;
  /** Literal value (only for non-secret values such as Host or Accept). */
  value?: string;
  /** Name of an env var of the exporter container holding the value (from a Secret). */
  valueFromEnv?: string;
}

export type ProbeSource = 'readinessProbe' | 'livenessProbe' | 'startupProbe' | 'monitor';

export interface HttpProbe {
  type: 'http';
  name: string;
  /** The container whose probe this was, if derived from one. */
  container?: string;
  source: ProbeSource;
  port: number;
  path: string;
  scheme: 'HTTP' | 'HTTPS';
  headers: ProbeHeader[];
  intervalSeconds: number;
  timeoutSeconds: number;
  /** Skip TLS verification: only when the monitor asks for it. */
  insecureSkipVerify: boolean;
}

export interface TcpProbe {
  type: 'tcp';
  name: string;
  container?: string;
  source: ProbeSource;
  port: number;
  intervalSeconds: number;
  timeoutSeconds: number;
}

/** A gRPC health check (grpc.health.v1.Health/Check) over HTTP/2, plaintext (h2c) or TLS. */
export interface GrpcProbe {
  type: 'grpc';
  name: string;
  container?: string;
  source: ProbeSource;
  port: number;
  /** The service name sent in the request; '' asks about the server as a whole. */
  service: string;
  tls: boolean;
  /** Skip TLS verification: only when the monitor asks for it (or the probe was derived). */
  insecureSkipVerify: boolean;
  intervalSeconds: number;
  timeoutSeconds: number;
}

export type ProbeConfig = HttpProbe | TcpProbe | GrpcProbe;

export interface WorkloadIdentity {
  kind: string;
  namespace: string;
  name: string;
  /** The SidecarMonitor that injected this exporter. */
  monitor: string;
}

export interface ExporterConfig {
  version: typeof CONFIG_VERSION;
  workload?: WorkloadIdentity;
  targets: TargetContainer[];
  probes: ProbeConfig[];
  /** Hard cap on exported series; beyond it series are dropped and counted. */
  maxSeries?: number;
}

export class ConfigError extends Error {
  readonly path: string;
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(`${CONFIG_ENV}${path ? `.${path}` : ''}: ${message}`, options);
    this.name = 'ConfigError';
    this.path = path;
  }
}

type Json = unknown;

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Why a string cannot be an HTTP field value (RFC 9110 §5.5: visible ASCII or obs-text, with
 * spaces and tabs only between them), or undefined when it can. Node's client sends exactly
 * these (obs-text as Latin-1 bytes) and refuses the rest at every attempt.
 */
export function headerValueProblem(value: string): string | undefined {
  const bad = /[^\t\x20-\x7e\x80-\xff]/u.exec(value);
  if (bad) {
    const code = bad[0].codePointAt(0) ?? 0;
    return `U+${code.toString(16).toUpperCase().padStart(4, '0')} at position ${bad.index} is not allowed in a header value (visible ASCII, spaces and tabs between them)`;
  }
  if (/^[\t ]|[\t ]$/.test(value)) return 'a header value cannot start or end with a space or tab';
  return undefined;
}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: Json, path: string): Record<string, Json> {
  if (!isObject(v)) throw new ConfigError(path, 'must be an object');
  return v;
}

function str(v: Json, path: string, pattern?: RegExp, max = 253): string {
  if (typeof v !== 'string' || v.length === 0)
    throw new ConfigError(path, 'must be a non-empty string');
  if (v.length > max) throw new ConfigError(path, `must be at most ${max} characters`);
  if (pattern && !pattern.test(v)) throw new ConfigError(path, `must match ${String(pattern)}`);
  return v;
}

function num(v: Json, path: string, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(path, 'must be a number');
  if (integer && !Number.isInteger(v)) throw new ConfigError(path, 'must be an integer');
  if (v < min || v > max) throw new ConfigError(path, `must be between ${min} and ${max}`);
  return v;
}

function optional<T>(o: Record<string, Json>, key: string, parse: (v: Json) => T): T | undefined {
  return o[key] === undefined ? undefined : parse(o[key]);
}

function list<T>(v: Json, path: string, max: number, parse: (item: Json, path: string) => T): T[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ConfigError(path, 'must be a list');
  if (v.length > max) throw new ConfigError(path, `must have at most ${max} items`);
  return v.map((item, i) => parse(item, `${path}[${i}]`));
}

function rejectUnknown(o: Record<string, Json>, path: string, known: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) {
      throw new ConfigError(path ? `${path}.${key}` : key, 'unknown field');
    }
  }
}

function amounts(v: Json, path: string): ResourceAmounts {
  const o = obj(v, path);
  rejectUnknown(o, path, ['cpuCores', 'memoryBytes']);
  const out: ResourceAmounts = {};
  const cpu = optional(o, 'cpuCores', (x) => num(x, `${path}.cpuCores`, 0, 1e6));
  const mem = optional(o, 'memoryBytes', (x) => num(x, `${path}.memoryBytes`, 0, 2 ** 63, true));
  if (cpu !== undefined) out.cpuCores = cpu;
  if (mem !== undefined) out.memoryBytes = mem;
  return out;
}

function target(v: Json, path: string): TargetContainer {
  const o = obj(v, path);
  rejectUnknown(o, path, ['name', 'requests', 'limits']);
  const out: TargetContainer = { name: str(o.name, `${path}.name`, NAME, 63) };
  const requests = optional(o, 'requests', (x) => amounts(x, `${path}.requests`));
  const limits = optional(o, 'limits', (x) => amounts(x, `${path}.limits`));
  if (requests) out.requests = requests;
  if (limits) out.limits = limits;
  return out;
}

function header(v: Json, path: string): ProbeHeader {
  const o = obj(v, path);
  rejectUnknown(o, path, ['name', 'value', 'valueFromEnv']);
  const out: ProbeHeader = { name: str(o.name, `${path}.name`, HEADER_NAME, 256) };
  if (o.value !== undefined) {
    if (typeof o.value !== 'string' || o.value.length > 4096)
      throw new ConfigError(`${path}.value`, 'must be a string of at most 4096 characters');
    const problem = headerValueProblem(o.value);
    if (problem !== undefined) throw new ConfigError(`${path}.value`, problem);
    out.value = o.value;
  }
  const fromEnv = optional(o, 'valueFromEnv', (x) => str(x, `${path}.valueFromEnv`, ENV_NAME, 128));
  if (fromEnv !== undefined) out.valueFromEnv = fromEnv;
  if ((out.value === undefined) === (out.valueFromEnv === undefined)) {
    throw new ConfigError(path, 'needs exactly one of value or valueFromEnv');
  }
  return out;
}

const SOURCES: readonly ProbeSource[] = [
  'readinessProbe',
  'livenessProbe',
  'startupProbe',
  'monitor',
];

function oneOf<T extends string>(v: Json, path: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new ConfigError(path, `must be one of ${values.join(', ')}`);
  }
  return v as T;
}

function probe(v: Json, path: string): ProbeConfig {
  const o = obj(v, path);
  const type = oneOf(o.type, `${path}.type`, ['http', 'tcp', 'grpc'] as const);
  const common = {
    name: str(o.name, `${path}.name`, NAME, 63),
    source: oneOf(o.source, `${path}.source`, SOURCES),
    port: num(o.port, `${path}.port`, 1, 65535, true),
    intervalSeconds: num(o.intervalSeconds, `${path}.intervalSeconds`, 1, 3600),
    timeoutSeconds: num(o.timeoutSeconds, `${path}.timeoutSeconds`, 0.001, 3600),
  };
  if (common.timeoutSeconds > common.intervalSeconds) {
    throw new ConfigError(`${path}.timeoutSeconds`, 'must not exceed intervalSeconds');
  }
  const container = optional(o, 'container', (x) => str(x, `${path}.container`, NAME, 63));
  const withContainer = container === undefined ? common : { ...common, container };
  if (type === 'tcp') {
    rejectUnknown(o, path, [
      'type',
      'name',
      'container',
      'source',
      'port',
      'intervalSeconds',
      'timeoutSeconds',
    ]);
    return { type, ...withContainer };
  }
  const insecure = o.insecureSkipVerify ?? false;
  if (typeof insecure !== 'boolean')
    throw new ConfigError(`${path}.insecureSkipVerify`, 'must be a boolean');
  if (type === 'grpc') {
    rejectUnknown(o, path, [
      'type',
      'name',
      'container',
      'source',
      'port',
      'intervalSeconds',
      'timeoutSeconds',
      'service',
      'tls',
      'insecureSkipVerify',
    ]);
    const tls = o.tls ?? false;
    if (typeof tls !== 'boolean') throw new ConfigError(`${path}.tls`, 'must be a boolean');
    return {
      type,
      ...withContainer,
      service: o.service === undefined ? '' : grpcService(o.service, `${path}.service`),
      tls,
      insecureSkipVerify: insecure,
    };
  }
  rejectUnknown(o, path, [
    'type',
    'name',
    'container',
    'source',
    'port',
    'intervalSeconds',
    'timeoutSeconds',
    'path',
    'scheme',
    'headers',
    'insecureSkipVerify',
  ]);
  const probePath = o.path === undefined ? '/' : str(o.path, `${path}.path`, /^\/[^\s]*$/, 2048);
  return {
    type,
    ...withContainer,
    path: probePath,
    scheme:
      o.scheme === undefined
        ? 'HTTP'
        : oneOf(o.scheme, `${path}.scheme`, ['HTTP', 'HTTPS'] as const),
    headers: list(o.headers, `${path}.headers`, 16, header),
    insecureSkipVerify: insecure,
  };
}

/** gRPC service names are protobuf full names: printable ASCII, no spaces; '' is allowed. */
function grpcService(v: Json, path: string): string {
  if (typeof v !== 'string' || v.length > 256 || !/^[!-~]*$/.test(v))
    throw new ConfigError(path, 'must be at most 256 printable ASCII characters without spaces');
  return v;
}

function workload(v: Json, path: string): WorkloadIdentity {
  const o = obj(v, path);
  rejectUnknown(o, path, ['kind', 'namespace', 'name', 'monitor']);
  return {
    kind: str(o.kind, `${path}.kind`, /^[A-Za-z]+$/, 63),
    namespace: str(o.namespace, `${path}.namespace`, NAME, 63),
    name: str(o.name, `${path}.name`, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 253),
    monitor: str(o.monitor, `${path}.monitor`, NAME, 63),
  };
}

/** Validates an already-decoded value; throws ConfigError naming the bad field. */
export function validateExporterConfig(value: unknown): ExporterConfig {
  const o = obj(value, '');
  rejectUnknown(o, '', ['version', 'workload', 'targets', 'probes', 'maxSeries']);
  if (o.version !== CONFIG_VERSION) {
    throw new ConfigError(
      'version',
      `must be ${CONFIG_VERSION} (this exporter is older or newer than the operator)`,
    );
  }
  const config: ExporterConfig = {
    version: CONFIG_VERSION,
    targets: list(o.targets, 'targets', 32, target),
    probes: list(o.probes, 'probes', 64, probe),
  };
  const names = new Set<string>();
  config.probes.forEach((p, i) => {
    if (names.has(p.name))
      throw new ConfigError(`probes[${i}].name`, `duplicate probe name "${p.name}"`);
    names.add(p.name);
  });
  const w = optional(o, 'workload', (x) => workload(x, 'workload'));
  if (w) config.workload = w;
  const maxSeries = optional(o, 'maxSeries', (x) => num(x, 'maxSeries', 10, 10_000, true));
  if (maxSeries !== undefined) config.maxSeries = maxSeries;
  return config;
}

/** Parses the SIDECAR_MONITOR_CONFIG env value. */
export function parseExporterConfig(text: string): ExporterConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('', 'is not valid JSON', { cause: err });
  }
  return validateExporterConfig(value);
}

/** The canonical serialisation the operator writes: stable key order, no whitespace. */
export function serializeExporterConfig(config: ExporterConfig): string {
  return JSON.stringify(validateExporterConfig(config));
}
