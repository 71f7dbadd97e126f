// What one client can make the HTTP server hold. Node parses every request a TCP read carries
// (up to 64 KiB: ~2,700 pipelined `GET /metrics`) and answers them all before it stops reading,
// and it keeps every connection it accepts. So the exporter bounds both itself:
//
// - at most `maxInFlight` requests in flight per connection: a client pipelining deeper without
//   reading the answers is cut off (no scraper pipelines; Prometheus and the kubelet send one
//   request at a time per connection);
// - at most `maxConnections` connections. Refusing new ones (a listener limit, as Prometheus'
//   --web.max-connections does) would let whoever holds them lock out the next scrape or health
//   check, and on loopback every client shares one address. Instead a new connection over the
//   cap closes the one that has been quiet longest: idle ones first, then the one whose oldest
//   request has waited longest (a client that stopped reading). A scraper that reconnects is
//   always newer than what it displaces.

import type { Socket } from 'node:net';

export interface ConnectionLimits {
  maxConnections: number;
  maxInFlight: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { maxConnections: 16, maxInFlight: 8 };

interface Tracked {
  /** Monotonic ms of the last request start or end (or the connection, before any). */
  lastActive: number;
  inFlight: number;
}

/** The connection to close to make room: idle before busy, then the one quiet the longest. */
export function chooseVictim<K>(connections: Iterable<[K, Tracked]>, except: K): K | undefined {
  let victim: K | undefined;
  let best: Tracked | undefined;
  for (const [key, c] of connections) {
    if (key === except) continue;
    const better =
      best === undefined ||
      (c.inFlight === 0 && best.inFlight > 0) ||
      ((c.inFlight === 0) === (best.inFlight === 0) && c.lastActive < best.lastActive);
    if (better) {
      victim = key;
      best = c;
    }
  }
  return victim;
}

export class ConnectionGuard {
  private readonly limits: ConnectionLimits;
  private readonly now: () => number;
  private readonly sockets = new Map<Socket, Tracked>();
  private evicted = 0;
  private cutOff = 0;

  constructor(limits: ConnectionLimits, now: () => number) {
    this.limits = limits;
    this.now = now;
  }

  /** A new connection: tracked until it closes; makes room when over the cap. */
  readonly onConnection = (socket: Socket): void => {
    this.sockets.set(socket, { lastActive: this.now(), inFlight: 0 });
    socket.once('close', () => {
      this.sockets.delete(socket);
    });
    while (this.sockets.size > this.limits.maxConnections) {
      const victim = chooseVictim(this.sockets.entries(), socket);
      if (victim === undefined) break;
      this.sockets.delete(victim);
      this.evicted++;
      victim.destroy();
    }
  };

  /** A request starts: false (and the connection is closed) when it is one too many. */
  admit(socket: Socket): boolean {
    const c = this.sockets.get(socket);
    if (c === undefined || socket.destroyed) return false;
    if (c.inFlight >= this.limits.maxInFlight) {
      this.sockets.delete(socket);
      this.cutOff++;
      socket.destroy();
      return false;
    }
    c.inFlight++;
    c.lastActive = this.now();
    return true;
  }

  /** A request admitted on this connection ended (answered or aborted). */
  release(socket: Socket): void {
    const c = this.sockets.get(socket);
    if (c === undefined) return;
    c.inFlight--;
    c.lastActive = this.now();
  }

  /** Open connections, and how many were closed to keep the bounds (logged at shutdown). */
  stats(): { open: number; evicted: number; cutOff: number } {
    return { open: this.sockets.size, evicted: this.evicted, cutOff: this.cutOff };
  }

  /** Closes every connection at once (the end of a shutdown's grace period). */
  destroyAll(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
    this.sockets.clear();
  }
}
