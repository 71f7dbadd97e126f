// The gRPC health check's bytes (request, response, framing, status) without a server: known
// vectors, what a finished call means, and fuzzing (any bytes in, a value or a typed failure
// out, never a throw). A real gRPC server is the peer in test/exporter/grpc-probe.test.ts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseExporterConfig, serializeExporterConfig } from '../../../exporter/config.ts';
import { grpcFailureReason, verdict } from '../../../exporter/probes/grpc-probe.ts';
import {
  decodeGrpcMessage,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  frameMessage,
  grpcTimeout,
  MessageReader,
  parseGrpcStatus,
} from '../../../exporter/probes/grpc-wire.ts';

const frame = (...bytes: number[]) => frameMessage(Buffer.from(bytes));

describe('request', () => {
  it('encodes the service name as field 1, and nothing for the empty name', () => {
    expect(encodeHealthCheckRequest('')).toEqual(Buffer.alloc(0));
    expect(encodeHealthCheckRequest('a.B')).toEqual(Buffer.from([0x0a, 3, 0x61, 0x2e, 0x42]));
    // A 200-byte name needs a two-byte length varint (200 = 0xc8 0x01).
    const long = encodeHealthCheckRequest('x'.repeat(200));
    expect([...long.subarray(0, 3)]).toEqual([0x0a, 0xc8, 0x01]);
    expect(long.length).toBe(203);
  });

  it('frames a message: flag 0, big-endian length', () => {
    expect(frame(1, 2, 3)).toEqual(Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]));
  });

  it('sends the deadline as grpc-timeout, within 8 digits', () => {
    expect(grpcTimeout(1000)).toBe('1000m');
    expect(grpcTimeout(0.2)).toBe('1m');
    expect(grpcTimeout(-5)).toBe('1m');
    expect(grpcTimeout(3_600_000)).toBe('3600000m');
    expect(grpcTimeout(1e12)).toBe('99999999S');
  });
});

describe('response', () => {
  it.each([
    [[0x08, 0x01], 'SERVING'],
    [[0x08, 0x02], 'NOT_SERVING'],
    [[0x08, 0x03], 'SERVICE_UNKNOWN'],
    [[], 'UNKNOWN'],
    // Unknown fields (a varint, a string, fixed64, fixed32) are skipped.
    [
      [
        0x10, 0x96, 0x01, 0x1a, 0x02, 0x61, 0x62, 0x21, 1, 2, 3, 4, 5, 6, 7, 8, 0x2d, 1, 2, 3, 4,
        0x08, 0x01,
      ],
      'SERVING',
    ],
    // The last value of a repeated scalar field wins.
    [[0x08, 0x02, 0x08, 0x01], 'SERVING'],
  ])('%j → %s', (bytes, status) => {
    expect(decodeHealthCheckResponse(Buffer.from(bytes))).toEqual({ ok: true, value: status });
  });

  it.each([
    [[0x08], /truncated varint/],
    [[0x08, 0x09], /not in the enum/],
    [[0x1a, 0x05, 0x61], /truncated field/],
    [[0x0b], /wire type 3/],
    [[0x00, 0x01], /field number 0/],
    [[0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], /truncated varint/],
  ])('%j is a protocol error', (bytes, message) => {
    const decoded = decodeHealthCheckResponse(Buffer.from(bytes));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) {
      expect(decoded.kind).toBe('protocol');
      expect(decoded.message).toMatch(message);
    }
  });

  it('reads one message across any split of its chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 8 }), { maxLength: 6 }), (cuts) => {
        const bytes = frame(0x08, 0x01);
        const reader = new MessageReader(100);
        let at = 0;
        for (const cut of [...cuts, bytes.length]) {
          const end = Math.min(bytes.length, at + cut);
          expect(reader.push(bytes.subarray(at, end))).toBeUndefined();
          at = end;
        }
        expect(reader.finish()).toEqual({ ok: true, value: Buffer.from([0x08, 0x01]) });
      }),
    );
  });

  it('refuses a message announced above the cap before its bytes arrive', () => {
    const reader = new MessageReader(64);
    const head = Buffer.from([0, 0x40, 0, 0, 0]);
    expect(reader.push(head)).toEqual({
      kind: 'too_large',
      message: 'response message of 1073741824 bytes (limit 64)',
    });
  });

  it('refuses more data than the cap even without a length prefix to go by', () => {
    const reader = new MessageReader(4);
    expect(reader.push(Buffer.from([0, 0, 0, 0]))).toBeUndefined();
    expect(reader.push(Buffer.alloc(6))?.kind).toBe('too_large');
  });

  it('refuses compression, a second message and a cut message', () => {
    expect(new MessageReader(64).push(Buffer.from([1, 0, 0, 0, 0]))?.message).toMatch(/compressed/);
    expect(new MessageReader(64).push(Buffer.from([7, 0, 0, 0, 0]))?.message).toMatch(/flag 7/);
    const two = new MessageReader(64);
    expect(two.push(Buffer.concat([frame(0x08, 0x01), frame(0x08, 0x01)]))?.message).toMatch(
      /more than one message/,
    );
    const cut = new MessageReader(64);
    cut.push(Buffer.from([0, 0, 0, 0, 2, 0x08]));
    expect(cut.finish()).toMatchObject({ ok: false, kind: 'protocol' });
    expect(new MessageReader(64).finish()).toEqual({ ok: true, value: undefined });
  });

  it('never throws on any bytes, in any chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 5 }), (chunks) => {
        const reader = new MessageReader(32);
        for (const c of chunks) if (reader.push(Buffer.from(c))) return;
        const message = reader.finish();
        if (message.ok && message.value) decodeHealthCheckResponse(message.value);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const decoded = decodeHealthCheckResponse(bytes);
        expect(typeof decoded.ok).toBe('boolean');
      }),
    );
  });
});

describe('status', () => {
  it('parses grpc-status and decodes grpc-message', () => {
    expect(parseGrpcStatus('0')).toBe(0);
    expect(parseGrpcStatus(['12'])).toBe(12);
    expect(parseGrpcStatus('x')).toBeUndefined();
    expect(parseGrpcStatus(undefined)).toBeUndefined();
    expect(decodeGrpcMessage('no%20such%20service')).toBe('no such service');
    expect(decodeGrpcMessage('%E0%A4%A')).toBe('%E0%A4%A');
    expect(decodeGrpcMessage('y'.repeat(500))).toHaveLength(201);
  });

  // Node gives :status as a number, which IncomingHttpHeaders does not say.
  const ok = { ':status': '200', 'content-type': 'application/grpc' };
  const message = (...bytes: number[]) => ({ ok: true as const, value: Buffer.from(bytes) });
  it.each([
    ['SERVING', ok, { 'grpc-status': '0' }, message(0x08, 1), undefined],
    ['NOT_SERVING', ok, { 'grpc-status': '0' }, message(0x08, 2), 'not_serving'],
    ['UNKNOWN', ok, { 'grpc-status': '0' }, message(), 'not_serving'],
    ['SERVICE_UNKNOWN', ok, { 'grpc-status': '0' }, message(0x08, 3), 'service_unknown'],
    ['NOT_FOUND', ok, { 'grpc-status': '5' }, message(), 'service_unknown'],
    [
      'UNIMPLEMENTED (trailers-only)',
      { ...ok, 'grpc-status': '12' },
      undefined,
      message(),
      'unimplemented',
    ],
    ['DEADLINE_EXCEEDED', ok, { 'grpc-status': '4' }, message(), 'timeout'],
    ['UNAVAILABLE', ok, { 'grpc-status': '14' }, message(), 'bad_status'],
    ['no grpc-status', ok, {}, message(0x08, 1), 'protocol'],
    [
      'OK without a message',
      ok,
      { 'grpc-status': '0' },
      { ok: true as const, value: undefined },
      'protocol',
    ],
  ] as const)('%s', (_name, headers, trailers, body, reason) => {
    const result = verdict(headers, trailers, body);
    expect(result.success).toBe(reason === undefined);
    if (!result.success) expect(result.reason).toBe(reason);
  });

  it('maps HTTP/2 errors into the bounded set of reasons', () => {
    const err = (code: string, cause?: unknown) =>
      Object.assign(new Error(code), { code }, cause === undefined ? {} : { cause });
    expect(grpcFailureReason(err('ERR_HTTP2_STREAM_ERROR'))).toBe('reset');
    expect(grpcFailureReason(err('ERR_HTTP2_ERROR'))).toBe('protocol');
    expect(grpcFailureReason(err('ERR_HTTP2_SESSION_ERROR'))).toBe('protocol');
    expect(grpcFailureReason(err('ERR_HTTP2_STREAM_CANCEL', err('ECONNREFUSED')))).toBe('refused');
    expect(
      grpcFailureReason(err('ERR_HTTP2_STREAM_CANCEL', err('ERR_SSL_WRONG_VERSION_NUMBER'))),
    ).toBe('tls');
  });
});

describe('config', () => {
  const base = {
    type: 'grpc',
    name: 'g',
    source: 'monitor',
    port: 9000,
    intervalSeconds: 5,
    timeoutSeconds: 1,
  };
  const parse = (probe: object) =>
    parseExporterConfig(JSON.stringify({ version: 1, targets: [], probes: [probe] }));

  it('defaults to the whole server, in plaintext, verifying TLS when asked for TLS', () => {
    expect(parse(base).probes[0]).toEqual({
      ...base,
      service: '',
      tls: false,
      insecureSkipVerify: false,
    });
    const full = { ...base, service: 'shop.Cart', tls: true, insecureSkipVerify: true };
    expect(parse(full).probes[0]).toEqual(full);
    const config = parse(full);
    expect(parseExporterConfig(serializeExporterConfig(config))).toEqual(config);
  });

  it.each([
    [{ path: '/x' }, /probes\[0\]\.path: unknown field/],
    [{ headers: [] }, /probes\[0\]\.headers: unknown field/],
    [{ tls: 'yes' }, /probes\[0\]\.tls: must be a boolean/],
    [{ service: 'has space' }, /probes\[0\]\.service: must be/],
    [{ service: 'x'.repeat(257) }, /probes\[0\]\.service: must be/],
  ])('rejects %j', (extra, message) => {
    expect(() => parse({ ...base, ...extra })).toThrow(message);
  });

  it('keeps gRPC fields off the other types', () => {
    expect(() => parse({ ...base, type: 'tcp', service: 'x' })).toThrow(/service: unknown field/);
    expect(() =>
      parse({ ...base, type: 'http', path: '/', scheme: 'HTTP', headers: [], tls: true }),
    ).toThrow(/tls: unknown field/);
  });
});
