import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { FsResult } from '../../../exporter/procfs/read.ts';

/** ../shared/fixtures next to the repository (see its SOURCES.md). */
export const FIXTURES = resolve(import.meta.dirname, '../../../../shared/fixtures');
export const PROCFS = join(FIXTURES, 'procfs');

export function fixture(path: string): string {
  return readFileSync(join(PROCFS, path), 'utf8');
}

/** Every file under procfs/, relative to it. */
export function allProcfsFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(PROCFS, path));
    }
  };
  walk(PROCFS);
  return out.sort();
}

/** The files of a cgroup directory fixture as the reads map cgroupStats takes. */
export function cgroupDir(dir: string): Map<string, FsResult<string>> {
  const reads = new Map<string, FsResult<string>>();
  for (const name of readdirSync(join(PROCFS, dir))) {
    reads.set(name, { ok: true, value: fixture(join(dir, name)) });
  }
  return reads;
}

/** Several v1 controller directories merged into one reads map (file names are unique). */
export function cgroupDirs(...dirs: string[]): Map<string, FsResult<string>> {
  return new Map(dirs.flatMap((d) => [...cgroupDir(d)]));
}
