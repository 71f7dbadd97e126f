// The release's version, from package.json (build_info, the operator's default image tag).
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export async function readVersion(): Promise<string> {
  // exporter/version.ts in development, dist/exporter/version.js in the image (/app).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 3; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'sidecar-monitor' && pkg.version) return pkg.version;
    } catch {
      // not this directory
    }
  }
  return 'unknown';
}
