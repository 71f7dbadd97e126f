// The Node.js flags the exporter runs with. Every pod pays for the sidecar's memory, so the
// exporter trades some CPU per scrape for a small, flat RSS (measured; README, benchmarks):
//
//   --max-semi-space-size=2  Node 24 lets the young generation grow to 64 MB per semi-space;
//                            a scrape allocates a few MB, so it grew by ~100 MB in 1000 scrapes.
//   --optimize-for-size      smaller old-generation growth steps, earlier memory reduction.
//   --no-opt --no-maglev     no optimizing compilers: their code and compilation zones were
//                            most of the remaining growth; the exporter's JavaScript is not
//                            its hot path (syscalls are), Sparkplug still compiles hot code.
//
// They are V8 flags Node does not accept in NODE_OPTIONS, and the operator starts the image's
// entry point with arguments only, so the exporter applies them itself: it re-executes its own
// process once with them (execve: same pid, nothing left behind).

export const EXPORTER_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=2',
  '--optimize-for-size',
  '--no-opt',
  '--no-maglev',
];

/** Set to "off" to run with whatever flags Node was started with (benchmarks compare). */
export const NODE_FLAGS_ENV = 'SIDECAR_MONITOR_NODE_FLAGS';

/**
 * The argv to re-execute with so that `flags` apply, or undefined when they are already in
 * place (or turned off). Pure: the caller passes the process's facts. The operator uses it
 * too, with its own flags.
 */
export function reexecArgv(
  flags: readonly string[],
  execPath: string,
  execArgv: readonly string[],
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string[] | undefined {
  if (env[NODE_FLAGS_ENV] === 'off') return undefined;
  const missing = flags.filter((flag) => !execArgv.includes(flag));
  if (missing.length === 0) return undefined;
  return [execPath, ...missing, ...execArgv, ...argv.slice(1)];
}

/** Re-executes this process (same pid) with `flags` when they are missing; else returns. */
export function ensureNodeFlags(flags: readonly string[]): void {
  const again = reexecArgv(flags, process.execPath, process.execArgv, process.argv, process.env);
  if (again !== undefined && typeof process.execve === 'function') {
    process.execve(process.execPath, again, process.env);
  }
}
