// Every name sidecar-monitor writes into a cluster, in one place: the injection core, the
// operator, the `inject` command, the chart and the docs all import these, so a key can
// never be spelled two ways.

export const GROUP = 'sidecarmonitor.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'SidecarMonitor';
export const PLURAL = 'sidecarmonitors';
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** Server-side apply field manager of every write the operator makes to a workload. */
export const FIELD_MANAGER = 'sidecar-monitor';

/** Pod-template label naming the monitor whose exporter is injected; PodMonitors select it. */
export const MONITOR_LABEL = `${GROUP}/monitor`;
/** Workload (or pod-template) label: `"false"` opts the workload out of every monitor. */
export const OPT_OUT_LABEL = `${GROUP}/inject`;
export const OPT_OUT_VALUE = 'false';
/** Pod-template annotation: hash of everything injected. It drives rollouts and no-op skips. */
export const HASH_ANNOTATION = `${GROUP}/injection-hash`;
/**
 * Pod-template annotation: what the injection created that was absent before (comma-separated
 * tokens), so removal restores the template exactly. Absent when the injection created nothing.
 */
export const CREATED_ANNOTATION = `${GROUP}/injection-created`;
/** CRD annotation: the schema revision; the operator refuses to run against an older CRD. */
export const CRD_REVISION_ANNOTATION = `${GROUP}/crd-revision`;

/** kubectl's annotation naming a pod's main container; the default injection target. */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** Name of the injected exporter container. */
export const EXPORTER_CONTAINER = 'sidecar-monitor-exporter';
/** The exporter's port when the monitor sets none (the CRD's default for spec.exporter.port). */
export const DEFAULT_EXPORTER_PORT = 9477;
/** Name of the exporter's metrics port (PodMonitors scrape it by name; at most 15 characters). */
export const EXPORTER_PORT_NAME = 'smon-metrics';
/**
 * An empty volume mounted over the service-account token path in the exporter only: the
 * ServiceAccount admission plugin then skips the token for that container, whatever the pod's
 * automountServiceAccountToken says (the exporter never talks to the API server).
 */
export const NO_TOKEN_VOLUME = 'sidecar-monitor-no-token';
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Env var names given to the exporter for probe header values taken from Secrets. */
export const HEADER_ENV_PREFIX = 'SIDECAR_MONITOR_HEADER_';

/** Known service-mesh proxies: never a default target, never an explicit one. */
export const MESH_SIDECARS: readonly string[] = ['istio-proxy', 'linkerd-proxy'];

/** User and group the exporter runs as when it cannot mirror the app (the "nonroot" user). */
export const FALLBACK_UID = 65532;
export const FALLBACK_GID = 65532;

/** Prometheus scrape annotations, set only when no PodMonitor scrapes the exporter. */
export const SCRAPE_ANNOTATIONS = {
  scrape: 'prometheus.io/scrape',
  port: 'prometheus.io/port',
  path: 'prometheus.io/path',
  scheme: 'prometheus.io/scheme',
} as const;
export const METRICS_PATH = '/metrics';

/** The image repository the operator and the chart default to (tag: the release version). */
export const DEFAULT_IMAGE_REPOSITORY = 'ghcr.io/sidecar-monitor/sidecar-monitor';

/**
 * Exporter resources when the monitor says nothing, sized from the FIRST exporter on a node
 * scraped every second (`npm run bench -- sidecar-cost`, README): it pays for its image's
 * file pages (63.7 MiB working set, 4.1 millicores, as the kubelet reports them; the tenth
 * on the node: 29.7 MiB). A limit sized for the tenth would starve the first.
 * - memory request 80Mi: the measured 63.7 MiB plus the ~12 MB the exporter grows over
 *   thousands of scrapes (exporter benchmark), so the kubelet never finds it above its
 *   request under memory pressure;
 * - memory limit 128Mi, 2x the measured working set: an OOM-killed exporter makes the app's
 *   pod NotReady until it restarts (~1 s, ~13 s on a second death within the back-off), so
 *   the limit is a guard against a leak, never a squeeze;
 * - cpu request 10m (2.4x the 4.1m measured at a 1 s interval, 11x at 15 s);
 * - cpu limit 500m: steady state needs <1% of it; start-up needs ~0.4 CPU-seconds, which
 *   takes ~0.8 s at 500m instead of ~2 s at 200m, and a restarting exporter holds the pod
 *   NotReady that long. A limit reserves nothing on the node.
 */
export const DEFAULT_EXPORTER_RESOURCES = {
  requests: { cpu: '10m', memory: '80Mi' },
  limits: { cpu: '500m', memory: '128Mi' },
} as const;
