// Durations as the CRD writes them ("10s", "1m30s", "500ms"): the subset of Go's
// time.ParseDuration syntax that CEL's duration() also reads.

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
const WHOLE = /^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$/;
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;

/** Seconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!WHOLE.test(text)) return undefined;
  let seconds = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    seconds += Number(amount) * (UNIT_SECONDS[unit ?? ''] ?? Number.NaN);
  }
  // Round away float noise (0.1 + 0.2), keeping millisecond precision.
  return Number.isFinite(seconds) ? Math.round(seconds * 1e6) / 1e6 : undefined;
}
