// The release's version, from package.json: the default image tag of the operator, the
// chart and `inject` (the chart's appVersion is the same version; a chart test checks it).
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_IMAGE_REPOSITORY } from '../api/constants.ts';

export async function readVersion(): Promise<string> {
  // operator/cli/version.ts in development, dist/operator/cli/version.js in the image.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
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

/** The release's own image, as the chart defaults to it; undefined when the version is unknown. */
export function releaseImage(version: string): string | undefined {
  return version === 'unknown' ? undefined : `${DEFAULT_IMAGE_REPOSITORY}:${version}`;
}
