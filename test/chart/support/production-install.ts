// What the Dockerfile does, done in a temp directory on this machine (no image can be built
// here): copy the build context that .dockerignore lets through, `npm run build` it, then
// `npm ci --omit=dev` next to the compiled dist/ in a clean directory. The result is the
// image's /app, to be run as the image runs it.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const REPO = path.resolve(import.meta.dirname, '../../..');

export interface DockerContext {
  /** Top-level paths re-included by `!path` lines. */
  readonly include: readonly string[];
  /** `**\/<suffix>` exclusions, as name suffixes. */
  readonly excludeSuffixes: readonly string[];
}

/**
 * Reads .dockerignore in the one shape it has: ignore everything, re-include named paths,
 * then exclude some names anywhere. Anything else is an error, so a change to the file
 * fails here instead of silently building something else than the image does.
 */
export function readDockerignore(text: string): DockerContext {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines[0] !== '*') throw new Error('.dockerignore must start with "*" (allow-list)');
  const include: string[] = [];
  const excludeSuffixes: string[] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith('!')) include.push(line.slice(1).replace(/\/$/, ''));
    else if (line.startsWith('**/')) excludeSuffixes.push(line.slice(3).replace(/^\*/, ''));
    else throw new Error(`.dockerignore line not understood by this test: ${line}`);
  }
  return { include, excludeSuffixes };
}

function run(cmd: string, args: readonly string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      // npm and tsc from the project's Node 24, whatever `node` the machine has.
      env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      timeout: 300_000,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(
      `${cmd} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}${e.stderr ?? ''}`,
      { cause: err },
    );
  }
}

export interface ProductionInstall {
  readonly root: string;
  /** The image's /app: package.json, dist/, production node_modules. */
  readonly app: string;
  /** The CLI entry point, as the image's ENTRYPOINT runs it. */
  readonly entry: string;
  remove(): void;
}

export function productionInstall(): ProductionInstall {
  const root = mkdtempSync(path.join(tmpdir(), 'sidecar-monitor-image-'));
  const remove = (): void => {
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const context = readDockerignore(readFileSync(path.join(REPO, '.dockerignore'), 'utf8'));
    const src = path.join(root, 'src');
    const app = path.join(root, 'app');
    mkdirSync(src);
    mkdirSync(app);
    // Build stage: COPY the context, `npm run build` (dev dependencies are the repo's own).
    for (const entry of context.include) {
      cpSync(path.join(REPO, entry), path.join(src, entry), {
        recursive: true,
        filter: (from) => !context.excludeSuffixes.some((s) => from.endsWith(s)),
      });
    }
    symlinkSync(path.join(REPO, 'node_modules'), path.join(src, 'node_modules'));
    const scripts = (
      JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
        scripts?: Record<string, string>;
      }
    ).scripts;
    if (scripts?.build === undefined) {
      throw new Error(
        'package.json has no "build" script, and the Dockerfile runs `npm run build`',
      );
    }
    run('npm', ['run', 'build'], src);
    // deps stage and final stage: production dependencies only, dist/, package.json.
    cpSync(path.join(REPO, 'package.json'), path.join(app, 'package.json'));
    cpSync(path.join(REPO, 'package-lock.json'), path.join(app, 'package-lock.json'));
    run(
      'npm',
      ['ci', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'],
      app,
    );
    cpSync(path.join(src, 'dist'), path.join(app, 'dist'), { recursive: true });
    rmSync(path.join(app, 'package-lock.json'));
    // As in the image: owned by root, readable (not writable) by every uid.
    chmodTree(root);
    return { root, app, entry: path.join(app, 'dist', 'bin', 'sidecar-monitor.js'), remove };
  } catch (err) {
    remove();
    throw err;
  }
}

function chmodTree(dir: string): void {
  chmodSync(dir, 0o755);
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    // lstat: never follow a symlink out of the tree (src/node_modules is the repo's).
    const st = lstatSync(p);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) chmodTree(p);
    else chmodSync(p, st.mode & 0o111 ? 0o755 : 0o644);
  }
}
