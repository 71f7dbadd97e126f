// Test files run in vitest worker processes, but the control plane belongs to the
// process that ran the global setup (its children die with it). This loopback endpoint
// lets a test ask that process to stop and start the API server. A random bearer token
// keeps other local users' processes out.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';

export interface ApiServerControl {
  stopApiServer(): Promise<void>;
  startApiServer(): Promise<void>;
}

export interface ControlEndpoint {
  readonly url: string;
  readonly token: string;
  close(): Promise<void>;
}

export const CONTROL_ROUTES = {
  stop: '/apiserver/stop',
  start: '/apiserver/start',
} as const;

export async function startControlEndpoint(
  control: ApiServerControl,
  logger: Logger,
): Promise<ControlEndpoint> {
  const token = randomBytes(24).toString('hex');
  const expected = Buffer.from(`Bearer ${token}`);
  // One operation at a time: a start racing a stop would leave either state.
  let queue: Promise<unknown> = Promise.resolve();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(401).end();
      return;
    }
    const action =
      req.method !== 'POST'
        ? undefined
        : req.url === CONTROL_ROUTES.stop
          ? () => control.stopApiServer()
          : req.url === CONTROL_ROUTES.start
            ? () => control.startApiServer()
            : undefined;
    if (action === undefined) {
      res.writeHead(404).end();
      return;
    }
    const run = queue.then(action);
    queue = run.catch(() => undefined);
    try {
      await run;
      res.writeHead(204).end();
    } catch (error) {
      logger.error({ err: error, route: req.url }, 'control request failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    }
  };

  const server = createServer((req, res) => {
    req.resume();
    void handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  server.unref();
  const address = server.address();
  if (address === null || typeof address !== 'object') {
    throw new Error('the control endpoint has no address');
  }
  return {
    url: `http://127.0.0.1:${address.port}`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
