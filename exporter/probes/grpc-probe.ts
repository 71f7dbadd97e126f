// One gRPC health check (grpc.health.v1.Health/Check) against the pod's loopback, as the
// kubelet's grpc probe makes it: HTTP/2 in plaintext (h2c), or TLS when the probe asks. Built on
// node:http2 and the few bytes of grpc-wire.ts rather than a gRPC library: the exporter pays
// for every byte it loads in every pod (see the README's benchmark), and one unary call with
// a one-field request needs none of a library's channels, resolvers or retries.
//
// Bounded like the HTTP probe: one deadline for the whole attempt (sent to the server as
// grpc-timeout too), a cap on the response message, on header lists and on the session's
// memory, no server push, no redirects (gRPC has none), one connection per attempt.

import {
  connect as http2Connect,
  type ClientHttp2Session,
  type ClientHttp2Stream,
} from 'node:http2';
import type { IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { GrpcProbe } from '../config.ts';
import type { ProbeFailureReason } from '../metrics/catalog.ts';
import {
  decodeGrpcMessage,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  frameMessage,
  grpcCodeName,
  grpcTimeout,
  HEALTH_CHECK_PATH,
  MessageReader,
  parseGrpcStatus,
  type WireError,
} from './grpc-wire.ts';
import { failureReason, type ProbeOutcome } from './outcome.ts';

/** A HealthCheckResponse is two bytes; anything near this is not a health service. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Response headers and trailers, each. */
const MAX_HEADER_LIST_BYTES = 16 * 1024;
/** 1xx header blocks before the response: a peer sending them forever is refused. */
const MAX_INFORMATIONAL = 8;

export interface GrpcAttemptOptions {
  probe: GrpcProbe;
  userAgent: string;
  now: () => number;
  signal?: AbortSignal;
  maxMessageBytes?: number;
}

/** Maps an HTTP/2 or socket error to a reason; the rest as for HTTP (refused, tls...). */
export function grpcFailureReason(error: unknown): ProbeFailureReason {
  const code = (error as { code?: unknown } | undefined)?.code;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  // A stream cancelled because its session failed carries the session's error as cause.
  if (code === 'ERR_HTTP2_STREAM_CANCEL' && cause !== undefined) return grpcFailureReason(cause);
  if (code === 'ERR_HTTP2_STREAM_ERROR' || code === 'ERR_HTTP2_GOAWAY_SESSION') return 'reset';
  if (typeof code === 'string' && code.startsWith('ERR_HTTP2_')) return 'protocol';
  return failureReason(error);
}

const STATUS_REASON: Partial<Record<number, ProbeFailureReason>> = {
  4: 'timeout', // DEADLINE_EXCEEDED: the server gave up first
  5: 'service_unknown', // NOT_FOUND: the health service knows no such service name
  12: 'unimplemented', // UNIMPLEMENTED: no health service on this server
};

type Verdict = { success: true } | { success: false; reason: ProbeFailureReason; message: string };

/** What the finished call means, from its headers, trailers and message. */
export function verdict(
  headers: IncomingHttpHeaders,
  trailers: IncomingHttpHeaders | undefined,
  message: ReturnType<MessageReader['finish']>,
): Verdict {
  // A trailers-only response (an error without a message) has grpc-status in its headers.
  const source = trailers ?? headers;
  const status = parseGrpcStatus(source['grpc-status']);
  if (status === undefined)
    return { success: false, reason: 'protocol', message: 'response without grpc-status' };
  if (status !== 0) {
    const detail = decodeGrpcMessage(source['grpc-message']);
    return {
      success: false,
      reason: STATUS_REASON[status] ?? 'bad_status',
      message: `gRPC status ${grpcCodeName(status)}${detail ? `: ${detail}` : ''}`,
    };
  }
  if (!message.ok) return { success: false, reason: 'protocol', message: message.message };
  if (message.value === undefined)
    return { success: false, reason: 'protocol', message: 'OK without a response message' };
  const decoded = decodeHealthCheckResponse(message.value);
  if (!decoded.ok) return { success: false, reason: 'protocol', message: decoded.message };
  switch (decoded.value) {
    case 'SERVING':
      return { success: true };
    case 'SERVICE_UNKNOWN':
      return { success: false, reason: 'service_unknown', message: 'status SERVICE_UNKNOWN' };
    default:
      return { success: false, reason: 'not_serving', message: `status ${decoded.value}` };
  }
}

class ProbeFailure extends Error {
  readonly reason: ProbeFailureReason;
  constructor(reason: ProbeFailureReason, message: string) {
    super(message);
    this.name = 'ProbeFailure';
    this.reason = reason;
  }
}

function wireFailure(error: WireError): ProbeFailure {
  return new ProbeFailure(
    error.kind === 'too_large' ? 'body_too_large' : 'protocol',
    error.message,
  );
}

export function grpcAttempt(options: GrpcAttemptOptions): Promise<ProbeOutcome> {
  const { probe, now, signal } = options;
  const start = now();
  const elapsed = () => (now() - start) / 1000;
  const phases: ProbeOutcome['phases'] = {};
  const reader = new MessageReader(options.maxMessageBytes ?? MAX_MESSAGE_BYTES);
  let statusCode = 0;
  let session: ClientHttp2Session | undefined;

  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<ProbeOutcome, 'phases' | 'statusCode'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      phases.total = elapsed();
      session?.destroy();
      resolve({ ...outcome, statusCode, phases });
    };
    const fail = (error: unknown) => {
      const reason = error instanceof ProbeFailure ? error.reason : grpcFailureReason(error);
      finish({
        success: false,
        reason,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    };
    const timer = setTimeout(() => {
      fail(new ProbeFailure('timeout', `no answer within ${probe.timeoutSeconds} s`));
    }, probe.timeoutSeconds * 1000);
    timer.unref();
    const onAbort = () => {
      fail(new ProbeFailure('timeout', 'aborted'));
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    const connection = (): Socket => {
      const socket = probe.tls
        ? tlsConnect({
            host: '127.0.0.1',
            port: probe.port,
            ALPNProtocols: ['h2'],
            rejectUnauthorized: !probe.insecureSkipVerify,
          })
        : netConnect({ host: '127.0.0.1', port: probe.port });
      // connect is the TCP handshake; a TLS handshake counts towards first_byte (as for HTTP).
      socket.once('connect', () => {
        phases.connect ??= elapsed();
      });
      return socket;
    };
    session = http2Connect(`${probe.tls ? 'https' : 'http'}://127.0.0.1:${probe.port}`, {
      createConnection: connection,
      settings: { enablePush: false, maxHeaderListSize: MAX_HEADER_LIST_BYTES },
      maxHeaderListPairs: 64,
      maxReservedRemoteStreams: 0,
      maxSessionMemory: 1,
    });
    let preface = false;
    session.once('remoteSettings', () => {
      preface = true;
    });
    const closed = () =>
      new ProbeFailure(
        'reset',
        preface
          ? 'connection closed before the response ended'
          : `connection closed before the server's HTTP/2 preface${probe.tls ? '' : ' (a TLS port probed in plaintext?)'}`,
      );
    session.on('error', fail);
    session.once('close', () => {
      fail(closed());
    });

    const stream: ClientHttp2Stream = session.request(
      {
        ':method': 'POST',
        ':path': HEALTH_CHECK_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'user-agent': options.userAgent,
        'grpc-timeout': grpcTimeout(probe.timeoutSeconds * 1000 - (now() - start)),
      },
      { endStream: false },
    );
    stream.end(frameMessage(encodeHealthCheckRequest(probe.service)));

    let headers: IncomingHttpHeaders | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    let informational = 0;
    stream.on('headers', () => {
      if (++informational > MAX_INFORMATIONAL)
        fail(
          new ProbeFailure('protocol', `more than ${MAX_INFORMATIONAL} informational responses`),
        );
    });
    stream.once('response', (h) => {
      phases.first_byte ??= elapsed();
      headers = h;
      statusCode = h[':status'] ?? 0;
      const type = h['content-type'] ?? '';
      if (statusCode !== 200)
        fail(new ProbeFailure('bad_status', `HTTP ${statusCode} instead of a gRPC response`));
      else if (!/^application\/grpc(?:$|[+;])/.test(type))
        fail(
          new ProbeFailure('protocol', `not a gRPC response (content-type ${type.slice(0, 100)})`),
        );
    });
    stream.on('data', (chunk: Buffer) => {
      const problem = reader.push(chunk);
      if (problem) fail(wireFailure(problem));
    });
    stream.once('trailers', (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    stream.once('end', () => {
      if (!headers) {
        fail(
          preface
            ? new ProbeFailure('protocol', 'stream ended without response headers')
            : closed(),
        );
        return;
      }
      const result = verdict(headers, trailers, reader.finish());
      if (result.success) finish({ success: true });
      else fail(new ProbeFailure(result.reason, result.message));
    });
    stream.on('error', fail);
    stream.once('close', () => {
      // A stream reset by the peer (RST_STREAM) closes without 'end' and sometimes without
      // 'error'; the session may still be open.
      fail(new ProbeFailure('reset', `stream closed (HTTP/2 code ${stream.rstCode})`));
    });
  });
}
