// Local gRPC peers for the gRPC probe tests: real gRPC servers from a maintained library
// (@grpc/grpc-js with grpc-health-check's health service), and HTTP/2 peers that misbehave in
// every way a health endpoint can (the probe-chaos servers, spoken in HTTP/2 and gRPC).

import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';

export type GrpcPeer =
  | 'health'
  | 'healthTls'
  | 'bare'
  | 'hang'
  | 'stalled'
  | 'noTrailers'
  | 'garbage'
  | 'http1'
  | 'notGrpc'
  | 'notFound'
  | 'reset'
  | 'refused'
  | 'endlessPings'
  | 'endlessData'
  | 'endlessInformational'
  | 'endlessContinuation'
  | 'hugeMessage'
  | 'hugeAnnounced'
  | 'hugeHeaders'
  | 'twoMessages';

export interface GrpcPeers {
  ports: Record<GrpcPeer, number>;
  /** The health service of the `health` and `healthTls` servers. */
  health: HealthImplementation;
  close(): Promise<void>;
}

const GIB = 1024 ** 3;
/** The client connection preface every HTTP/2 client sends first. */
const PREFACE_LENGTH = 24;

async function tlsFixture(): Promise<{ key: Buffer; cert: Buffer }> {
  const dir = join(import.meta.dirname, '../fixtures/tls');
  return {
    key: await readFile(join(dir, 'key.pem')),
    cert: await readFile(join(dir, 'cert.pem')),
  };
}

/** One raw HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload. */
export function h2Frame(
  type: number,
  flags: number,
  stream: number,
  payload: Uint8Array = Buffer.alloc(0),
): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}
const DATA = 0;
const HEADERS = 1;
const SETTINGS = 4;
const PING = 6;
const CONTINUATION = 9;
const END_HEADERS = 4;
/** HPACK: ":status: 200" is entry 8 of the static table. */
const STATUS_200 = Buffer.from([0x88]);

/** HPACK integer with an n-bit prefix (RFC 7541, 5.1). */
function hpackInteger(value: number, prefixBits: number, flags = 0): Buffer {
  const max = 2 ** prefixBits - 1;
  if (value < max) return Buffer.from([flags | value]);
  const bytes = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** HPACK literal header field without indexing, new name, plain strings. */
function hpackLiteral(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0]),
    hpackInteger(name.length, 7),
    Buffer.from(name),
    hpackInteger(value.length, 7),
    Buffer.from(value),
  ]);
}

/** A header block sent as HEADERS plus CONTINUATION frames of at most 16 KiB each. */
function headerFrames(stream: number, block: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < block.length || at === 0; at += 16384) {
    const last = at + 16384 >= block.length;
    frames.push(
      h2Frame(
        at === 0 ? HEADERS : CONTINUATION,
        last ? END_HEADERS : 0,
        stream,
        block.subarray(at, at + 16384),
      ),
    );
  }
  return frames;
}

const GRPC_RESPONSE_HEADERS = Buffer.concat([
  STATUS_200,
  hpackLiteral('content-type', 'application/grpc'),
]);

async function bindGrpc(server: grpc.Server, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', credentials, (error, port) => {
      if (error) reject(error);
      else resolve(port);
    });
  });
}

async function listen(server: Server | Http2Server | ReturnType<typeof createHttpServer>) {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export async function startGrpcPeers(): Promise<GrpcPeers> {
  const sockets = new Set<Socket>();
  const closers: (() => Promise<void>)[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const track = <T extends Server | Http2Server | ReturnType<typeof createHttpServer>>(
    server: T,
  ): T => {
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    });
    closers.push(
      () =>
        new Promise((r) => {
          server.close(() => {
            r();
          });
        }),
    );
    return server;
  };
  /** A raw HTTP/2 peer: it answers the preface with its SETTINGS, then runs `then`. */
  const raw = (then: (socket: Socket) => void) =>
    track(
      createNetServer((socket) => {
        let seen = 0;
        socket.on('data', (chunk: Buffer) => {
          const before = seen;
          seen += chunk.length;
          if (before < PREFACE_LENGTH && seen >= PREFACE_LENGTH) {
            socket.write(h2Frame(SETTINGS, 0, 0));
            socket.write(h2Frame(SETTINGS, 1, 0));
            then(socket);
          }
        });
      }),
    );
  /** Writes `frame()` for as long as the peer reads, as fast as it reads. */
  const endless = (socket: Socket, frame: () => Uint8Array) => {
    const pump = () => {
      while (!socket.destroyed) {
        if (!socket.write(frame())) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  };
  /** An HTTP/2 server (h2c) whose streams get `handler`. */
  const h2 = (handler: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void) => {
    const server = track(createHttp2Server());
    server.on('stream', handler);
    server.on('sessionError', () => undefined);
    return server;
  };
  const grpcHeaders = { ':status': 200, 'content-type': 'application/grpc' };

  const { key, cert } = await tlsFixture();
  const health = new HealthImplementation({
    '': 'SERVING',
    'shop.Cart': 'SERVING',
  });
  const healthServer = new grpc.Server();
  health.addToServer(healthServer);
  const tlsServer = new grpc.Server();
  health.addToServer(tlsServer);
  const bareServer = new grpc.Server();
  for (const s of [healthServer, tlsServer, bareServer]) {
    closers.push(
      () =>
        new Promise((resolve) => {
          s.tryShutdown(() => {
            resolve();
          });
          // Probes never linger, but a test that failed half-way may leave a call open.
          setTimeout(() => {
            s.forceShutdown();
          }, 500).unref();
        }),
    );
  }

  const hang = track(createNetServer(() => undefined));
  const stalled = h2(() => undefined);
  const noTrailers = h2((stream) => {
    stream.respond(grpcHeaders);
    stream.write(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
  });
  const garbage = track(
    createNetServer((socket) => {
      socket.end(Buffer.from('\x00\xff garbage, not HTTP/2 \x13\x37\r\n\r\n'));
    }),
  );
  const http1 = track(createHttpServer((_req, res) => res.end('ok\n')));
  const notGrpc = h2((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'text/html' });
    stream.end('<html>not gRPC</html>');
  });
  const notFound = h2((stream) => {
    stream.respond({ ':status': 404 });
    stream.end();
  });
  const reset = track(
    createNetServer((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    }),
  );
  const endlessPings = raw((socket) => {
    let n = 0;
    endless(socket, () => {
      const payload = Buffer.alloc(8);
      payload.writeUInt32BE(n++ % 2 ** 32, 4);
      return h2Frame(PING, 0, 0, payload);
    });
  });
  const endlessData = raw((socket) => {
    for (const frame of headerFrames(1, GRPC_RESPONSE_HEADERS)) socket.write(frame);
    // Empty DATA frames carry no bytes: only the deadline ends them.
    endless(socket, () => h2Frame(DATA, 0, 1));
  });
  const endlessInformational = h2((stream) => {
    const timer = setInterval(() => {
      if (stream.destroyed) {
        clearInterval(timer);
        timers.delete(timer);
        return;
      }
      stream.additionalHeaders({ ':status': 103, link: '</x>; rel=preload' });
    }, 10);
    timers.add(timer);
  });
  const endlessContinuation = raw((socket) => {
    socket.write(h2Frame(HEADERS, 0, 1, STATUS_200));
    endless(socket, () => h2Frame(CONTINUATION, 0, 1, Buffer.from([0x40, 0x01, 0x78, 0x01, 0x79])));
  });
  const hugeMessage = h2((stream) => {
    stream.respond(grpcHeaders);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(GIB - 1, 1);
    stream.write(head);
    const chunk = Buffer.alloc(64 * 1024, 0x08);
    let sent = 0;
    const pump = () => {
      while (sent < GIB && !stream.destroyed) {
        sent += chunk.length;
        if (!stream.write(chunk)) {
          stream.once('drain', pump);
          return;
        }
      }
    };
    pump();
    stream.on('error', () => undefined);
  });
  const hugeAnnounced = h2((stream) => {
    stream.respond(grpcHeaders);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(GIB, 1);
    stream.write(head);
    stream.on('error', () => undefined);
  });
  // Raw frames: a well-behaved HTTP/2 server would respect our SETTINGS_MAX_HEADER_LIST_SIZE.
  const hugeHeaders = raw((socket) => {
    const block = Buffer.concat([
      GRPC_RESPONSE_HEADERS,
      hpackLiteral('x-padding', 'x'.repeat(100 * 1024)),
    ]);
    for (const frame of headerFrames(1, block)) socket.write(frame);
  });
  const twoMessages = h2((stream) => {
    const serving = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
    stream.respond(grpcHeaders, { waitForTrailers: true });
    stream.on('wantTrailers', () => {
      stream.sendTrailers({ 'grpc-status': '0' });
    });
    stream.end(Buffer.concat([serving, serving]));
  });
  const refusedServer = createNetServer();
  const refused = await listen(refusedServer);
  await new Promise((r) => refusedServer.close(r));

  const ports: Record<GrpcPeer, number> = {
    health: await bindGrpc(healthServer, grpc.ServerCredentials.createInsecure()),
    healthTls: await bindGrpc(
      tlsServer,
      grpc.ServerCredentials.createSsl(null, [{ private_key: key, cert_chain: cert }], false),
    ),
    bare: await bindGrpc(bareServer, grpc.ServerCredentials.createInsecure()),
    hang: await listen(hang),
    stalled: await listen(stalled),
    noTrailers: await listen(noTrailers),
    garbage: await listen(garbage),
    http1: await listen(http1),
    notGrpc: await listen(notGrpc),
    notFound: await listen(notFound),
    reset: await listen(reset),
    refused,
    endlessPings: await listen(endlessPings),
    endlessData: await listen(endlessData),
    endlessInformational: await listen(endlessInformational),
    endlessContinuation: await listen(endlessContinuation),
    hugeMessage: await listen(hugeMessage),
    hugeAnnounced: await listen(hugeAnnounced),
    hugeHeaders: await listen(hugeHeaders),
    twoMessages: await listen(twoMessages),
  };
  return {
    ports,
    health,
    close: async () => {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await Promise.all(closers.map((c) => c()));
    },
  };
}
