// Waiting for a component to be ready, and noticing when it died trying; free loopback
// ports; plain HTTP(S) health checks.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import type { Logger } from 'pino';
import type { Component } from './component.ts';
import { KubeApiError, type RestClient } from './rest.ts';
import { waitFor, type Note } from './wait.ts';

/**
 * Polls `check` until it holds; rejects at once with ComponentExited (and the tail of
 * its log) if the component exits first, instead of polling a dead process until the
 * timeout.
 */
export async function waitReady(
  component: Component,
  what: string,
  timeoutMs: number,
  check: (note: Note) => Promise<boolean>,
  logger?: Logger,
): Promise<void> {
  const t0 = performance.now();
  const died = new AbortController();
  void component.exited.then((exit) => {
    died.abort(new ComponentExited(component, exit.code, exit.signal));
  });
  await waitFor(what, check, { timeoutMs, intervalMs: 50, signal: died.signal });
  logger?.debug(
    { component: component.name, what, ms: Math.round(performance.now() - t0) },
    'ready',
  );
}

export class ComponentExited extends Error {
  readonly log: string;
  constructor(component: Component, code: number | null, signal: NodeJS.Signals | null) {
    super(
      `${component.name} exited (code ${String(code)}, signal ${String(signal)}) before it was ready`,
    );
    this.name = 'ComponentExited';
    this.log = component.logTail(40);
  }
}

/**
 * Runs `start` on a free port, retrying on a new one when the component could not bind
 * it: between probing a port and the component binding it, another process may take it.
 */
export async function withFreePort<T>(
  name: string,
  logger: Logger,
  start: (port: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      const lostRace =
        error instanceof ComponentExited && /address already in use/i.test(error.log);
      if (!lostRace || attempt >= 3) throw error;
      logger.warn({ component: name, port }, 'port taken before it could bind; retrying');
    }
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not allocate a loopback port'));
      });
    });
  });
}

export function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      resolve(false);
    });
    req.end();
  });
}

export function httpsOk(
  url: string,
  tls: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean },
): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(url, { ...tls, timeout: 2_000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      resolve(false);
    });
    req.end();
  });
}

export async function exists(rest: RestClient, apiPath: string): Promise<boolean> {
  try {
    await rest.request('GET', apiPath);
    return true;
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return false;
    throw error;
  }
}
