// The images a real node runs, by role: built from this checkout (test/images/) and
// imported under `localhost/` names, so nothing is ever pulled (pods use
// imagePullPolicy Never or IfNotPresent).
import type { ImageArchives } from '../images/build.ts';
import { PAUSE_IMAGE, type ImageArchive } from './real-node.ts';

export const NODE_IMAGES = {
  sidecarMonitor: 'localhost/sidecar-monitor:dev',
  sampleApp: 'localhost/sample-app:dev',
  pause: PAUSE_IMAGE,
} as const;

export function nodeImages(archives: ImageArchives): ImageArchive[] {
  return [
    { name: NODE_IMAGES.pause, archive: archives.pause },
    { name: NODE_IMAGES.sidecarMonitor, archive: archives.sidecarMonitor },
    { name: NODE_IMAGES.sampleApp, archive: archives.sampleApp },
  ];
}
