// The few bytes of gRPC the health check needs, without a gRPC library: one request message
// (grpc.health.v1.HealthCheckRequest, a single string field), one response message
// (HealthCheckResponse, a single enum field), gRPC's 5-byte message framing and its status
// codes. Pure: bytes and header values in, values or typed failures out, never a throw.
//
// References: the gRPC over HTTP/2 protocol (PROTOCOL-HTTP2.md), the health checking protocol
// (grpc/health/v1/health.proto) and the protobuf wire format (varints, tags).

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

/** grpc.health.v1.HealthCheckResponse.ServingStatus. */
export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export type ServingStatus = (typeof SERVING_STATUS)[number];

/** The canonical gRPC status codes, by number (google.rpc.Code). */
export const GRPC_CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** A protobuf string field 1 (tag 0x0a), length-delimited; proto3 omits the empty string. */
export function encodeHealthCheckRequest(service: string): Buffer {
  const body = Buffer.from(service, 'utf8');
  if (body.length === 0) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from([0x0a]), encodeVarint(body.length), body]);
}

function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** gRPC's length-prefixed message: compressed flag 0, then the length as uint32 big-endian. */
export function frameMessage(message: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** grpc-timeout header value for a deadline in milliseconds (at most 8 digits, per spec). */
export function grpcTimeout(milliseconds: number): string {
  const ms = Math.max(1, Math.ceil(milliseconds));
  return ms <= 99_999_999 ? `${ms}m` : `${Math.min(99_999_999, Math.ceil(ms / 1000))}S`;
}

export type WireError =
  { kind: 'too_large'; message: string } | { kind: 'protocol'; message: string };

type Decoded<T> = { ok: true; value: T } | ({ ok: false } & WireError);

/** Reads a varint at offset; undefined when truncated or longer than 10 bytes. */
function readVarint(
  bytes: Uint8Array,
  offset: number,
): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = offset; i < bytes.length && i < offset + 10; i++) {
    const byte = bytes[i] ?? 0;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}

/**
 * HealthCheckResponse: field 1 (`status`, varint). Unknown fields are skipped as protobuf
 * requires; an absent status is UNKNOWN (proto3 default). A value outside the enum is a
 * protocol error here: we would not know what it means.
 */
export function decodeHealthCheckResponse(message: Uint8Array): Decoded<ServingStatus> {
  let status = 0;
  let offset = 0;
  while (offset < message.length) {
    const tag = readVarint(message, offset);
    if (!tag) return { ok: false, kind: 'protocol', message: 'truncated field tag' };
    const field = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    offset = tag.next;
    if (field === 0) return { ok: false, kind: 'protocol', message: 'field number 0' };
    if (wireType === 0) {
      const v = readVarint(message, offset);
      if (!v) return { ok: false, kind: 'protocol', message: 'truncated varint' };
      if (field === 1) status = v.value;
      offset = v.next;
    } else if (wireType === 1 || wireType === 5) {
      offset += wireType === 1 ? 8 : 4;
    } else if (wireType === 2) {
      const length = readVarint(message, offset);
      if (!length) return { ok: false, kind: 'protocol', message: 'truncated length' };
      offset = length.next + length.value;
    } else {
      return { ok: false, kind: 'protocol', message: `unsupported wire type ${wireType}` };
    }
    if (offset > message.length) return { ok: false, kind: 'protocol', message: 'truncated field' };
  }
  const name = SERVING_STATUS[status];
  if (name === undefined)
    return { ok: false, kind: 'protocol', message: `serving status ${status} is not in the enum` };
  return { ok: true, value: name };
}

/**
 * Collects the one response message of a unary call from DATA chunks, holding at most
 * maxBytes. The length prefix is checked as soon as it arrives, so a peer announcing a huge
 * message is refused before it sends it.
 */
export class MessageReader {
  private readonly maxBytes: number;
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private messageLength: number | undefined;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Adds a chunk; returns a failure as soon as the data cannot be a valid single message. */
  push(chunk: Buffer): WireError | undefined {
    this.received += chunk.length;
    if (this.received > 5 + this.maxBytes)
      return { kind: 'too_large', message: `response larger than ${this.maxBytes} bytes` };
    this.chunks.push(chunk);
    if (this.messageLength === undefined && this.received >= 5) {
      const head = Buffer.concat(this.chunks);
      this.chunks.splice(0, this.chunks.length, head);
      if (head[0] !== 0)
        return head[0] === 1
          ? { kind: 'protocol', message: 'compressed message, though none was offered' }
          : { kind: 'protocol', message: `invalid message flag ${head[0] ?? 0}` };
      this.messageLength = head.readUInt32BE(1);
      if (this.messageLength > this.maxBytes)
        return {
          kind: 'too_large',
          message: `response message of ${this.messageLength} bytes (limit ${this.maxBytes})`,
        };
    }
    if (this.messageLength !== undefined && this.received > 5 + this.messageLength)
      return { kind: 'protocol', message: 'more than one message in a unary response' };
    return undefined;
  }

  /** The message once the stream ended: undefined when none was sent. */
  finish(): Decoded<Buffer | undefined> {
    if (this.received === 0) return { ok: true, value: undefined };
    if (this.messageLength === undefined || this.received !== 5 + this.messageLength)
      return { ok: false, kind: 'protocol', message: 'response ended inside a message' };
    return { ok: true, value: Buffer.concat(this.chunks).subarray(5) };
  }
}

/** grpc-status as a number; undefined when absent or not a decimal number. */
export function parseGrpcStatus(value: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || !/^\d{1,3}$/.test(raw)) return undefined;
  return Number(raw);
}

/** grpc-message is percent-encoded UTF-8; cut to keep logs bounded, never throws. */
export function decodeGrpcMessage(value: string | string[] | undefined, max = 200): string {
  const raw = (Array.isArray(value) ? value[0] : value) ?? '';
  let text: string;
  try {
    text = decodeURIComponent(raw);
  } catch {
    text = raw;
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function grpcCodeName(code: number): string {
  return GRPC_CODES[code] ?? `code ${code}`;
}
