// Where the binaries come from: KUBEBUILDER_ASSETS wins for what it holds, the cache
// fills the rest, and without Go and without binaries the failure says what to install
// (the tests never skip for lack of a cluster).
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { cacheBinDir, resolveBinaries } from './binaries.ts';

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sidecar-monitor-binaries-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const ignoreProgress = (): void => undefined;

describe('resolveBinaries', () => {
  test('takes etcd, kube-apiserver and kubectl from KUBEBUILDER_ASSETS, the rest from the cache', async () => {
    const cache = cacheBinDir(process.env);
    const assets = tempDir();
    for (const name of ['etcd', 'kube-apiserver', 'kubectl']) {
      symlinkSync(path.join(cache, name), path.join(assets, name));
    }
    const binaries = await resolveBinaries({
      env: { ...process.env, KUBEBUILDER_ASSETS: assets },
      onProgress: ignoreProgress,
    });
    expect(binaries.source).toBe('KUBEBUILDER_ASSETS');
    expect(binaries.paths).toMatchObject({
      etcd: path.join(assets, 'etcd'),
      'kube-apiserver': path.join(assets, 'kube-apiserver'),
      kubectl: path.join(assets, 'kubectl'),
      'kube-controller-manager': path.join(cache, 'kube-controller-manager'),
      kwok: path.join(cache, 'kwok'),
    });
  });

  test('rejects KUBEBUILDER_ASSETS without an API server instead of mixing sources', async () => {
    const assets = tempDir();
    symlinkSync(path.join(cacheBinDir(process.env), 'etcd'), path.join(assets, 'etcd'));
    await expect(
      resolveBinaries({
        env: { ...process.env, KUBEBUILDER_ASSETS: assets },
        onProgress: ignoreProgress,
      }),
    ).rejects.toThrow(`KUBEBUILDER_ASSETS=${assets} lacks kube-apiserver, kubectl`);
  });

  test('with neither binaries nor Go, fails saying what to install', async () => {
    const progress: string[] = [];
    const error = await resolveBinaries({
      env: { ...process.env, SIDECAR_MONITOR_CACHE: tempDir(), GO: '/nonexistent/go', CI: 'true' },
      onProgress: (line) => progress.push(line),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain('exit 3');
    expect(message).toContain('Go is not installed');
    expect(message).toContain('Install Go >= 1.25');
    expect(message).toContain('KUBEBUILDER_ASSETS');
    expect(progress.join('\n')).toContain('Go is not installed');
  });
});
