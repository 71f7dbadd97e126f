// Where the control-plane binaries come from. KUBEBUILDER_ASSETS (the envtest convention)
// wins for every binary it holds; everything else comes from the cache that
// build-binaries.sh fills, which is built on first use. A missing binary is an error that
// says what to install: the tests never skip for lack of a cluster.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export const KUBE_VERSION = 'v1.35.4';

export const REQUIRED = ['etcd', 'kube-apiserver', 'kubectl'] as const;
export const OPTIONAL = [
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
  'helm',
  // a real node (test/node/)
  'kubelet',
  'containerd',
  'containerd-shim-runc-v2',
  'ctr',
  'runc',
  'crictl',
] as const;
export type BinaryName = (typeof REQUIRED)[number] | (typeof OPTIONAL)[number];

export interface Binaries {
  /** Absolute path per binary; optional ones are absent when neither source has them. */
  readonly paths: Readonly<Partial<Record<BinaryName, string>>> &
    Readonly<Record<(typeof REQUIRED)[number], string>>;
  /** Where they came from, for logs and error messages. */
  readonly source: 'KUBEBUILDER_ASSETS' | 'cache';
}

export interface ResolveOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Receives the build's progress lines (it takes minutes when cold). */
  readonly onProgress: (line: string) => void;
}

export const BUILD_SCRIPT = path.join(import.meta.dirname, 'build-binaries.sh');

export function cacheBinDir(env: NodeJS.ProcessEnv): string {
  // Mirrors build-binaries.sh, which prints the same path when it finishes.
  const root =
    env.SIDECAR_MONITOR_CACHE ??
    path.join(env.XDG_CACHE_HOME ?? path.join(env.HOME ?? homedir(), '.cache'), 'sidecar-monitor');
  return path.join(root, `k8s-${KUBE_VERSION}`, 'bin');
}

function executableIn(dir: string, name: string): string | undefined {
  const candidate = path.join(dir, name);
  try {
    accessSync(candidate, constants.X_OK);
    return candidate;
  } catch {
    return undefined;
  }
}

function collect(
  names: readonly BinaryName[],
  dirs: readonly string[],
): Partial<Record<BinaryName, string>> {
  const found: Partial<Record<BinaryName, string>> = {};
  for (const name of names) {
    for (const dir of dirs) {
      const hit = executableIn(dir, name);
      if (hit !== undefined) {
        found[name] = hit;
        break;
      }
    }
  }
  return found;
}

/** The paths when every required binary is there, else the names that are missing. */
function checkRequired(
  found: Partial<Record<BinaryName, string>>,
): { paths: Binaries['paths'] } | { missing: string[] } {
  const { etcd, kubectl, 'kube-apiserver': apiServer } = found;
  if (etcd !== undefined && kubectl !== undefined && apiServer !== undefined) {
    return { paths: { ...found, etcd, kubectl, 'kube-apiserver': apiServer } };
  }
  return { missing: REQUIRED.filter((name) => found[name] === undefined) };
}

/**
 * Resolves the binaries, running build-binaries.sh when the cache is incomplete and
 * KUBEBUILDER_ASSETS is not set. Rejects with the script's own explanation (e.g. "Go is
 * not installed") when that fails.
 */
export async function resolveBinaries(options: ResolveOptions): Promise<Binaries> {
  const assets = options.env.KUBEBUILDER_ASSETS;
  const cache = cacheBinDir(options.env);
  if (assets !== undefined && assets !== '') {
    // etcd, kube-apiserver and kubectl come from the asset directory and nowhere else;
    // the cache, when there is one, supplies what envtest assets usually lack
    // (controller manager, scheduler, kwok, helm). Nothing is built.
    const checked = checkRequired({
      ...collect(REQUIRED, [assets]),
      ...collect(OPTIONAL, [assets, cache]),
    });
    if ('missing' in checked) {
      throw new Error(
        `KUBEBUILDER_ASSETS=${assets} lacks ${checked.missing.join(', ')}; point it at a ` +
          `directory holding etcd, kube-apiserver and kubectl, or unset it to build them ` +
          `with ${BUILD_SCRIPT}`,
      );
    }
    return { paths: checked.paths, source: 'KUBEBUILDER_ASSETS' };
  }
  const all = [...REQUIRED, ...OPTIONAL];
  const cached = checkRequired(collect(all, [cache]));
  if ('paths' in cached && OPTIONAL.every((name) => cached.paths[name] !== undefined)) {
    return { paths: cached.paths, source: 'cache' };
  }
  await runBuild(options);
  const built = checkRequired(collect(all, [cache]));
  if ('missing' in built) {
    throw new Error(`${BUILD_SCRIPT} finished but ${cache} lacks ${built.missing.join(', ')}`);
  }
  return { paths: built.paths, source: 'cache' };
}

async function runBuild(options: ResolveOptions): Promise<void> {
  await runBuildScript(BUILD_SCRIPT, 'the Kubernetes test binaries', options);
}

/**
 * Runs one of our build scripts, handing its stderr lines to `onProgress` (a cold build is
 * minutes long); rejects with the script's last lines (its own explanation) when it fails.
 */
export async function runBuildScript(
  script: string,
  what: string,
  options: ResolveOptions,
): Promise<void> {
  const child = spawn('bash', [script], {
    env: options.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (lines.length > 100) lines.shift();
      options.onProgress(line);
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) {
    throw new Error(
      `building ${what} failed (exit ${String(code)}):\n${lines.slice(-30).join('\n')}`,
    );
  }
}
