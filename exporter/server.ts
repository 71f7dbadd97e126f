// The HTTP surface: /metrics, /healthz, /readyz. buildServer returns an app that is not
// listening yet, so tests drive it with inject() and the CLI decides where to listen.
//
// The port is open to the whole pod network, so nothing a client sends may grow the exporter
// without bound: every scrape of one snapshot is answered with one shared rendered body, each
// connection has a few requests in flight at most and the connections a cap (both in
// http/connections.ts), and the timeouts below close connections that stall.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  ConnectionGuard,
  DEFAULT_CONNECTION_LIMITS,
  type ConnectionLimits,
} from './http/connections.ts';
import { CONTENT_TYPE } from './scrape/exposition.ts';

export interface HttpTimeouts {
  /** From a connection's (or keep-alive request's) start to the end of its headers. */
  headersMs: number;
  /** To receive a whole request. */
  requestMs: number;
  /** A keep-alive connection between requests (longer than common scrape intervals). */
  idleMs: number;
  /** Nothing read or written while a request is open (a client that stopped reading). */
  stallMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  headersMs: 10_000,
  requestMs: 15_000,
  idleMs: 65_000,
  stallMs: 30_000,
};

/** Request headers a scraper needs are a few hundred bytes (Node's default: 16 KiB). */
const MAX_HEADER_BYTES = 8 * 1024;

export interface ServerDeps {
  logger: FastifyBaseLogger;
  /** The full /metrics body; concurrent callers share one rendering. */
  render: () => Promise<Buffer>;
  /** False while starting or shutting down. */
  ready: () => boolean;
  /** Monotonic milliseconds. */
  now: () => number;
  limits?: ConnectionLimits;
  timeouts?: HttpTimeouts;
}

export interface ExporterServer {
  app: FastifyInstance;
  connections: ConnectionGuard;
}

/** fastify logs each request refused while closing: thousands of lines under a flood. */
class ShutdownQuietLogController extends LogController {
  override serviceUnavailable(): void {
    // The shutdown itself is logged once by the CLI.
  }
}

export function buildServer(deps: ServerDeps): ExporterServer {
  const timeouts = deps.timeouts ?? DEFAULT_HTTP_TIMEOUTS;
  const connections = new ConnectionGuard(deps.limits ?? DEFAULT_CONNECTION_LIMITS, deps.now);
  const app = Fastify({
    loggerInstance: deps.logger,
    // A scrape every 15 s per Prometheus replica: request logs would be most of the log.
    logController: new ShutdownQuietLogController({ disableRequestLogging: true }),
    bodyLimit: 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    serverFactory: (handler) => {
      const server = createServer(
        {
          headersTimeout: timeouts.headersMs,
          requestTimeout: timeouts.requestMs,
          keepAliveTimeout: timeouts.idleMs,
          // Node checks the two timeouts above on this period (default 30 s).
          connectionsCheckingInterval: 1000,
          maxHeaderSize: MAX_HEADER_BYTES,
          // Requests without a body skip the stream events Node would emit for one: half the
          // cost of each request a flood makes it parse (measured: 55 → 29 ms per 64 KiB read).
          optimizeEmptyRequests: true,
        },
        (req: IncomingMessage, res: ServerResponse) => {
          const socket = req.socket;
          // Requests beyond a connection's bound never reach the router.
          if (!connections.admit(socket)) return;
          res.once('close', () => {
            connections.release(socket);
          });
          handler(req, res);
        },
      );
      server.setTimeout(timeouts.stallMs);
      server.on('connection', connections.onConnection);
      return server;
    },
  });
  app.get('/metrics', async (_request, reply) => {
    const body = await deps.render();
    return reply
      .header('content-type', CONTENT_TYPE)
      .header('cache-control', 'no-store')
      .send(body);
  });
  app.get('/healthz', async (_request, reply) => reply.type('text/plain').send('ok\n'));
  app.get('/readyz', async (_request, reply) =>
    deps.ready()
      ? reply.type('text/plain').send('ready\n')
      : reply.code(503).type('text/plain').send('not ready\n'),
  );
  app.get('/', async (_request, reply) =>
    reply.type('text/plain').send('sidecar-monitor exporter: /metrics /healthz /readyz\n'),
  );
  return { app, connections };
}
