/**
 * The value of one variable in /proc/<pid>/environ (NUL-separated KEY=value pairs), or
 * undefined. The last assignment wins, as getenv(3) sees after putenv on some libcs; a
 * process can rewrite this area, so callers validate the value.
 */
export function environValue(text: string, key: string): string | undefined {
  const prefix = `${key}=`;
  let found: string | undefined;
  for (const entry of text.split('\0')) {
    if (entry.startsWith(prefix)) found = entry.slice(prefix.length);
  }
  return found;
}
