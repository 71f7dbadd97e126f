import type { ProbeFailureReason, ProbePhase } from '../metrics/catalog.ts';

export interface ProbeOutcome {
  success: boolean;
  /** HTTP status of the last response, 0 when none. */
  statusCode: number;
  reason?: ProbeFailureReason;
  /** Seconds since the attempt started, for each phase reached. */
  phases: Partial<Record<ProbePhase, number>>;
  error?: Error;
}

const TLS_CODES =
  /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET|VERIFY)_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

/** Maps a socket or HTTP error to a failure reason from the bounded set. */
export function failureReason(error: unknown): ProbeFailureReason {
  const raw = (error as { code?: unknown } | undefined)?.code;
  const code = typeof raw === 'string' ? raw : '';
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || message === 'socket hang up') return 'reset';
  if (code === 'ETIMEDOUT' || code === 'ABORT_ERR') return 'timeout';
  if (TLS_CODES.test(code) || /SSL routines|wrong version number|tls/i.test(message)) return 'tls';
  if (code.startsWith('HPE_')) return 'protocol';
  return 'other';
}
