// The exporter as it ships: compiled to JavaScript by tsc (the image runs dist/, not the
// TypeScript sources, whose type stripping costs ~15 MB of RSS). Built into a fresh directory
// under node_modules/.cache (so packages resolve, and away from dist/, which `npm run build`
// owns), without type checking (`npm run typecheck` does that): others' work in progress
// cannot break a memory test.

import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './pod.ts';

export interface ExporterBuild {
  /** The compiled CLI entry point (bin/sidecar-monitor.js). */
  entry: string;
  dispose(): Promise<void>;
}

export async function buildExporter(): Promise<ExporterBuild> {
  const cache = join(REPO, 'node_modules/.cache/sidecar-monitor');
  await mkdir(cache, { recursive: true });
  const dir = await mkdtemp(join(cache, 'exporter-build-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    // mkdtemp makes it private; the pod's non-root containers must read it.
    await chmod(dir, 0o755);
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    const args = [tsc, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', dir, '--noCheck'];
    // tsc exits non-zero on errors it still emits for; the entry point existing is what counts.
    await promisify(execFile)(process.execPath, args, { cwd: REPO }).catch(() => undefined);
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
    };
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module' }),
    );
    const entry = join(dir, 'bin/sidecar-monitor.js');
    await readFile(entry);
    return { entry, dispose };
  } catch (err) {
    await dispose();
    throw new Error('cannot build the exporter', { cause: err });
  }
}
