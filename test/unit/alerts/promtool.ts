// Runs a real promtool on rule files and rule unit tests: Debian's (Prometheus 2.42) from
// PATH by default, or another build (Prometheus 3's, in the e2e project).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';

export interface PromtoolResult {
  readonly status: number | null;
  readonly output: string;
}

export function promtool(
  args: readonly string[],
  cwd?: string,
  binary = 'promtool',
): PromtoolResult {
  const r = spawnSync(binary, args, { encoding: 'utf8', cwd, timeout: 60_000 });
  if (r.error) throw new Error(`cannot run ${binary} ${args.join(' ')}`, { cause: r.error });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Writes a promtool unit-test file for `rulesFile` into a temp dir, runs it, removes the dir. */
export function testRules(
  rulesFile: string,
  testFile: unknown,
  binary = 'promtool',
): PromtoolResult {
  const dir = mkdtempSync(path.join(tmpdir(), 'promtool-'));
  try {
    const file = path.join(dir, 'test.yaml');
    writeFileSync(file, stringify({ rule_files: [rulesFile], ...(testFile as object) }));
    return promtool(['test', 'rules', file], dir, binary);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
