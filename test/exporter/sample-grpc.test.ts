// The sample gRPC server (examples/sample-grpc/server.ts) as a process: a maintained gRPC
// client (@grpc/grpc-js with grpc-health-check's service definition) and the exporter's own
// gRPC probe both see its health status, and see it change (signal, request, timer).

import { spawn, type ChildProcess } from 'node:child_process';
import { connect as http2Connect } from 'node:http2';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { GrpcProbe } from '../../exporter/config.ts';
import { grpcAttempt } from '../../exporter/probes/grpc-probe.ts';
import { REPO } from './helpers/pod.ts';

const SERVER = join(REPO, 'examples/sample-grpc/server.ts');
const TLS = join(REPO, 'test/exporter/fixtures/tls');
const now = () => performance.now();
const running: ChildProcess[] = [];

afterEach(() => {
  for (const child of running.splice(0)) child.kill('SIGKILL');
});

interface Sample {
  child: ChildProcess;
  port: number;
  output: () => string;
  /** Resolves when stdout has a line matching `pattern` that was not there before. */
  next: (pattern: RegExp) => Promise<void>;
}

async function start(...args: string[]): Promise<Sample> {
  const child = spawn(process.execPath, [SERVER, '--port', '0', '--host', '127.0.0.1', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (text += c.toString()));
  const next = (pattern: RegExp) => {
    const seen = text.split('\n').filter((l) => pattern.test(l)).length;
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (text.split('\n').filter((l) => pattern.test(l)).length > seen) resolve();
        else if (child.exitCode !== null) reject(new Error(`sample exited:\n${text}`));
        else setTimeout(check, 20);
      };
      check();
    });
  };
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (/"event":"listening"/.test(text)) resolve();
      else if (child.exitCode !== null) reject(new Error(`sample exited:\n${text}`));
      else setTimeout(check, 20);
    };
    check();
  });
  const port = Number(/"port":(\d+)/.exec(text)?.[1]);
  return { child, port, output: () => text, next };
}

function probe(port: number, extra: Partial<GrpcProbe> = {}): GrpcProbe {
  return {
    type: 'grpc',
    name: 'sample',
    source: 'monitor',
    port,
    service: '',
    tls: false,
    insecureSkipVerify: false,
    intervalSeconds: 5,
    timeoutSeconds: 2,
    ...extra,
  };
}

const check = (p: GrpcProbe) => grpcAttempt({ probe: p, userAgent: 'test', now });

/** A Check with grpc-js, the way a real gRPC client (or grpc_health_probe) makes it. */
function grpcJsCheck(port: number, service: string): Promise<{ code: number; status?: string }> {
  const Client = grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (arg: { service: string }) => healthService.Check!.requestSerialize(arg),
      (buf: Buffer) => healthService.Check!.responseDeserialize(buf) as { status: string },
      { service },
      { deadline: Date.now() + 5000 },
      (err: grpc.ServiceError | null, res?: { status: string }) => {
        client.close();
        resolve(err ? { code: err.code } : { code: 0, ...(res ? { status: res.status } : {}) });
      },
    );
  });
}

describe('the sample gRPC server', () => {
  it('answers a real gRPC client: statuses, an unknown service, and no Watch', async () => {
    const sample = await start('--service', 'shop.Cart=NOT_SERVING');
    expect(await grpcJsCheck(sample.port, '')).toEqual({ code: 0, status: 'SERVING' });
    expect(await grpcJsCheck(sample.port, 'shop.Cart')).toEqual({
      code: 0,
      status: 'NOT_SERVING',
    });
    expect((await grpcJsCheck(sample.port, 'shop.Nowhere')).code).toBe(grpc.status.NOT_FOUND);
  });

  it('switches with signals and requests, and the exporter probe follows', async () => {
    const sample = await start();
    expect((await check(probe(sample.port))).success).toBe(true);
    let changed = sample.next(/"why":"SIGUSR2"/);
    sample.child.kill('SIGUSR2');
    await changed;
    expect(await check(probe(sample.port))).toMatchObject({
      success: false,
      reason: 'not_serving',
    });
    changed = sample.next(/"why":"SIGUSR1"/);
    sample.child.kill('SIGUSR1');
    await changed;
    expect((await check(probe(sample.port))).success).toBe(true);

    // GET /status?set=... over plain HTTP/2, as curl --http2-prior-knowledge sends it.
    const session = http2Connect(`http://127.0.0.1:${sample.port}`);
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/status?set=NOT_SERVING&service=shop.Cart' });
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        resolve(text);
      });
      req.on('error', reject);
      req.end();
    });
    session.close();
    expect(JSON.parse(body)).toEqual({ '': 'SERVING', 'shop.Cart': 'NOT_SERVING' });
    expect(await check(probe(sample.port, { service: 'shop.Cart' }))).toMatchObject({
      success: false,
      reason: 'not_serving',
    });
    expect(await check(probe(sample.port, { service: 'shop.Nowhere' }))).toMatchObject({
      reason: 'service_unknown',
    });
  });

  it('flips on a timer, serves TLS, and stops on SIGTERM', async () => {
    const sample = await start(
      '--flip-every',
      '1',
      '--tls-cert',
      join(TLS, 'cert.pem'),
      '--tls-key',
      join(TLS, 'key.pem'),
    );
    await sample.next(/"status":"NOT_SERVING","why":"timer"/);
    const tls = probe(sample.port, { tls: true, insecureSkipVerify: true });
    const outcome = await check(tls);
    // The timer may flip again between the log line and the check: either answer is honest.
    expect(outcome.success || outcome.reason === 'not_serving', outcome.error?.message).toBe(true);
    expect((await check(probe(sample.port))).reason).toBe('reset');
    const exited = new Promise((r) => sample.child.once('exit', r));
    sample.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
