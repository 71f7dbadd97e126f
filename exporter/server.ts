// The HTTP surface: /metrics, /healthz, /readyz. buildServer returns an app that is not
// listening yet, so tests drive it with inject() and the CLI decides where to listen.

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { CONTENT_TYPE } from './scrape/exposition.ts';

export interface ServerDeps {
  logger: FastifyBaseLogger;
  /** The full /metrics body. */
  render: () => Promise<string>;
  /** False while starting or shutting down. */
  ready: () => boolean;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    // A scrape every 15 s per Prometheus replica: request logs would be most of the log.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024,
    requestTimeout: 30_000,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
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
  return app;
}
