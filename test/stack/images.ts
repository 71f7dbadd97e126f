// Images of the monitoring stack for a real node: each static binary alone in an image
// (as upstream ships them, minus the busybox some of theirs carry), named localhost/... so
// nothing is ever pulled. Archives are cached by the binaries' content.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { writeStaticImage, type StaticImage } from '../images/static-image.ts';
import type { ImageArchive } from '../node/real-node.ts';
import { PROMETHEUS_OPERATOR_VERSION, PROMETHEUS_VERSION, type StackBinaries } from './binaries.ts';

export const STACK_IMAGES = {
  /** What the operator's --prometheus-default-base-image names, tagged with spec.version. */
  prometheusBase: 'localhost/prometheus',
  prometheus: `localhost/prometheus:v${PROMETHEUS_VERSION}`,
  operator: `localhost/prometheus-operator:${PROMETHEUS_OPERATOR_VERSION}`,
  configReloader: `localhost/prometheus-config-reloader:${PROMETHEUS_OPERATOR_VERSION}`,
} as const;

/** nobody, as the upstream images run. */
const USER = '65534:65534';

export function stackImageSpecs(binaries: StackBinaries): StaticImage[] {
  return [
    {
      name: STACK_IMAGES.prometheus,
      files: [
        { source: binaries.prometheus, target: '/bin/prometheus' },
        { source: binaries.promtool, target: '/bin/promtool' },
      ],
      entrypoint: ['/bin/prometheus'],
      user: USER,
      exposedPorts: [9090],
    },
    {
      name: STACK_IMAGES.operator,
      files: [{ source: binaries.operator, target: '/bin/operator' }],
      entrypoint: ['/bin/operator'],
      user: USER,
      exposedPorts: [8080],
    },
    {
      name: STACK_IMAGES.configReloader,
      files: [{ source: binaries.configReloader, target: '/bin/prometheus-config-reloader' }],
      entrypoint: ['/bin/prometheus-config-reloader'],
      user: USER,
    },
  ];
}

function archiveDir(env: NodeJS.ProcessEnv): string {
  return path.join(
    env.SIDECAR_MONITOR_IMAGE_CACHE ??
      path.join(env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'sidecar-monitor', 'images'),
    'archives',
  );
}

function keyOf(spec: StaticImage): string {
  const hash = createHash('sha256').update(JSON.stringify({ ...spec, files: undefined }));
  for (const file of spec.files) hash.update(file.target).update(readFileSync(file.source));
  return hash.digest('hex').slice(0, 16);
}

/** Writes (or finds) the stack's image archives; returns them for importImages. */
export function buildStackImages(
  binaries: StackBinaries,
  env: NodeJS.ProcessEnv = process.env,
): ImageArchive[] {
  const dir = archiveDir(env);
  mkdirSync(dir, { recursive: true });
  return stackImageSpecs(binaries).map((spec) => {
    const base = spec.name.replace(/^localhost\//, '').replace(/[:/]/g, '-');
    const archive = path.join(dir, `${base}-${keyOf(spec)}.tar`);
    if (!existsSync(archive)) {
      writeStaticImage(spec, archive);
      for (const old of readdirSync(dir)) {
        if (old.startsWith(`${base}-`) && path.join(dir, old) !== archive && old.endsWith('.tar'))
          rmSync(path.join(dir, old), { force: true });
      }
    }
    return { name: spec.name, archive };
  });
}
