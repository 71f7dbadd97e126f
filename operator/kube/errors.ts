// Every Kubernetes API failure is classified here, once, so callers decide on a kind
// rather than on status codes scattered through the code. The two 409s matter most:
// an optimistic-concurrency conflict (stale resourceVersion) is transient and retried
// after a fresh read; a server-side-apply conflict means another field manager holds a
// field with a different value, and retrying the same request can never succeed.

/** A kubeconfig (or in-cluster setup) we cannot use, saying why: never half-understood. */
export class KubeconfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KubeconfigError';
  }
}

export type ApiErrorKind =
  | 'conflict'
  | 'apply-conflict'
  | 'already-exists'
  | 'not-found'
  | 'gone'
  | 'invalid'
  | 'bad-request'
  | 'unauthorized'
  | 'forbidden'
  | 'throttled'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'unknown';

export interface FieldConflict {
  /** The field manager holding the field, e.g. "kubectl-client-side-apply". */
  manager: string;
  /** The field path, e.g. ".spec.template.spec.shareProcessNamespace". */
  field: string;
}

/** metav1.StatusCause: its type is serialised under the JSON key "reason". */
export interface StatusCause {
  reason?: string;
  field?: string;
  message?: string;
}

const RETRYABLE: ReadonlySet<ApiErrorKind> = new Set([
  'conflict',
  'throttled',
  'unavailable',
  'timeout',
  'network',
]);

export class KubeApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly statusCode: number | undefined;
  readonly reason: string | undefined;
  readonly causes: readonly StatusCause[];
  readonly conflicts: readonly FieldConflict[];
  /** From Retry-After or the Status details, when the server asked us to wait. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    fields: {
      kind: ApiErrorKind;
      statusCode?: number;
      reason?: string;
      causes?: StatusCause[];
      retryAfterMs?: number;
    },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'KubeApiError';
    this.kind = fields.kind;
    this.statusCode = fields.statusCode;
    this.reason = fields.reason;
    this.causes = fields.causes ?? [];
    this.conflicts = fieldConflicts(this.causes);
    this.retryAfterMs = fields.retryAfterMs;
  }

  /** Worth retrying the same request later (after a fresh read for 'conflict'). */
  get retryable(): boolean {
    return RETRYABLE.has(this.kind);
  }

  /** The distinct managers named in an apply conflict, in order. */
  get conflictingManagers(): string[] {
    return [...new Set(this.conflicts.map((c) => c.manager))];
  }
}

const MANAGER = /conflict with "([^"]*)"/;

function fieldConflicts(causes: readonly StatusCause[]): FieldConflict[] {
  const out: FieldConflict[] = [];
  for (const cause of causes) {
    if (cause.reason !== 'FieldManagerConflict') continue;
    const manager = MANAGER.exec(cause.message ?? '')?.[1];
    out.push({ manager: manager ?? 'unknown', field: cause.field ?? '' });
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kindForStatus(
  code: number,
  reason: string | undefined,
  causes: StatusCause[],
): ApiErrorKind {
  switch (code) {
    case 400:
      return 'bad-request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 409:
      if (reason === 'AlreadyExists') return 'already-exists';
      if (causes.some((c) => c.reason === 'FieldManagerConflict')) return 'apply-conflict';
      return 'conflict';
    case 410:
      return 'gone';
    case 422:
      return 'invalid';
    case 429:
      return 'throttled';
    default:
      if (code >= 500) return 'unavailable';
      return 'unknown';
  }
}

/** Builds the error for a non-2xx response from its status code and (JSON) body. */
export function apiErrorFromResponse(
  context: string,
  statusCode: number,
  body: unknown,
  retryAfterHeader?: string | null,
): KubeApiError {
  const status = isRecord(body) ? body : {};
  const reason = typeof status.reason === 'string' ? status.reason : undefined;
  const details = isRecord(status.details) ? status.details : {};
  const causes: StatusCause[] = Array.isArray(details.causes)
    ? details.causes.filter(isRecord).map((c) => {
        const cause: StatusCause = {};
        if (typeof c.reason === 'string') cause.reason = c.reason;
        if (typeof c.field === 'string') cause.field = c.field;
        if (typeof c.message === 'string') cause.message = c.message;
        return cause;
      })
    : [];
  const serverMessage =
    typeof status.message === 'string'
      ? status.message
      : typeof body === 'string' && body.length > 0
        ? body.slice(0, 500)
        : `HTTP ${statusCode}`;
  let retryAfterMs: number | undefined;
  const headerSeconds = Number(retryAfterHeader);
  if (retryAfterHeader && Number.isFinite(headerSeconds) && headerSeconds >= 0) {
    retryAfterMs = headerSeconds * 1000;
  } else if (typeof details.retryAfterSeconds === 'number') {
    retryAfterMs = details.retryAfterSeconds * 1000;
  }
  const fields: ConstructorParameters<typeof KubeApiError>[1] = {
    kind: kindForStatus(statusCode, reason, causes),
    statusCode,
    causes,
  };
  if (reason !== undefined) fields.reason = reason;
  if (retryAfterMs !== undefined) fields.retryAfterMs = retryAfterMs;
  return new KubeApiError(`${context}: ${serverMessage}`, fields);
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; isRecord(e) && depth < 5; e = e.cause, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

/** Classifies anything thrown by a request (a KubeApiError passes through unchanged). */
export function classifyError(context: string, err: unknown): KubeApiError {
  if (err instanceof KubeApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.name : '';
  if (name === 'TimeoutError') {
    return new KubeApiError(`${context}: timed out`, { kind: 'timeout' }, { cause: err });
  }
  const code = errorCode(err);
  if (
    name === 'AbortError' ||
    (code !== undefined && NETWORK_CODES.has(code)) ||
    message === 'fetch failed'
  ) {
    return new KubeApiError(
      `${context}: ${code ? `${code} ` : ''}${message}`,
      { kind: 'network' },
      { cause: err },
    );
  }
  return new KubeApiError(`${context}: ${message}`, { kind: 'unknown' }, { cause: err });
}

export function isApiError(err: unknown, kind: ApiErrorKind): err is KubeApiError {
  return err instanceof KubeApiError && err.kind === kind;
}
