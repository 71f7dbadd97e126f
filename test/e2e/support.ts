// Helpers for tests on the real node: the sample app as a workload, pods and their
// containers, exec, and the kubelet's own figures through the API server's node proxy.
import { request } from 'node:http';
import type { ClusterInfo, RealNodeInfo } from '../cluster/cluster-info.ts';
import type { KubeObject, TestCluster } from '../cluster/harness.ts';

export const SAMPLE_APP_PORT = 8080;
export const EXPORTER_PORT = 9477;

/**
 * `helm install` of the chart with the image built from this checkout, as a user installs
 * it (the operator's real pods, Ready through their probes); the result uninstalls it.
 */
export async function installChart(
  cluster: TestCluster,
  release: string,
  namespace: string,
  values: readonly string[] = [],
): Promise<() => Promise<void>> {
  await cluster.helm(
    [
      'install',
      release,
      'charts/sidecar-monitor',
      '-n',
      namespace,
      '--create-namespace',
      '--set',
      'image.repository=localhost/sidecar-monitor,image.tag=dev,image.pullPolicy=Never',
      ...values.flatMap((v) => ['--set', v]),
      '--wait',
      '--timeout',
      '180s',
    ],
    { timeoutMs: 200_000 },
  );
  return async () => {
    await cluster.helm(['uninstall', release, '-n', namespace, '--wait'], { allowFailure: true });
  };
}

export function realNode(info: ClusterInfo): RealNodeInfo {
  if (info.realNode === undefined) throw new Error('no real node: run in the e2e project');
  return info.realNode;
}

export interface SampleAppOptions {
  readonly name: string;
  readonly replicas?: number;
  /** Pod-level runAsUser/runAsGroup; undefined leaves them to the image (65532). */
  readonly uid?: number;
  readonly gid?: number;
  readonly cpuLimit?: string;
  readonly memoryLimit?: string;
  readonly labels?: Record<string, string>;
}

/** The sample app as users deploy an app: probes, limits, a read-only root. */
export function sampleApp(info: ClusterInfo, options: SampleAppOptions): KubeObject {
  const labels = { 'app.kubernetes.io/name': options.name, ...options.labels };
  const probe = (path: string): object => ({
    httpGet: { path, port: 'http' },
    periodSeconds: 2,
    failureThreshold: 3,
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: options.name, labels },
    spec: {
      replicas: options.replicas ?? 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': options.name } },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 5,
          securityContext: {
            runAsNonRoot: true,
            ...(options.uid === undefined ? {} : { runAsUser: options.uid }),
            ...(options.gid === undefined ? {} : { runAsGroup: options.gid }),
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'web',
              image: realNode(info).images.sampleApp,
              imagePullPolicy: 'Never',
              ports: [{ name: 'http', containerPort: SAMPLE_APP_PORT }],
              readinessProbe: probe('/healthz'),
              livenessProbe: { ...probe('/healthz'), periodSeconds: 5 },
              resources: {
                requests: { cpu: '50m', memory: '48Mi' },
                limits: { cpu: options.cpuLimit ?? '500m', memory: options.memoryLimit ?? '256Mi' },
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  };
}

export interface PodView {
  readonly name: string;
  readonly uid: string;
  readonly ip: string | undefined;
  readonly phase: string | undefined;
  readonly ready: boolean;
  readonly object: KubeObject;
}

interface PodStatus {
  podIP?: string;
  phase?: string;
  conditions?: { type: string; status: string }[];
  containerStatuses?: ContainerStatus[];
  initContainerStatuses?: ContainerStatus[];
}

export interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  containerID?: string;
  started?: boolean;
  state?: Record<string, unknown>;
  lastState?: { terminated?: { reason?: string; exitCode?: number } };
}

export function podStatus(pod: KubeObject): PodStatus {
  const status = pod.status as PodStatus | undefined;
  return status ?? {};
}

export function view(pod: KubeObject): PodView {
  const status = podStatus(pod);
  return {
    name: pod.metadata.name ?? '',
    uid: pod.metadata.uid ?? '',
    ip: status.podIP,
    phase: status.phase,
    ready: status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    object: pod,
  };
}

export function containerStatus(pod: KubeObject, name: string): ContainerStatus | undefined {
  const status = podStatus(pod);
  return [...(status.containerStatuses ?? []), ...(status.initContainerStatuses ?? [])].find(
    (c) => c.name === name,
  );
}

/** Waits until `count` pods match the selector, all Running and Ready. */
export async function readyPods(
  cluster: TestCluster,
  namespace: string,
  selector: string,
  count: number,
  predicate: (pod: KubeObject) => boolean = () => true,
): Promise<PodView[]> {
  return cluster.waitFor(
    `${String(count)} ready pods ${selector} in ${namespace}`,
    async (note) => {
      const pods = (
        await cluster.list(
          { apiVersion: 'v1', kind: 'Pod', namespace },
          { labelSelector: selector },
        )
      )
        .filter((p) => p.metadata.deletionTimestamp === undefined)
        .map(view);
      note(
        pods.map((p) => ({
          name: p.name,
          phase: p.phase,
          ready: p.ready,
          status: p.object.status,
        })),
      );
      const ok = pods.filter((p) => p.ready && predicate(p.object));
      return ok.length === count && pods.length === count ? ok : undefined;
    },
    { timeoutMs: 180_000 },
  );
}

export async function exec(
  cluster: TestCluster,
  namespace: string,
  pod: string,
  container: string,
  argv: readonly string[],
): Promise<string> {
  const result = await cluster.kubectl(
    ['exec', '-n', namespace, pod, '-c', container, '--', ...argv],
    {
      timeoutMs: 60_000,
    },
  );
  return result.stdout;
}

/** Runs a Node.js snippet inside a container of the image's Node (distroless: no shell). */
export function nodeEval(
  cluster: TestCluster,
  namespace: string,
  pod: string,
  container: string,
  script: string,
): Promise<string> {
  return exec(cluster, namespace, pod, container, ['/nodejs/bin/node', '-e', script]);
}

/** The kubelet's cAdvisor metrics through the API server's node proxy. */
export async function cadvisor(cluster: TestCluster, node: string): Promise<string> {
  // Text, not JSON: the client hands back the body as it came.
  return cluster.rest.request<string>('GET', `/api/v1/nodes/${node}/proxy/metrics/cadvisor`);
}

/** A plain HTTP GET from the host (pod IPs are reachable: the host is the gateway). */
export function httpGet(url: string, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sample values of one metric family in the text format, with their labels. */
export function samples(
  text: string,
  name: string,
): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] ?? ''] = (pair[2] ?? '').replace(/\\(.)/g, '$1');
    }
    out.push({ labels, value: Number(match[3]) });
  }
  return out;
}
