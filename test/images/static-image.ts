// Writes an OCI image-layout archive holding a few static binaries and nothing else (no
// shell, no libc): what `ctr -n k8s.io images import` takes, named by the
// `io.containerd.image.name` annotation. For images of Go programs built with CGO off
// (Prometheus, prometheus-operator), where a Dockerfile and buildah would add nothing.
//
// Deterministic: files sorted, owned by root, mtime 0; the same binaries give the same
// digests, so a cache keyed by them is exact.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';

export interface StaticImageFile {
  /** Host path of the file to copy in. */
  readonly source: string;
  /** Absolute path in the image. */
  readonly target: string;
  readonly mode?: number;
}

export interface StaticImage {
  /** e.g. localhost/prometheus:v3.16.0 */
  readonly name: string;
  readonly files: readonly StaticImageFile[];
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[];
  /** uid:gid */
  readonly user: string;
  readonly workingDir?: string;
  readonly exposedPorts?: readonly number[];
  readonly labels?: Readonly<Record<string, string>>;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The image's layer as a tar (uncompressed: containerd takes it as it is). */
function layerTar(image: StaticImage, work: string): Buffer {
  const root = path.join(work, 'rootfs');
  mkdirSync(root, { recursive: true });
  for (const file of image.files) {
    const target = path.join(root, file.target);
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    copyFileSync(file.source, target);
    chmodSync(target, file.mode ?? 0o755);
  }
  const tar = path.join(work, 'layer.tar');
  execFileSync('tar', [
    '-C',
    root,
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '-cf',
    tar,
    '.',
  ]);
  return readFileSync(tar);
}

/** Writes `image` as an OCI image-layout archive at `out` (atomically). */
export function writeStaticImage(image: StaticImage, out: string): void {
  const work = mkdtempSync(`${out}.work-`);
  try {
    const layer = layerTar(image, work);
    const diffId = digestOf(layer);
    const config = Buffer.from(
      JSON.stringify({
        architecture: ARCH[process.arch] ?? process.arch,
        os: 'linux',
        created: '1970-01-01T00:00:00Z',
        config: {
          User: image.user,
          Entrypoint: image.entrypoint,
          ...(image.cmd === undefined ? {} : { Cmd: image.cmd }),
          WorkingDir: image.workingDir ?? '/',
          Env: ['PATH=/bin'],
          ...(image.exposedPorts === undefined
            ? {}
            : {
                ExposedPorts: Object.fromEntries(
                  image.exposedPorts.map((p) => [`${String(p)}/tcp`, {}]),
                ),
              }),
          ...(image.labels === undefined ? {} : { Labels: image.labels }),
        },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: '1970-01-01T00:00:00Z', created_by: 'test/images/static-image.ts' }],
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: digestOf(config),
          size: config.length,
        },
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: diffId,
            size: layer.length,
          },
        ],
      }),
    );
    const layout = path.join(work, 'layout');
    const blobs = path.join(layout, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    for (const blob of [layer, config, manifest]) {
      writeFileSync(path.join(blobs, digestOf(blob).slice('sha256:'.length)), blob);
    }
    const tag = image.name.slice(image.name.lastIndexOf(':') + 1);
    writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      path.join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: digestOf(manifest),
            size: manifest.length,
            annotations: {
              'io.containerd.image.name': image.name,
              'org.opencontainers.image.ref.name': tag,
            },
          },
        ],
      }),
    );
    execFileSync('tar', [
      '-C',
      layout,
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '-cf',
      `${out}.tmp`,
      'oci-layout',
      'index.json',
      'blobs',
    ]);
    renameSync(`${out}.tmp`, out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
