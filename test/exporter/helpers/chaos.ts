// Local servers that misbehave in every way a health endpoint can, for the probe tests.

import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

export interface ChaosServers {
  ports: Record<ChaosCase, number>;
  close(): Promise<void>;
}

export type ChaosCase =
  | 'ok'
  | 'silent'
  | 'hugeBody'
  | 'slowBytes'
  | 'redirectLoop'
  | 'redirectOut'
  | 'garbage'
  | 'refused'
  | 'reset'
  | 'badStatus'
  | 'tls'
  | 'endlessContinue';

const GIB = 1024 ** 3;

async function listen(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A committed self-signed certificate (see fixtures/tls/README.md). */
async function selfSignedCert(): Promise<{ key: string; cert: string }> {
  const dir = join(import.meta.dirname, '../fixtures/tls');
  return {
    key: await readFile(join(dir, 'key.pem'), 'utf8'),
    cert: await readFile(join(dir, 'cert.pem'), 'utf8'),
  };
}

export async function startChaosServers(): Promise<ChaosServers> {
  const servers: (Server | HttpServer)[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const track = <T extends Server | HttpServer>(server: T): T => {
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    });
    servers.push(server);
    return server;
  };

  const ok = track(createHttpServer((_req, res) => res.end('ok\n')));
  const silent = track(createNetServer(() => undefined));
  const hugeBody = track(
    createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(GIB) });
      const chunk = Buffer.alloc(64 * 1024, 120);
      let sent = 0;
      const pump = () => {
        while (sent < GIB && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        if (!res.destroyed) res.end();
      };
      pump();
    }),
  );
  const slowBytes = track(
    createNetServer((socket) => {
      const reply = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      let i = 0;
      const timer = setInterval(() => {
        if (socket.destroyed || i >= reply.length) {
          clearInterval(timer);
          timers.delete(timer);
          return;
        }
        socket.write(reply.subarray(i, ++i));
      }, 1000);
      timers.add(timer);
    }),
  );
  const redirectLoop = track(
    createHttpServer((req, res) => {
      res.writeHead(302, { location: req.url ?? '/' });
      res.end();
    }),
  );
  const redirectOut = track(
    createHttpServer((_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
      res.end();
    }),
  );
  const garbage = track(
    createNetServer((socket) => {
      socket.end(Buffer.from('\x00\xff garbage, not HTTP \x13\x37\r\n\r\n'));
    }),
  );
  const reset = track(
    createNetServer((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    }),
  );
  const badStatus = track(
    createHttpServer((_req, res) => {
      res.writeHead(503);
      res.end('unavailable\n');
    }),
  );
  // `100 Continue` as fast as the probe reads, forever: never a final response.
  const endlessContinue = track(
    createNetServer((socket) => {
      const burst = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'.repeat(1000));
      const pump = () => {
        while (!socket.destroyed && socket.write(burst));
        if (!socket.destroyed) socket.once('drain', pump);
      };
      socket.once('data', pump);
    }),
  );
  const tls = track(createHttpsServer(await selfSignedCert(), (_req, res) => res.end('ok\n')));
  const refusedServer = createNetServer();
  const refused = await listen(refusedServer);
  await new Promise((r) => refusedServer.close(r));

  const ports: Record<ChaosCase, number> = {
    ok: await listen(ok),
    silent: await listen(silent),
    hugeBody: await listen(hugeBody),
    slowBytes: await listen(slowBytes),
    redirectLoop: await listen(redirectLoop),
    redirectOut: await listen(redirectOut),
    garbage: await listen(garbage),
    refused,
    reset: await listen(reset),
    badStatus: await listen(badStatus),
    tls: await listen(tls),
    endlessContinue: await listen(endlessContinue),
  };
  return {
    ports,
    close: async () => {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
