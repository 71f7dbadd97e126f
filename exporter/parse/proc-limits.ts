import { ParseError, unsigned, type Parsed } from './errors.ts';

/** The open-files limit of a process; Infinity when unlimited. */
export interface ProcLimits {
  openFilesSoft: number;
  openFilesHard: number;
}

const FILE = 'proc/<pid>/limits';

function limit(text: string): number | undefined {
  return text === 'unlimited' ? Infinity : unsigned(text);
}

export function parseProcLimits(text: string): Parsed<ProcLimits> {
  const m = /^Max open files +(\S+) +(\S+)/m.exec(text);
  if (!m) return new ParseError(FILE, 'no "Max open files" line');
  const soft = limit(m[1] ?? '');
  const hard = limit(m[2] ?? '');
  if (soft === undefined || hard === undefined)
    return new ParseError(FILE, `bad open files limit "${m[0].slice(0, 60)}"`);
  return { openFilesSoft: soft, openFilesHard: hard };
}
