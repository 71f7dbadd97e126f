// The Docker build context as .dockerignore defines it, and a key for it: the image archives
// are named by that key, so an unchanged checkout is never rebuilt and any change to what the
// Dockerfile can see is.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export interface DockerContext {
  /** Top-level paths re-included by `!path` lines. */
  readonly include: readonly string[];
  /** `**\/<suffix>` exclusions, as name suffixes. */
  readonly excludeSuffixes: readonly string[];
}

/**
 * Reads .dockerignore in the one shape it has: ignore everything, re-include named paths,
 * then exclude some names anywhere. Anything else is an error, so a change to the file
 * fails here instead of silently keying (or building) something else than the image sees.
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
    else throw new Error(`.dockerignore line not understood: ${line}`);
  }
  return { include, excludeSuffixes };
}

/** Every file of the context, relative to `root`, sorted. */
export function contextFiles(root: string, context: DockerContext): string[] {
  const files: string[] = [];
  const excluded = (rel: string) => context.excludeSuffixes.some((s) => rel.endsWith(s));
  const walk = (rel: string): void => {
    if (excluded(rel)) return;
    const st = lstatSync(path.join(root, rel), { throwIfNoEntry: false });
    if (st === undefined) return;
    if (st.isDirectory()) {
      for (const name of readdirSync(path.join(root, rel))) walk(path.join(rel, name));
    } else {
      files.push(rel);
    }
  };
  for (const entry of context.include) walk(entry);
  return files.sort();
}

/**
 * sha256 over the context's paths, executable bits and contents, plus `extra` (the
 * Dockerfile, the build script, tool versions), shortened to 16 hex digits.
 */
export function contextKey(root: string, context: DockerContext, extra: readonly string[]): string {
  const h = createHash('sha256');
  for (const rel of contextFiles(root, context)) {
    const full = path.join(root, rel);
    const st = lstatSync(full);
    const body = st.isSymbolicLink() ? `symlink:${readlinkSync(full)}` : readFileSync(full);
    h.update(`${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0`);
    h.update(createHash('sha256').update(body).digest('hex'));
    h.update('\n');
  }
  for (const e of extra) h.update(`\0${e}`);
  return h.digest('hex').slice(0, 16);
}
