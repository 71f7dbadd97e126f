// `sidecar-monitor exporter`. Kept tiny on purpose: it settles the Node flags (re-executing
// once when they are missing) before anything heavy is loaded, then runs the exporter.

import { reexecArgv } from './runtime-flags.ts';

export async function main(argv: string[]): Promise<number> {
  const again = reexecArgv(process.execPath, process.execArgv, process.argv, process.env);
  if (again !== undefined && typeof process.execve === 'function') {
    // Replaces this process (same pid): does not return.
    process.execve(process.execPath, again, process.env);
  }
  const { run } = await import('./run.ts');
  return run(argv);
}
