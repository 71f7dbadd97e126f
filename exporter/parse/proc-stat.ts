import { ParseError, signed, unsigned, type Parsed } from './errors.ts';

/** The fields of /proc/<pid>/stat the exporter uses (see proc_pid_stat(5)). */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** Kernel thread flag (PF_KTHREAD) from field 9. */
  kernelThread: boolean;
  utimeTicks: number;
  stimeTicks: number;
  numThreads: number;
  /** Start time after boot, in clock ticks. */
  startTimeTicks: number;
  vsizeBytes: number;
  rssPages: number;
}

const FILE = 'proc/<pid>/stat';
const PF_KTHREAD = 0x00200000;

export function parseProcStat(text: string): Parsed<ProcStat> {
  // comm is in parentheses and may itself contain spaces and parentheses: it ends at the
  // last ')' of the file, and the fields after it are plain space-separated numbers.
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return new ParseError(FILE, 'no "(comm)" field');
  const pid = unsigned(text.slice(0, open));
  if (pid === undefined) return new ParseError(FILE, 'pid is not a number');
  const comm = text.slice(open + 2, close);
  const firstLine = text.slice(close + 2).split('\n', 1)[0] ?? '';
  const rest = firstLine.split(' ');
  // rest[0] is field 3 (state): field n is rest[n - 3].
  if (rest.length < 22)
    return new ParseError(FILE, `expected at least 24 fields, got ${rest.length + 2}`);
  const state = rest[0] ?? '';
  if (!/^[A-Za-z]$/.test(state)) return new ParseError(FILE, `bad state "${state.slice(0, 8)}"`);
  const field = (n: number, parse: (s: string) => number | undefined): number | undefined =>
    parse(rest[n - 3] ?? '');
  const ppid = field(4, signed);
  const flags = field(9, unsigned);
  const utime = field(14, unsigned);
  const stime = field(15, unsigned);
  const threads = field(20, signed);
  const start = field(22, unsigned);
  const vsize = field(23, unsigned);
  const rss = field(24, signed);
  if (
    ppid === undefined ||
    flags === undefined ||
    utime === undefined ||
    stime === undefined ||
    threads === undefined ||
    start === undefined ||
    vsize === undefined ||
    rss === undefined
  ) {
    return new ParseError(FILE, 'a numeric field is not a number');
  }
  return {
    pid,
    comm,
    state,
    ppid,
    // flags is an unsigned int; bitwise ops on numbers above 2^31 need the modulo.
    kernelThread: Math.floor(flags / PF_KTHREAD) % 2 === 1,
    utimeTicks: utime,
    stimeTicks: stime,
    numThreads: Math.max(0, threads),
    startTimeTicks: start,
    vsizeBytes: vsize,
    rssPages: Math.max(0, rss),
  };
}
