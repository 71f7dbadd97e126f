import { ParseError, type Parsed } from './errors.ts';

/** Boot time in seconds since the epoch, from the `btime` line of /proc/stat. */
export function parseBootTime(text: string): Parsed<number> {
  const m = /^btime (\d+)$/m.exec(text);
  return m ? Number(m[1]) : new ParseError('proc/stat', 'no btime line');
}
