// The release's version, from package.json: the default image tag of the operator, the
// chart and `inject` (the chart's appVersion is the same version; a chart test checks it).
import { DEFAULT_IMAGE_REPOSITORY } from '../api/constants.ts';

// One reader for the exporter and the operator (the same package.json in the same image).
export { readVersion } from '../../exporter/version.ts';

/** The release's own image, as the chart defaults to it; undefined when the version is unknown. */
export function releaseImage(version: string): string | undefined {
  return version === 'unknown' ? undefined : `${DEFAULT_IMAGE_REPOSITORY}:${version}`;
}
