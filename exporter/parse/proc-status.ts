import { ParseError, lines, unsigned, type Parsed } from './errors.ts';

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

export function parseProcStatus(text: string): Parsed<ProcStatus> {
  const out: ProcStatus = {};
  let fields = 0;
  for (const line of lines(text)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return new ParseError(FILE, `line without "key:": "${line.slice(0, 40)}"`);
    fields++;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    let bad = false;
    switch (key) {
      case 'Name':
        out.name = value;
        break;
      case 'Uid':
        bad = (out.uids = ids(value)) === undefined;
        break;
      case 'Gid':
        bad = (out.gids = ids(value)) === undefined;
        break;
      case 'VmRSS':
        bad = (out.vmRssBytes = kilobytes(value)) === undefined;
        break;
      case 'VmSwap':
        bad = (out.vmSwapBytes = kilobytes(value)) === undefined;
        break;
      case 'Threads':
        bad = (out.threads = unsigned(value)) === undefined;
        break;
      case 'voluntary_ctxt_switches':
        bad = (out.voluntaryCtxtSwitches = unsigned(value)) === undefined;
        break;
      case 'nonvoluntary_ctxt_switches':
        bad = (out.nonvoluntaryCtxtSwitches = unsigned(value)) === undefined;
        break;
      default:
        break;
    }
    if (bad) return new ParseError(FILE, `bad value for ${key}: "${value.slice(0, 40)}"`);
  }
  if (fields === 0) return new ParseError(FILE, 'empty');
  return out;
}
