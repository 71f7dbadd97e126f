// Operators and other long-lived children a test file spawns must not outlive the vitest
// worker, even when it exits without running afterAll (a timeout, Ctrl-C). The 'exit'
// hook is installed by the first child tracked, not when a module is imported.
import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();
let hooked = false;

/** SIGKILLs every tracked child still running (for afterAll, and at exit). */
export function killTracked(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Kills `child` when this process exits; forgets it once it exits by itself. */
export function reapOnExit(child: ChildProcess): void {
  if (!hooked) {
    process.on('exit', killTracked);
    hooked = true;
  }
  running.add(child);
  child.once('exit', () => running.delete(child));
}
