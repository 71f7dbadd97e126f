// Prometheus 3 and prometheus-operator, as users run them with us, built from Go modules by
// test/cluster/build-prometheus.sh into the cache beside the Kubernetes binaries (built on
// first use, under a lock; a warm call takes a fraction of a second).
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { runBuildScript } from '../cluster/binaries.ts';

export const PROMETHEUS_VERSION = '3.16.0';
export const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';
export const BUILD_SCRIPT = path.join(import.meta.dirname, '..', 'cluster', 'build-prometheus.sh');

export interface StackBinaries {
  readonly prometheus: string;
  readonly promtool: string;
  readonly operator: string;
  readonly configReloader: string;
  /** prometheus-operator's CRDs of the same release (example/prometheus-operator-crd). */
  readonly crdDir: string;
}

export function stackCacheDir(env: NodeJS.ProcessEnv): string {
  // Mirrors build-prometheus.sh, which prints `<this>/bin` when it finishes.
  const root =
    env.SIDECAR_MONITOR_CACHE ??
    path.join(env.XDG_CACHE_HOME ?? path.join(env.HOME ?? homedir(), '.cache'), 'sidecar-monitor');
  return path.join(
    root,
    `prometheus-${PROMETHEUS_VERSION}-operator-${PROMETHEUS_OPERATOR_VERSION}`,
  );
}

function inCache(env: NodeJS.ProcessEnv): StackBinaries {
  const dir = stackCacheDir(env);
  const bin = path.join(dir, 'bin');
  return {
    prometheus: path.join(bin, 'prometheus'),
    promtool: path.join(bin, 'promtool'),
    operator: path.join(bin, 'operator'),
    configReloader: path.join(bin, 'prometheus-config-reloader'),
    crdDir: path.join(dir, 'crds'),
  };
}

/** Runs the build script (a no-op when the cache is complete) and returns the paths. */
export async function resolveStackBinaries(options: {
  readonly env: NodeJS.ProcessEnv;
  readonly onProgress: (line: string) => void;
}): Promise<StackBinaries> {
  await runBuildScript(
    BUILD_SCRIPT,
    `Prometheus ${PROMETHEUS_VERSION} and prometheus-operator ${PROMETHEUS_OPERATOR_VERSION}`,
    options,
  );
  const found = inCache(options.env);
  for (const file of [
    found.prometheus,
    found.promtool,
    found.operator,
    found.configReloader,
    found.crdDir,
  ]) {
    if (!existsSync(file)) throw new Error(`${BUILD_SCRIPT} finished but ${file} is missing`);
  }
  return found;
}
