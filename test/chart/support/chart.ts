// The chart as the tests see it: rendered by the real `helm template`, parsed into objects,
// with the release's values written to a temp file the way a person passes `-f values.yaml`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseObjects, type KubeObject, type TestCluster } from '../../cluster/harness.ts';

export const CHART_DIR = 'charts/sidecar-monitor';

export interface Rendered {
  readonly objects: KubeObject[];
  /** The raw multi-document YAML helm printed. */
  readonly yaml: string;
}

export interface RenderOptions {
  readonly release: string;
  readonly namespace: string;
  readonly values?: Record<string, unknown>;
  readonly includeCrds?: boolean;
}

/**
 * Writes values to a temp file for the duration of `use`. As JSON (valid YAML): a YAML
 * writer leaves strings like `no` or `yes` unquoted, which Helm's YAML 1.1 reads as booleans.
 */
export async function withValuesFile<T>(
  values: Record<string, unknown>,
  use: (file: string) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), 'chart-values-'));
  try {
    const file = path.join(dir, 'values.yaml');
    writeFileSync(file, JSON.stringify(values));
    return await use(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function helmTemplate(
  cluster: TestCluster,
  options: RenderOptions,
): Promise<Rendered> {
  return withValuesFile(options.values ?? {}, async (file) => {
    const args = [
      'template',
      options.release,
      CHART_DIR,
      '--namespace',
      options.namespace,
      '--kube-version',
      cluster.info.kubeVersion,
      '-f',
      file,
    ];
    if (options.includeCrds === true) args.push('--include-crds');
    const { stdout } = await cluster.helm(args);
    return { yaml: stdout, objects: parseObjects(stdout, 'helm template') };
  });
}

/** Renders with values expected to be rejected; returns helm's error output. */
export async function helmTemplateError(
  cluster: TestCluster,
  values: Record<string, unknown>,
): Promise<string> {
  return withValuesFile(values, async (file) => {
    const r = await cluster.helm(
      ['template', 'bad', CHART_DIR, '--kube-version', cluster.info.kubeVersion, '-f', file],
      { allowFailure: true },
    );
    if (r.code === 0) throw new Error(`helm accepted ${JSON.stringify(values)}`);
    return r.stderr;
  });
}

export function findObject(
  objects: readonly KubeObject[],
  kind: string,
  name?: string,
): KubeObject {
  const found = objects.find(
    (o) => o.kind === kind && (name === undefined || o.metadata.name === name),
  );
  if (!found) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name ?? '?'}`).join(', ');
    throw new Error(`no ${kind}${name === undefined ? '' : ` ${name}`} among ${have}`);
  }
  return found;
}

// Minimal shapes of what the tests read from rendered objects.
export interface ContainerSpec {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { name: string; containerPort: number }[];
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
}

export interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
    spec: {
      serviceAccountName: string;
      securityContext: Record<string, unknown>;
      containers: ContainerSpec[];
      nodeSelector?: Record<string, string>;
      tolerations?: unknown[];
      affinity?: unknown;
      imagePullSecrets?: { name: string }[];
    };
  };
}

export function deploymentSpec(objects: readonly KubeObject[]): DeploymentSpec {
  return findObject(objects, 'Deployment').spec as DeploymentSpec;
}

export function operatorContainer(objects: readonly KubeObject[]): ContainerSpec {
  const c = deploymentSpec(objects).template.spec.containers.find((x) => x.name === 'operator');
  if (!c) throw new Error('the Deployment has no operator container');
  return c;
}
