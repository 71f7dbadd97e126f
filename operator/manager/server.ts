// The operator's HTTP endpoints: /metrics, /healthz (the process serves requests),
// /readyz (startup checks passed and, when leading, caches synced).
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface Check {
  ok: boolean;
  message: string;
}

export interface ServerDeps {
  registry: Registry;
  ready: () => Check;
}

/** Returns the app, not yet listening (tests use inject()). */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => {
    const body = await deps.registry.metrics();
    return reply.type(deps.registry.contentType).send(body);
  });
  app.get('/healthz', (_req, reply) => reply.type('text/plain').send('ok\n'));
  app.get('/readyz', (_req, reply) => {
    const check = deps.ready();
    return reply
      .code(check.ok ? 200 : 503)
      .type('text/plain')
      .send(`${check.message}\n`);
  });
  return app;
}
