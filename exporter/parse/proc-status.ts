import { ParseError, unsigned, type Parsed } from './errors.ts';

/** The fields of /proc/<pid>/status the exporter uses; absent in the file → undefined. */
export interface ProcStatus {
  name?: string;
  /** Real, effective, saved, filesystem uid. */
  uids?: [number, number, number, number];
  gids?: [number, number, number, number];
  vmRssBytes?: number;
  vmSwapBytes?: number;
  threads?: number;
  voluntaryCtxtSwitches?: number;
  nonvoluntaryCtxtSwitches?: number;
}

const FILE = 'proc/<pid>/status';

function ids(value: string): [number, number, number, number] | undefined {
  const parts = value.split(/\s+/).map(unsigned);
  if (parts.length !== 4 || parts.some((p) => p === undefined)) return undefined;
  return parts as [number, number, number, number];
}

function kilobytes(value: string): number | undefined {
  const m = /^(\d+) kB$/.exec(value);
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * The value of `key:` at the start of a line, trimmed. Looking up the eight keys used is
 * cheaper than splitting all ~55 lines of every process on every scrape.
 */
function field(text: string, key: string): string | undefined {
  const tag = `${key}:`;
  let start: number;
  if (text.startsWith(tag)) start = tag.length;
  else {
    const at = text.indexOf(`\n${tag}`);
    if (at < 0) return undefined;
    start = at + 1 + tag.length;
  }
  const end = text.indexOf('\n', start);
  return text.slice(start, end < 0 ? undefined : end).trim();
}

export function parseProcStatus(text: string): Parsed<ProcStatus> {
  const out: ProcStatus = {};
  const name = field(text, 'Name');
  if (name === undefined) return new ParseError(FILE, 'no Name line');
  out.name = name;
  const parsers = [
    ['Uid', ids, (v: [number, number, number, number]) => (out.uids = v)],
    ['Gid', ids, (v: [number, number, number, number]) => (out.gids = v)],
    ['VmRSS', kilobytes, (v: number) => (out.vmRssBytes = v)],
    ['VmSwap', kilobytes, (v: number) => (out.vmSwapBytes = v)],
    ['Threads', unsigned, (v: number) => (out.threads = v)],
    ['voluntary_ctxt_switches', unsigned, (v: number) => (out.voluntaryCtxtSwitches = v)],
    ['nonvoluntary_ctxt_switches', unsigned, (v: number) => (out.nonvoluntaryCtxtSwitches = v)],
  ] as const;
  for (const [key, parse, set] of parsers) {
    const value = field(text, key);
    if (value === undefined) continue;
    const parsed = parse(value);
    if (parsed === undefined)
      return new ParseError(FILE, `bad value for ${key}: "${value.slice(0, 40)}"`);
    (set as (v: typeof parsed) => unknown)(parsed);
  }
  return out;
}
