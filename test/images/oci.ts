// Reading and running an OCI image-layout archive the way a container runtime would, for the
// image tests: the archive's index and config as containerd's importer reads them, the layers
// unpacked with umoci, and a command line that runs a process in the unpacked root as the
// image's user with no capabilities, no_new_privs and a read-only root.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The `config` object of an OCI image configuration (what runtimes run). */
export interface ImageConfig {
  readonly User?: string;
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly Env?: readonly string[];
  readonly WorkingDir?: string;
  readonly ExposedPorts?: Record<string, unknown>;
  readonly Labels?: Record<string, string>;
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly annotations?: Record<string, string>;
}

export interface UnpackedImage {
  /** The `io.containerd.image.name` annotation: the name `ctr images import` gives it. */
  readonly name: string;
  /** The top-level entries of the archive, as its tar lists them. */
  readonly entries: readonly string[];
  readonly architecture: string;
  readonly config: ImageConfig;
  /** The image's filesystem, every layer applied (whiteouts included) by umoci. */
  readonly rootfs: string;
  remove(): void;
}

function blob(layout: string, digest: string): Buffer {
  const [algorithm, hex] = digest.split(':');
  if (algorithm !== 'sha256' || hex === undefined || !/^[0-9a-f]{64}$/.test(hex)) {
    throw new Error(`unexpected digest ${digest}`);
  }
  return readFileSync(path.join(layout, 'blobs', 'sha256', hex));
}

export function unpackImage(archive: string): UnpackedImage {
  const dir = mkdtempSync(path.join(tmpdir(), 'sidecar-monitor-oci-'));
  const remove = (): void => {
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const layout = path.join(dir, 'layout');
    mkdirSync(layout);
    const entries = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' })
      .split('\n')
      .filter((e) => e !== '' && !e.slice(0, -1).includes('/'));
    execFileSync('tar', ['-xf', archive, '-C', layout]);
    const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as {
      manifests: Descriptor[];
    };
    if (index.manifests.length !== 1) {
      throw new Error(`${archive}: ${String(index.manifests.length)} manifests, expected 1`);
    }
    const [top] = index.manifests as [Descriptor];
    const name = top.annotations?.['io.containerd.image.name'];
    const ref = top.annotations?.['org.opencontainers.image.ref.name'];
    if (name === undefined || ref === undefined) {
      throw new Error(`${archive}: the manifest has no image name annotations`);
    }
    const manifest = JSON.parse(blob(layout, top.digest).toString('utf8')) as {
      config: Descriptor;
    };
    const image = JSON.parse(blob(layout, manifest.config.digest).toString('utf8')) as {
      architecture: string;
      config: ImageConfig;
    };
    const bundle = path.join(dir, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:${ref}`, bundle], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return {
      name,
      entries,
      architecture: image.architecture,
      config: image.config,
      rootfs: path.join(bundle, 'rootfs'),
      remove,
    };
  } catch (err) {
    remove();
    throw err;
  }
}

/** `User` as a runtime reads it: numeric `uid[:gid]` only (the images never name users). */
export function imageUser(config: ImageConfig): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(config.User ?? '');
  if (m === null) throw new Error(`image User ${String(config.User)} is not numeric uid[:gid]`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}

// Runs inside a private mount namespace: gives the unpacked root what a runtime gives a
// container (proc, a read-only sys, a tmpfs /dev with the usual nodes), makes the root itself
// read-only, then enters it with unshare --root. The privileges are dropped inside by the
// host's setpriv, which the image does not have (no shell, no tools): it runs from the
// container's own tmpfs /dev through the image's dynamic loader and execs the image's program,
// so the process left running is the image's own, with nothing of the host's but its kernel.
const ENTER = String.raw`
set -eu
root=$1 wd=$2 uid=$3 gid=$4 net=$5
shift 5
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount -o remount,bind,ro "$root/sys"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for node in null zero random urandom; do
  touch "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
done
mkdir "$root/dev/.setpriv"
cp /usr/bin/setpriv "$root/dev/.setpriv/"
ldd /usr/bin/setpriv | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | xargs -r cp -t "$root/dev/.setpriv/"
if [ "$net" = 1 ]; then ip link set lo up; fi
# The image's own dynamic loader, whatever the architecture (node's ELF interpreter).
loader="$(readelf -l "$root/nodejs/bin/node" | sed -n 's/.*program interpreter: \(.*\)]$/\1/p')"
mount -o remount,bind,ro "$root"
exec unshare --root="$root" --wd="$wd" "$loader" --library-path /dev/.setpriv \
  /dev/.setpriv/setpriv --reuid="$uid" --regid="$gid" --clear-groups \
  --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
`;

export interface RunAs {
  readonly uid: number;
  readonly gid: number;
  /** A network namespace of its own (loopback only), else the host's. */
  readonly ownNetwork?: boolean;
}

/**
 * argv that runs `command` (the image's entry point and arguments) in `image` as `as`; run
 * it with `env: imageEnv(image.config)`. One PID throughout: unshare, sh, unshare, the loader
 * and setpriv each exec the next, so the child's PID is the image's process.
 */
export function runInImage(image: UnpackedImage, as: RunAs, command: readonly string[]): string[] {
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    ...(as.ownNetwork === true ? ['--net'] : []),
    '--',
    'sh',
    '-c',
    ENTER,
    'sh',
    image.rootfs,
    image.config.WorkingDir ?? '/',
    String(as.uid),
    String(as.gid),
    as.ownNetwork === true ? '1' : '0',
    ...command,
  ];
}

/** The image's environment (its standard PATH also finds the host tools the set-up runs). */
export function imageEnv(config: ImageConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of config.Env ?? []) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}
