// A control plane of its own (etcd + kube-apiserver only, as a benchmark would start one)
// leaves nothing behind: no process, no directory, whether it is stopped gracefully or
// destroyed synchronously; and a component that dies is reported, not ignored.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, expect, test } from 'vitest';
import { resolveBinaries } from './binaries.ts';
import type { Exit } from './component.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { createRestClient } from './rest.ts';
import { waitFor } from './wait.ts';

const logger = pino({ level: 'silent' });
const roots: string[] = [];
const planes: ControlPlane[] = [];

afterEach(async () => {
  for (const plane of planes.splice(0)) await plane.stop();
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** Pids of processes whose command line mentions `dir`: the components of that cluster. */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (cmdline.includes(dir) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

function tempRoot(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'sidecar-monitor-lifecycle-'));
  roots.push(root);
  return root;
}

async function minimalPlane(onUnexpectedExit?: (component: string, exit: Exit) => void): Promise<{
  plane: ControlPlane;
  root: string;
}> {
  const root = tempRoot();
  const plane = await startControlPlane({
    binaries: await resolveBinaries({ env: process.env, onProgress: () => undefined }),
    logger,
    controllerManager: false,
    scheduler: false,
    kwok: false,
    tmpRoot: root,
    ...(onUnexpectedExit === undefined ? {} : { onUnexpectedExit }),
  });
  planes.push(plane);
  return { plane, root };
}

test('destroyNow() kills and removes synchronously, as an exit handler needs', async () => {
  const { plane, root } = await minimalPlane();
  plane.destroyNow();
  expect(readdirSync(root)).toEqual([]);
  await waitFor('the killed components to be gone', () => processesUsing(plane.dir).length === 0, {
    timeoutMs: 10_000,
  });
});

test('a component that dies is reported; stop() then leaves no process and no directory', async () => {
  const deaths: string[] = [];
  const { plane, root } = await minimalPlane((component) => deaths.push(component));
  expect(plane.components).toEqual(['etcd', 'kube-apiserver']);
  expect(plane.fakeNodes).toEqual([]);
  expect(plane.dir.startsWith(root)).toBe(true);
  const rest = createRestClient(plane.admin);
  try {
    const [apiServer, ...others] = processesUsing(plane.dir).filter((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kube-apiserver'),
    );
    expect(others).toEqual([]);
    process.kill(apiServer!, 'SIGKILL');
    await waitFor('the death to be reported', () => deaths.length > 0, { timeoutMs: 10_000 });
    expect(deaths).toEqual(['kube-apiserver']);

    await plane.startApiServer();
    const version = await rest.request<{ gitVersion: string }>('GET', '/version');
    expect(version.gitVersion).toBe(plane.kubeVersion);

    // A stop on purpose is not a death.
    await plane.stopApiServer();
    await plane.startApiServer();
    expect(deaths).toEqual(['kube-apiserver']);
  } finally {
    rest.close();
  }

  expect(processesUsing(plane.dir)).toHaveLength(2);
  await plane.stop();
  expect(processesUsing(plane.dir)).toEqual([]);
  expect(readdirSync(root)).toEqual([]);
});

test('a component that fails to start fails the start at once, with its log, leaving nothing', async () => {
  const binaries = await resolveBinaries({ env: process.env, onProgress: () => undefined });
  const fakes = tempRoot();
  // Answers --version like the real one, then dies the way a bad flag would.
  const apiServer = path.join(fakes, 'kube-apiserver');
  writeFileSync(
    apiServer,
    '#!/bin/sh\n[ "$1" = --version ] && { echo "Kubernetes v1.35.4"; exit 0; }\n' +
      'echo "Error: unknown flag: --no-such-flag" >&2\nexit 1\n',
  );
  chmodSync(apiServer, 0o755);
  const root = tempRoot();
  const started = performance.now();
  const failure = await startControlPlane({
    binaries: { ...binaries, paths: { ...binaries.paths, 'kube-apiserver': apiServer } },
    logger,
    controllerManager: false,
    scheduler: false,
    kwok: false,
    tmpRoot: root,
  }).catch((e: unknown) => e);
  expect(failure).toBeInstanceOf(Error);
  const message = (failure as Error).message;
  expect(message).toContain('kube-apiserver exited (code 1');
  expect(message).toContain('unknown flag: --no-such-flag');
  // Not after the 120 s readiness bound: the exit ends the wait. (A generous bound on a
  // shared machine, not a performance assertion.)
  expect(performance.now() - started).toBeLessThan(60_000);
  expect(readdirSync(root)).toEqual([]);
});
