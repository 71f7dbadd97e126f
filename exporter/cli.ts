// `sidecar-monitor exporter`. Kept tiny on purpose: it settles the Node flags (re-executing
// once when they are missing) before anything heavy is loaded, then runs the exporter.

import { ensureNodeFlags, EXPORTER_NODE_FLAGS } from './runtime-flags.ts';

export async function main(argv: string[]): Promise<number> {
  ensureNodeFlags(EXPORTER_NODE_FLAGS);
  const { run } = await import('./run.ts');
  return run(argv);
}
