// A tiny gRPC server with the standard health service (grpc.health.v1.Health/Check), built on
// node:http2 alone, so it runs from this one file in any Node 24 image (`node server.ts`:
// Node strips the types). Its health status can be switched while it runs, for end-to-end
// tests of gRPC probes (the kubelet's and the exporter's):
//
//   node examples/sample-grpc/server.ts [--port 50051] [--host 0.0.0.0]
//       [--status SERVING|NOT_SERVING]          the server's overall status ('' service)
//       [--service NAME=SERVING|NOT_SERVING]    a named service (repeatable)
//       [--flip-every SECONDS]                  toggle the overall status on a timer
//       [--tls-cert FILE --tls-key FILE]        TLS (h2 over ALPN) instead of plaintext h2c
//
//   SIGUSR1 → overall SERVING, SIGUSR2 → overall NOT_SERVING, SIGTERM/SIGINT → stop.
//   GET /status (plain HTTP/2, not gRPC) prints the statuses; GET /status?set=NOT_SERVING
//   (&service=NAME) changes one: curl --http2-prior-knowledge 'http://127.0.0.1:50051/status?set=NOT_SERVING'
//
// One JSON line per event on stdout: {"event":"listening",...}, {"event":"status",...}.
// Check answers NOT_FOUND for a service it does not know; any other method is UNIMPLEMENTED.

import { readFileSync } from 'node:fs';
import {
  createSecureServer,
  createServer,
  type Http2Server,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { parseArgs } from 'node:util';

const STATUSES = ['UNKNOWN', 'SERVING', 'NOT_SERVING'] as const;
type Status = (typeof STATUSES)[number];
const MAX_REQUEST_BYTES = 4096;

function log(event: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ event, ...fields }));
}

function parseStatus(text: string | undefined, what: string): Status {
  const status = STATUSES.find((s) => s === text);
  if (status === undefined) throw new Error(`${what}: must be SERVING or NOT_SERVING`);
  return status;
}

/** HealthCheckRequest: field 1 (string) is the service name; other fields are skipped. */
function serviceOf(message: Buffer): string | undefined {
  let offset = 0;
  let service = '';
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 1, i = 0; i < 5 && offset < message.length; i++, shift *= 128) {
      const byte = message[offset++] ?? 0;
      value += (byte & 0x7f) * shift;
      if ((byte & 0x80) === 0) return value;
    }
    return undefined;
  };
  while (offset < message.length) {
    const tag = varint();
    if (tag === undefined) return undefined;
    const wireType = tag % 8;
    if (wireType === 0) {
      if (varint() === undefined) return undefined;
    } else if (wireType === 2) {
      const length = varint();
      if (length === undefined || offset + length > message.length) return undefined;
      if (tag >>> 3 === 1) service = message.subarray(offset, offset + length).toString('utf8');
      offset += length;
    } else if (wireType === 1 || wireType === 5) {
      offset += wireType === 1 ? 8 : 4;
    } else {
      return undefined;
    }
  }
  return offset === message.length ? service : undefined;
}

/** HealthCheckResponse { status = 1 }, framed: flag 0, big-endian length, message. */
function healthResponse(status: Status): Buffer {
  const message = Buffer.from([0x08, STATUSES.indexOf(status)]);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

function trailersOnly(stream: ServerHttp2Stream, code: number, message: string): void {
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(code),
      'grpc-message': encodeURIComponent(message),
    },
    { endStream: true },
  );
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '50051' },
    host: { type: 'string', default: '0.0.0.0' },
    status: { type: 'string', default: 'SERVING' },
    service: { type: 'string', multiple: true, default: [] },
    'flip-every': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  },
});

const statuses = new Map<string, Status>([['', parseStatus(values.status, '--status')]]);
for (const spec of values.service) {
  const [name = '', status] = spec.split('=');
  statuses.set(name, parseStatus(status, `--service ${spec}`));
}

function setStatus(service: string, status: Status, why: string): void {
  statuses.set(service, status);
  log('status', { service, status, why });
}

function onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', () => undefined);
  const path = headers[':path'] ?? '';
  if (headers[':method'] === 'GET' && path.startsWith('/status')) {
    const url = new URL(path, 'http://sample');
    const set = url.searchParams.get('set');
    const service = url.searchParams.get('service') ?? '';
    if (set !== null) {
      const status = STATUSES.find((s) => s === set);
      if (status === undefined) {
        stream.respond({ ':status': 400 });
        stream.end('set must be SERVING or NOT_SERVING\n');
        return;
      }
      setStatus(service, status, 'request');
    }
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(`${JSON.stringify(Object.fromEntries(statuses))}\n`);
    return;
  }
  if (path !== '/grpc.health.v1.Health/Check') {
    trailersOnly(stream, 12, `method ${path.slice(0, 100)} is not implemented`);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) {
      trailersOnly(stream, 8, 'request too large');
      stream.close();
      return;
    }
    chunks.push(chunk);
  });
  stream.on('end', () => {
    if (stream.headersSent) return;
    const body = Buffer.concat(chunks);
    const length = body.length >= 5 ? body.readUInt32BE(1) : -1;
    const service =
      body[0] === 0 && length === body.length - 5 ? serviceOf(body.subarray(5)) : undefined;
    if (service === undefined) {
      trailersOnly(stream, 13, 'malformed HealthCheckRequest');
      return;
    }
    const status = statuses.get(service);
    if (status === undefined) {
      trailersOnly(stream, 5, `unknown service ${service.slice(0, 100)}`);
      return;
    }
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc' },
      { waitForTrailers: true },
    );
    stream.on('wantTrailers', () => {
      stream.sendTrailers({ 'grpc-status': '0' });
    });
    stream.end(healthResponse(status));
  });
}

const certFile = values['tls-cert'];
const keyFile = values['tls-key'];
if ((certFile === undefined) !== (keyFile === undefined))
  throw new Error('--tls-cert and --tls-key go together');
const server: Http2Server | Http2SecureServer =
  certFile !== undefined && keyFile !== undefined
    ? createSecureServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) })
    : createServer();
server.on('stream', onStream);
server.on('sessionError', () => undefined);

server.listen(Number(values.port), values.host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : Number(values.port);
  log('listening', {
    port,
    tls: certFile !== undefined,
    pid: process.pid,
    statuses: Object.fromEntries(statuses),
  });
});

const flip = Number(values['flip-every'] ?? 0);
const flipper =
  flip > 0
    ? setInterval(() => {
        setStatus('', statuses.get('') === 'SERVING' ? 'NOT_SERVING' : 'SERVING', 'timer');
      }, flip * 1000)
    : undefined;
process.on('SIGUSR1', () => {
  setStatus('', 'SERVING', 'SIGUSR1');
});
process.on('SIGUSR2', () => {
  setStatus('', 'NOT_SERVING', 'SIGUSR2');
});
const stop = () => {
  clearInterval(flipper);
  server.close();
  // Open HTTP/2 sessions would hold close(); a health server has nothing to drain.
  setTimeout(() => process.exit(0), 500).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
