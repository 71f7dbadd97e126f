import { ParseError, lines, signed, type Parsed } from './errors.ts';

/** /proc/<pid>/io: bytes the process caused to be fetched from or sent to storage. */
export interface ProcIo {
  readBytes: number;
  writeBytes: number;
}

const FILE = 'proc/<pid>/io';

export function parseProcIo(text: string): Parsed<ProcIo> {
  const values = new Map<string, number>();
  for (const line of lines(text)) {
    const m = /^([a-z_]+): (-?\d+)$/.exec(line);
    if (!m) return new ParseError(FILE, `bad line "${line.slice(0, 40)}"`);
    // cancelled_write_bytes can be negative (seen in the wild); only the two we use must not.
    values.set(m[1] ?? '', signed(m[2] ?? '') ?? 0);
  }
  const readBytes = values.get('read_bytes');
  const writeBytes = values.get('write_bytes');
  if (readBytes === undefined || writeBytes === undefined)
    return new ParseError(FILE, 'read_bytes or write_bytes missing');
  if (readBytes < 0 || writeBytes < 0) return new ParseError(FILE, 'negative byte count');
  return { readBytes, writeBytes };
}
