// One HTTP(S) probe attempt against the pod's loopback, kubelet-like: 200–399 is success,
// redirects are followed (to loopback only, at most MAX_REDIRECTS), and everything is bounded:
// one deadline for the whole attempt, a body size limit, no keep-alive, no retries.

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { HttpProbe } from '../config.ts';
import { loopbackRedirect } from './loopback.ts';
import { failureReason, type ProbeOutcome } from './outcome.ts';

export const MAX_REDIRECTS = 5;
export const MAX_BODY_BYTES = 64 * 1024;
/** Header bytes of one response (Node's parser stops there: `protocol`). */
export const MAX_HEADER_BYTES = 16 * 1024;
/**
 * Informational (1xx) responses before the final one, and their header bytes. Node's client
 * parses any number of them: a server answering `100 Continue` forever kept a probe busy at
 * most of a core until its deadline.
 */
export const MAX_INFORMATIONAL = 8;

export interface HttpAttemptOptions {
  probe: HttpProbe;
  /** Header values resolved from the config (literal or from the exporter's env). */
  headers: Record<string, string>;
  userAgent: string;
  now: () => number;
  signal?: AbortSignal;
  maxBodyBytes?: number;
}

class ProbeFailure extends Error {
  readonly reason: NonNullable<ProbeOutcome['reason']>;
  constructor(
    reason: NonNullable<ProbeOutcome['reason']>,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ProbeFailure';
    this.reason = reason;
  }
}

export function probeUrl(probe: HttpProbe): URL {
  return new URL(
    `${probe.scheme === 'HTTPS' ? 'https' : 'http'}://127.0.0.1:${probe.port}${probe.path}`,
  );
}

export async function httpAttempt(options: HttpAttemptOptions): Promise<ProbeOutcome> {
  const { probe, now } = options;
  const start = now();
  const phases: ProbeOutcome['phases'] = {};
  const elapsed = () => (now() - start) / 1000;
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new ProbeFailure('timeout', `no answer within ${probe.timeoutSeconds} s`));
  }, probe.timeoutSeconds * 1000);
  timer.unref();
  const onOuterAbort = () => {
    controller.abort(options.signal?.reason);
  };
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let statusCode = 0;
  try {
    let url = probeUrl(probe);
    for (let redirects = 0; ; redirects++) {
      const response = await send(url, options, controller.signal, () => {
        phases.connect ??= elapsed();
      });
      phases.first_byte ??= elapsed();
      statusCode = response.statusCode ?? 0;
      const location = response.headers.location;
      if (statusCode >= 300 && statusCode < 400 && location !== undefined) {
        response.destroy();
        const next = loopbackRedirect(url, location);
        if (!next)
          throw new ProbeFailure(
            'redirect_refused',
            `redirect to a non-loopback address: ${location.slice(0, 200)}`,
          );
        if (redirects >= MAX_REDIRECTS)
          throw new ProbeFailure('redirect_limit', `more than ${MAX_REDIRECTS} redirects`);
        url = next;
        continue;
      }
      await drain(response, options.maxBodyBytes ?? MAX_BODY_BYTES, controller.signal);
      phases.total = elapsed();
      if (statusCode >= 200 && statusCode < 400) return { success: true, statusCode, phases };
      return {
        success: false,
        statusCode,
        reason: 'bad_status',
        phases,
        error: new Error(`HTTP ${statusCode}`),
      };
    }
  } catch (err) {
    phases.total = elapsed();
    const cause: unknown = controller.signal.aborted ? controller.signal.reason : err;
    const reason = cause instanceof ProbeFailure ? cause.reason : failureReason(cause);
    const error = cause instanceof Error ? cause : new Error(String(cause));
    return { success: false, statusCode, reason, phases, error };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}

function send(
  url: URL,
  options: HttpAttemptOptions,
  signal: AbortSignal,
  onConnect: () => void,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const https = url.protocol === 'https:';
    const request = (https ? httpsRequest : httpRequest)(url, {
      method: 'GET',
      agent: false,
      signal,
      headers: {
        'user-agent': options.userAgent,
        accept: '*/*',
        connection: 'close',
        ...options.headers,
      },
      ...(https ? { rejectUnauthorized: !options.probe.insecureSkipVerify } : {}),
      // Response headers are bounded too (a header flood is a body by other means).
      maxHeaderSize: MAX_HEADER_BYTES,
    });
    let informational = 0;
    let informationalBytes = 0;
    request.on('information', (info: { statusMessage?: string; rawHeaders: string[] }) => {
      if (request.destroyed) return;
      informational++;
      informationalBytes += 16 + (info.statusMessage?.length ?? 0);
      for (const h of info.rawHeaders) informationalBytes += h.length + 2;
      if (informational > MAX_INFORMATIONAL || informationalBytes > MAX_HEADER_BYTES)
        request.destroy(
          new ProbeFailure(
            'protocol',
            `more than ${MAX_INFORMATIONAL} informational (1xx) responses or ${MAX_HEADER_BYTES} bytes of their headers`,
          ),
        );
    });
    // connect is the TCP handshake; a TLS handshake counts towards first_byte.
    request.once('socket', (socket: Socket) => {
      socket.once('connect', onConnect);
    });
    request.once('response', resolve);
    request.once('error', reject);
    request.end();
  });
}

function drain(response: IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let settled = false;
    // The first reason wins: destroying the response emits 'aborted' and 'error' at once.
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      reject(error instanceof Error ? error : new Error(String(error)));
      response.destroy();
    };
    if (signal.aborted) {
      fail(signal.reason);
      return;
    }
    signal.addEventListener(
      'abort',
      () => {
        fail(signal.reason);
      },
      { once: true },
    );
    response.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes)
        fail(new ProbeFailure('body_too_large', `body larger than ${maxBytes} bytes`));
    });
    response.once('end', () => {
      settled = true;
      resolve();
    });
    response.once('error', fail);
    response.once('aborted', () => {
      fail(new ProbeFailure('reset', 'connection closed mid-body'));
    });
  });
}
