// A process that exits while a scrape reads it goes through states that look like problems:
// its v1 cgroups read as the root one, and /proc/<pid>/{io,fd,environ} refuse access once its
// memory is released. Readers check this before reporting either, so churn (short-lived
// commands, recycled workers) is never a degraded container or a container of its own.

import { ParseError } from '../parse/errors.ts';
import { parseProcStat } from '../parse/proc-stat.ts';
import type { SyncReader } from './read.ts';

/** True when the process is gone, a zombie, or has released its memory (it is exiting). */
export function isExiting(reader: SyncReader, procRoot: string, pid: number): boolean {
  const read = reader.readText(`${procRoot}/${pid}/stat`);
  if (!read.ok) return read.reason === 'missing';
  const stat = parseProcStat(read.value);
  // Kernel threads have no memory either, but discovery never passes them.
  return (
    !(stat instanceof ParseError) &&
    (stat.state === 'Z' || stat.state === 'X' || stat.vsizeBytes === 0)
  );
}
