// Parsers never throw: they return a value or a ParseError. A procfs or cgroupfs file can hold
// anything (a kernel we have not seen, a truncated read, a hostile container), and one odd
// file must cost one metric, not the scrape.

export class ParseError extends Error {
  /** Which kind of file was being parsed, e.g. "proc/stat" or "cpu.max". */
  readonly file: string;
  constructor(file: string, message: string, options?: ErrorOptions) {
    super(`${file}: ${message}`, options);
    this.name = 'ParseError';
    this.file = file;
  }
}

export type Parsed<T> = T | ParseError;

export function isParseError(value: unknown): value is ParseError {
  return value instanceof ParseError;
}

const UNSIGNED = /^\d+$/;
const SIGNED = /^-?\d+$/;

/**
 * A non-negative decimal integer. Values above 2^53 lose precision, as they would in any
 * Prometheus sample (float64), but never fail: cgroup v1 reports "unlimited" as 2^63-4096.
 */
export function unsigned(text: string): number | undefined {
  return UNSIGNED.test(text) ? Number(text) : undefined;
}

export function signed(text: string): number | undefined {
  return SIGNED.test(text) ? Number(text) : undefined;
}

/** The file's lines without the trailing newline; a file may lack the final newline. */
export function lines(text: string): string[] {
  const all = text.split('\n');
  if (all.length > 0 && all[all.length - 1] === '') all.pop();
  return all;
}
