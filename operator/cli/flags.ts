// Command-line flags of `sidecar-monitor operator`, parsed purely: a value or a
// FlagError naming the flag, never a throw from deep inside.
import { parseArgs } from 'node:util';

export interface OperatorFlags {
  kubeconfig: string | undefined;
  /** A context of the kubeconfig instead of its current-context, as kubectl's --context. */
  context: string | undefined;
  /** Client-side rate limit of every API request (0: none); controller-runtime's defaults. */
  kubeApiQps: number;
  kubeApiBurst: number;
  /** Namespaces to watch; empty: all. */
  namespaces: string[];
  /** The exporter image injected when a monitor names none. */
  exporterImage: string;
  /** Images a monitor may ask for (exact, or a prefix ending in '*'); always includes exporterImage. */
  allowedExporterImages: string[];
  /** Across all monitors; 0: unlimited. */
  maxConcurrentRollouts: number;
  workers: number;
  listen: { host: string; port: number };
  leaderElect: boolean;
  leaderElectionNamespace: string | undefined;
  leaderElectionId: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  identity: string | undefined;
  /** Re-reconcile of every cached object (from the caches: nothing is relisted). */
  resyncMs: number;
  /** Whether Nodes are watched for kubelet versions: auto (only for 1.29-1.31 servers). */
  watchKubeletVersions: 'auto' | 'true' | 'false';
  /** How long the operator waits to batch status writes of one monitor. */
  statusDelayMs: number;
  /** How often discovery is asked whether the PodMonitor CRD is served. */
  discoveryIntervalMs: number;
  logLevel: string;
  help: boolean;
}

export class FlagError extends Error {
  readonly flag: string;
  constructor(flag: string, message: string, options?: ErrorOptions) {
    super(`--${flag}: ${message}`, options);
    this.name = 'FlagError';
    this.flag = flag;
  }
}

export const USAGE = `usage: sidecar-monitor operator [flags]

Reconciles SidecarMonitors into the pod templates of the workloads they select.

flags:
  --kubeconfig PATH                  kubeconfig (default: $KUBECONFIG, else in-cluster, else ~/.kube/config)
  --context NAME                     kubeconfig context to use (default: its current-context)
  --kube-api-qps QPS                 client-side rate limit of API requests (default 20; 0: none)
  --kube-api-burst N                 requests allowed at once above that rate (default 30)
  --namespace NS                     watch only this namespace (repeatable; default: all namespaces)
  --exporter-image IMAGE             exporter image injected by default (default: $SIDECAR_MONITOR_IMAGE)
  --allowed-exporter-images LIST     comma-separated images monitors may choose ('repo/*' allows a prefix);
                                     the default exporter image is always allowed
  --max-concurrent-rollouts N        workloads rolling out at once across all monitors (default 10; 0: no limit)
  --workers N                        concurrent workload reconciles (default 4)
  --listen HOST:PORT                 /metrics, /healthz, /readyz (default 0.0.0.0:8080)
  --leader-elect BOOL                Lease-based leader election (default true)
  --leader-election-namespace NS     namespace of the Lease (default: the pod's namespace)
  --leader-election-id NAME          name of the Lease (default sidecar-monitor-operator)
  --lease-duration SECONDS           (default 15)
  --renew-deadline SECONDS           (default 10)
  --retry-period SECONDS             (default 2)
  --identity NAME                    leader-election identity (default: $POD_NAME or the hostname)
  --resync SECONDS                   re-reconcile every cached object this often, jittered ±12.5%
                                     (from the caches; watches keep them current) (default 600)
  --watch-kubelet-versions MODE      auto: watch Nodes' kubelet versions only where the version-skew
                                     policy does not vouch for >= 1.29 (API server 1.29-1.31);
                                     true: always (kubelets older than the policy allows); false
                                     (default auto)
  --status-delay-ms MS               batching delay of status writes (default 250)
  --discovery-interval SECONDS       how often to check whether the PodMonitor CRD is installed (default 60)
  --log-level LEVEL                  trace, debug, info, warn, error (default info)
  -h, --help                         show this help
`;

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function integer(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new FlagError(flag, `must be an integer, got "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw new FlagError(flag, `must be between ${min} and ${max}`);
  return n;
}

export const DEFAULT_KUBE_API_QPS = 20;
export const DEFAULT_KUBE_API_BURST = 30;

/** --kube-api-qps and --kube-api-burst (shared by every command that talks to a cluster). */
export function kubeApiRate(
  qpsText: string | undefined,
  burstText: string | undefined,
): { kubeApiQps: number; kubeApiBurst: number } {
  const qpsFlag = qpsText ?? String(DEFAULT_KUBE_API_QPS);
  const qps = Number(qpsFlag);
  if (!/^\d+(\.\d+)?$/.test(qpsFlag) || qps > 10_000) {
    throw new FlagError('kube-api-qps', `must be a number from 0 to 10000, got "${qpsFlag}"`);
  }
  return {
    kubeApiQps: qps,
    kubeApiBurst: integer(
      'kube-api-burst',
      burstText ?? String(DEFAULT_KUBE_API_BURST),
      1,
      100_000,
    ),
  };
}

function bool(flag: string, text: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new FlagError(flag, `must be true or false, got "${text}"`);
}

function hostPort(flag: string, text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw new FlagError(flag, `must be HOST:PORT, got "${text}"`);
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';
  return { host, port: integer(flag, text.slice(colon + 1), 0, 65535) };
}

/** Parses argv; env supplies defaults for what Kubernetes injects (image, pod name). */
export function parseOperatorFlags(
  argv: string[],
  env: Record<string, string | undefined> = {},
): OperatorFlags | FlagError {
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        'kube-api-qps': { type: 'string' },
        'kube-api-burst': { type: 'string' },
        namespace: { type: 'string', multiple: true },
        'exporter-image': { type: 'string' },
        'allowed-exporter-images': { type: 'string', multiple: true },
        'max-concurrent-rollouts': { type: 'string' },
        workers: { type: 'string' },
        listen: { type: 'string' },
        'leader-elect': { type: 'string' },
        'leader-election-namespace': { type: 'string' },
        'leader-election-id': { type: 'string' },
        'lease-duration': { type: 'string' },
        'renew-deadline': { type: 'string' },
        'retry-period': { type: 'string' },
        identity: { type: 'string' },
        resync: { type: 'string' },
        'watch-kubelet-versions': { type: 'string' },
        'status-delay-ms': { type: 'string' },
        'discovery-interval': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const namespaces = [...new Set(values.namespace ?? [])];
    for (const ns of namespaces) {
      if (!DNS_LABEL.test(ns) || ns.length > 63)
        throw new FlagError('namespace', `"${ns}" is not a namespace name`);
    }
    const exporterImage = values['exporter-image'] ?? env.SIDECAR_MONITOR_IMAGE ?? '';
    const allowed = (values['allowed-exporter-images'] ?? [])
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter((v) => v.length > 0);
    const logLevel = values['log-level'] ?? 'info';
    if (!LEVELS.includes(logLevel))
      throw new FlagError('log-level', `must be one of ${LEVELS.join(', ')}`);
    const leaseDurationMs =
      1000 * integer('lease-duration', values['lease-duration'] ?? '15', 1, 3600);
    const renewDeadlineMs =
      1000 * integer('renew-deadline', values['renew-deadline'] ?? '10', 1, 3600);
    const retryPeriodMs = 1000 * integer('retry-period', values['retry-period'] ?? '2', 1, 3600);
    if (renewDeadlineMs >= leaseDurationMs)
      throw new FlagError('renew-deadline', 'must be shorter than --lease-duration');
    if (retryPeriodMs >= renewDeadlineMs)
      throw new FlagError('retry-period', 'must be shorter than --renew-deadline');
    const watchKubeletVersions = values['watch-kubelet-versions'] ?? 'auto';
    if (
      watchKubeletVersions !== 'auto' &&
      watchKubeletVersions !== 'true' &&
      watchKubeletVersions !== 'false'
    ) {
      throw new FlagError('watch-kubelet-versions', 'must be auto, true or false');
    }
    const help = values.help ?? false;
    if (!help && exporterImage === '') {
      throw new FlagError(
        'exporter-image',
        'is required (or set SIDECAR_MONITOR_IMAGE): the image injected into workloads',
      );
    }
    return {
      kubeconfig: values.kubeconfig,
      context: values.context,
      ...kubeApiRate(values['kube-api-qps'], values['kube-api-burst']),
      namespaces,
      exporterImage,
      allowedExporterImages: [...new Set([exporterImage, ...allowed])].filter((i) => i !== ''),
      maxConcurrentRollouts: integer(
        'max-concurrent-rollouts',
        values['max-concurrent-rollouts'] ?? '10',
        0,
        100_000,
      ),
      workers: integer('workers', values.workers ?? '4', 1, 64),
      listen: hostPort('listen', values.listen ?? '0.0.0.0:8080'),
      leaderElect: bool('leader-elect', values['leader-elect'] ?? 'true'),
      leaderElectionNamespace: values['leader-election-namespace'] ?? env.POD_NAMESPACE,
      leaderElectionId: values['leader-election-id'] ?? 'sidecar-monitor-operator',
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
      identity: values.identity ?? env.POD_NAME,
      resyncMs: 1000 * integer('resync', values.resync ?? '600', 10, 86_400),
      watchKubeletVersions,
      statusDelayMs: integer('status-delay-ms', values['status-delay-ms'] ?? '250', 0, 60_000),
      discoveryIntervalMs:
        1000 * integer('discovery-interval', values['discovery-interval'] ?? '60', 1, 3600),
      logLevel,
      help,
    };
  } catch (err) {
    if (err instanceof FlagError) return err;
    const message = err instanceof Error ? err.message : String(err);
    const flag = /'--?([\w-]+)/.exec(message)?.[1] ?? 'flags';
    return new FlagError(flag, message, { cause: err });
  }
}
