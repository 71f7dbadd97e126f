// Builds localhost/sidecar-monitor:dev and localhost/sample-app:dev from the project's
// Dockerfile, and localhost/pause:3.10 from Kubernetes' pause.c, as OCI image-layout archives
// for `ctr -n k8s.io images import <archive>` (no registry, no Docker engine; buildah as root,
// see build-images.sh). Archives are keyed by the build context: a warm call returns at once.
//
//   node test/images/build.ts     # prints {"sidecarMonitor": ..., "sampleApp": ..., "pause": ...}
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pino, { type Logger } from 'pino';
import { contextKey, readDockerignore } from './context.ts';

export const REPO = path.resolve(import.meta.dirname, '../..');
const SCRIPT = path.join(import.meta.dirname, 'build-images.sh');
const KUBE_VERSION = 'v1.35.4';

export interface ImageArchives {
  /** localhost/sidecar-monitor:dev */
  readonly sidecarMonitor: string;
  /** localhost/sample-app:dev */
  readonly sampleApp: string;
  /** localhost/pause:3.10 */
  readonly pause: string;
}

export interface BuildImagesOptions {
  readonly logger: Pick<Logger, 'info'>;
  /** Where the archives go (default ~/.cache/sidecar-monitor/images/archives). */
  readonly outDir?: string;
  readonly env?: NodeJS.ProcessEnv;
}

function cacheRoot(env: NodeJS.ProcessEnv): string {
  return (
    env.SIDECAR_MONITOR_IMAGE_CACHE ??
    path.join(env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'sidecar-monitor', 'images')
  );
}

/** Kubernetes' pause.c, from the k8s.io/kubernetes module build-binaries.sh downloads. */
export function pauseSource(env: NodeJS.ProcessEnv = process.env): string {
  const modcache = execFileSync(env.GO ?? 'go', ['env', 'GOMODCACHE'], {
    encoding: 'utf8',
    env,
  }).trim();
  const file = path.join(modcache, `k8s.io/kubernetes@${KUBE_VERSION}/build/pause/linux/pause.c`);
  if (!existsSync(file)) {
    throw new Error(
      `${file} is missing: run test/cluster/build-binaries.sh first (it downloads k8s.io/kubernetes ${KUBE_VERSION})`,
    );
  }
  return file;
}

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The npm the base image ships: the host's (npm's own package directory). */
function npmDir(env: NodeJS.ProcessEnv): string {
  const dir = env.SIDECAR_MONITOR_NPM_DIR ?? '/usr/lib/node_modules/npm';
  if (!existsSync(path.join(dir, 'bin', 'npm-cli.js'))) {
    throw new Error(`no npm package at ${dir} (set SIDECAR_MONITOR_NPM_DIR to npm's directory)`);
  }
  return dir;
}

export async function buildImages(options: BuildImagesOptions): Promise<ImageArchives> {
  const env = options.env ?? process.env;
  const outDir = options.outDir ?? path.join(cacheRoot(env), 'archives');
  const nodeBin = path.join(REPO, 'node_modules', 'node', 'bin', 'node');
  const npm = npmDir(env);
  const script = readFileSync(SCRIPT, 'utf8');
  const tools = [
    readFileSync(path.join(REPO, 'node_modules', 'node', 'package.json'), 'utf8'),
    readFileSync(path.join(npm, 'package.json'), 'utf8'),
  ];
  const key = contextKey(
    REPO,
    readDockerignore(readFileSync(path.join(REPO, '.dockerignore'), 'utf8')),
    [readFileSync(path.join(REPO, 'Dockerfile'), 'utf8'), script, ...tools],
  );
  const pauseC = pauseSource(env);
  const pauseKey = sha(`${readFileSync(pauseC, 'utf8')}\0${script}`);
  const archives: ImageArchives = {
    sidecarMonitor: path.join(outDir, `sidecar-monitor-${key}.tar`),
    sampleApp: path.join(outDir, `sample-app-${key}.tar`),
    pause: path.join(outDir, `pause-${pauseKey}.tar`),
  };
  const files = [archives.sidecarMonitor, archives.sampleApp, archives.pause];
  if (files.every((f) => existsSync(f))) return archives;

  options.logger.info({ key, outDir }, 'building the container images');
  const child = spawn('bash', [SCRIPT], {
    env: {
      ...env,
      REPO,
      CONTEXT_KEY: key,
      OUT_DIR: outDir,
      NODE_BIN: nodeBin,
      NPM_DIR: npm,
      PAUSE_C: pauseC,
      PAUSE_KEY: pauseKey,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    lines.push(line);
    if (lines.length > 200) lines.shift();
    options.logger.info(line);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) {
    throw new Error(`${SCRIPT} failed (exit ${String(code)}):\n${lines.slice(-40).join('\n')}`);
  }
  for (const f of files) {
    if (!existsSync(f)) throw new Error(`${SCRIPT} succeeded but ${f} is missing`);
  }
  return archives;
}

if (import.meta.main) {
  const logger = pino({ name: 'images' }, pino.destination(2));
  try {
    const started = performance.now();
    const archives = await buildImages({ logger });
    logger.info({ seconds: Math.round((performance.now() - started) / 100) / 10 }, 'images ready');
    console.log(JSON.stringify(archives, null, 2));
  } catch (err) {
    logger.error(err);
    process.exitCode = 1;
  }
}
