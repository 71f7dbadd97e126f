// desiredPodTemplate: the one pure function behind every write. The operator, the `inject`
// command and the tests all call it, so they can never disagree. Deterministic and
// idempotent: it first removes any injection of ours, then decides, then injects.

import {
  CONFIG_VERSION,
  CONFIG_ENV,
  CONTAINER_ENV,
  ConfigError,
  MAX_ENV_STRING_BYTES,
  configEnvBytes,
  serializeExporterConfig,
  type ExporterConfig,
  type TargetContainer,
} from '../../exporter/config.ts';
import { seriesNeed } from '../../exporter/metrics/budget.ts';
import { DEFAULT_MAX_SERIES } from '../../exporter/options.ts';
import {
  CREATED_ANNOTATION,
  DEFAULT_EXPORTER_PORT,
  EXPORTER_CONTAINER,
  EXPORTER_PORT_NAME,
  HASH_ANNOTATION,
  METRICS_PATH,
  MONITOR_LABEL,
  NO_TOKEN_VOLUME,
  OPT_OUT_LABEL,
  OPT_OUT_VALUE,
  SCRAPE_ANNOTATIONS,
} from '../api/constants.ts';
import { applySchemaDefaults } from '../api/defaults.ts';
import { formatFieldErrors } from '../api/field-error.ts';
import { isLabelValue } from '../api/labels.ts';
import { cpuCores, memoryBytes, QuantityError } from '../api/quantity.ts';
import { semanticErrors } from '../api/semantic.ts';
import { openAPIV3Schema, type SidecarMonitor, type SidecarMonitorSpec } from '../api/v1alpha1.ts';
import { injectionHash } from './canonical.ts';
import { exporterContainer, mergeResources } from './exporter-container.ts';
import { imageAllowed } from './images.ts';
import type { Container, PodSpec, PodTemplateSpec, Workload } from './k8s-types.ts';
import { planProbes } from './probes.ts';
import { formatCreated, type CreatedToken } from './record.ts';
import { removeInjection } from './remove.ts';
import { templateShapeError } from './shape.ts';
import { chooseSecurity, exporterSecurityContext } from './security.ts';
import { SUPPORTED_KINDS } from './select.ts';
import { chooseTargets, type Target } from './targets.ts';
import type { ClusterFacts, InjectionResult, Note, SkipReason, Skipped } from './types.ts';

const PROBES = ['readinessProbe', 'livenessProbe', 'startupProbe'] as const;

function skip(reason: SkipReason, message: string, template?: PodTemplateSpec): Skipped {
  return template
    ? { outcome: 'Skipped', reason, message, template }
    : { outcome: 'Skipped', reason, message };
}

function amounts(resources: Record<string, unknown> | undefined): TargetContainer['requests'] {
  const out: NonNullable<TargetContainer['requests']> = {};
  const cpu = resources?.cpu === undefined ? undefined : cpuCores(resources.cpu);
  const memory = resources?.memory === undefined ? undefined : memoryBytes(resources.memory);
  if (cpu !== undefined && !(cpu instanceof QuantityError)) out.cpuCores = cpu;
  if (memory !== undefined && !(memory instanceof QuantityError)) out.memoryBytes = memory;
  return Object.keys(out).length > 0 ? out : undefined;
}

function targetConfig(c: Container): TargetContainer {
  const target: TargetContainer = { name: c.name };
  const requests = amounts(c.resources?.requests);
  const limits = amounts(c.resources?.limits);
  if (requests) target.requests = requests;
  if (limits) target.limits = limits;
  return target;
}

/** Why the exporter's port cannot be used in this pod, if it cannot. */
function portClash(spec: PodSpec, port: number): string | undefined {
  const hostNetwork = spec.hostNetwork === true;
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (p.containerPort === port || (hostNetwork && p.hostPort === port)) {
        return `container "${c.name}" uses port ${port}`;
      }
      if (p.name === EXPORTER_PORT_NAME) {
        return `container "${c.name}" has a port named ${EXPORTER_PORT_NAME}`;
      }
    }
    // Apps often listen on ports they never declare; their probes give them away.
    for (const field of PROBES) {
      const action = c[field]?.httpGet ?? c[field]?.tcpSocket;
      if (action?.port === port) return `the ${field} of container "${c.name}" uses port ${port}`;
    }
  }
  return undefined;
}

function isWindows(spec: PodSpec): boolean {
  return spec.os?.name === 'windows' || spec.nodeSelector?.['kubernetes.io/os'] === 'windows';
}

function defaultedSpec(monitor: SidecarMonitor): SidecarMonitorSpec {
  const schema = openAPIV3Schema.properties?.spec;
  return (schema ? applySchemaDefaults(schema, monitor.spec) : monitor.spec) as SidecarMonitorSpec;
}

/** The pod template a workload should have for this monitor, or why it is skipped. */
export function desiredPodTemplate(
  workload: Workload,
  monitor: SidecarMonitor,
  facts: ClusterFacts,
): InjectionResult {
  const kind = workload.kind ?? '';
  if (!SUPPORTED_KINDS.includes(kind) || workload.apiVersion !== 'apps/v1') {
    return skip(
      'UnsupportedKind',
      `${workload.apiVersion ?? '?'} ${kind || '?'} is not supported; only apps/v1 Deployments, StatefulSets and DaemonSets are injected`,
    );
  }
  const name = workload.metadata?.name;
  if (typeof name !== 'string' || name === '') {
    return skip('InvalidWorkload', 'the workload has no metadata.name');
  }
  const template = workload.spec?.template;
  const shape = templateShapeError(template);
  if (shape !== undefined || !template) return skip('InvalidWorkload', shape ?? 'no pod template');
  // A monitor from the API server always has this shape; one from elsewhere may not.
  if (typeof monitor.spec !== 'object' || typeof monitor.spec.selector !== 'object') {
    return skip('InvalidMonitor', 'spec.selector: required value');
  }
  const monitorName = monitor.metadata?.name ?? '';
  const spec = defaultedSpec(monitor);
  const invalid = semanticErrors({ ...monitor, spec });
  if (!monitorName || monitorName.length > 63 || !isLabelValue(monitorName)) {
    invalid.unshift({ field: 'metadata.name', message: 'must be a name of at most 63 characters' });
  }
  if (invalid.length > 0) return skip('InvalidMonitor', formatFieldErrors(invalid));

  const base = removeInjection(template);
  const pod = base.spec as PodSpec;
  const labels = base.metadata?.labels ?? {};
  const annotations = base.metadata?.annotations ?? {};
  const remove = (reason: SkipReason, message: string) => skip(reason, message, base);

  if (
    workload.metadata?.labels?.[OPT_OUT_LABEL] === OPT_OUT_VALUE ||
    labels[OPT_OUT_LABEL] === OPT_OUT_VALUE
  ) {
    return remove('OptedOut', `labelled ${OPT_OUT_LABEL}: "${OPT_OUT_VALUE}"`);
  }
  const image = spec.exporter?.image ?? facts.defaultExporterImage;
  if (image !== facts.defaultExporterImage && !imageAllowed(image, facts.allowedExporterImages)) {
    return remove(
      'ImageNotAllowed',
      `exporter image ${image} is not allowed by the operator (--allowed-exporter-images: ${facts.allowedExporterImages.join(', ') || 'none'})`,
    );
  }
  if (isWindows(pod))
    return remove('UnsupportedOS', 'Windows pods have no procfs or cgroups to read');
  if (pod.hostPID === true) {
    return remove(
      'HostPID',
      'hostPID pods share the node PID namespace: the exporter would watch the whole node',
    );
  }
  if (pod.shareProcessNamespace === false) {
    return remove(
      'ProcessNamespaceSharingDisabled',
      "the pod sets shareProcessNamespace: false; the exporter needs the shared process namespace, and that explicit choice is the app owner's",
    );
  }
  if (
    [...pod.containers, ...(pod.initContainers ?? [])].some((c) => c.name === EXPORTER_CONTAINER)
  ) {
    return remove(
      'ContainerNameTaken',
      `a container named ${EXPORTER_CONTAINER} exists and was not injected by sidecar-monitor`,
    );
  }
  if ((pod.volumes ?? []).some((v) => v.name === NO_TOKEN_VOLUME)) {
    return remove(
      'VolumeNameTaken',
      `a volume named ${NO_TOKEN_VOLUME} exists and was not injected by sidecar-monitor`,
    );
  }
  const port = spec.exporter?.port ?? DEFAULT_EXPORTER_PORT;
  const clash = portClash(pod, port);
  if (clash) {
    return pod.hostNetwork === true
      ? remove(
          'HostNetworkPortClash',
          `${clash} on the node (hostNetwork): set spec.exporter.port to a free port`,
        )
      : remove('PortClash', `${clash}: set spec.exporter.port to a free port`);
  }
  const choice = chooseTargets(pod, annotations, spec.targetContainers);
  if ('missing' in choice) return remove('NoTargetContainer', choice.missing);
  const { targets } = choice;
  const taken = targets.find((t) => t.container.env?.some((e) => e.name === CONTAINER_ENV));
  if (taken) {
    return remove(
      'EnvVarTaken',
      `container "${taken.container.name}" already sets ${CONTAINER_ENV}`,
    );
  }

  const notes: Note[] = [...choice.notes];
  const probes = planProbes(
    targets,
    [...pod.containers, ...(pod.initContainers ?? [])],
    spec.health,
  );
  notes.push(...probes.notes);
  const security = chooseSecurity(targets, pod);
  const mode = spec.exporter?.nativeSidecar ?? 'Auto';
  const native = mode === 'Enabled' || (mode === 'Auto' && facts.nativeSidecars);
  const namespace = workload.metadata?.namespace ?? monitor.metadata?.namespace ?? 'default';
  const config: ExporterConfig = {
    version: CONFIG_VERSION,
    workload: { kind, namespace, name, monitor: monitorName },
    targets: targets.map((t) => targetConfig(t.container)),
    probes: probes.probes,
  };
  if (spec.exporter?.maxSeries !== undefined) config.maxSeries = spec.exporter.maxSeries;
  const need = seriesNeed(config, config.maxSeries ?? DEFAULT_MAX_SERIES);
  if (need.needed > need.limit) {
    notes.push({
      code: 'SeriesBudget',
      message: `the targets and ${config.probes.length} probes need about ${need.needed} series but spec.exporter.maxSeries is ${need.limit}: only the first ${need.probesThatFit} probes fit, the others are left out of scrapes; set spec.exporter.maxSeries to at least ${need.needed}`,
    });
  }
  let configJson: string;
  try {
    configJson = serializeExporterConfig(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return skip(
      'InvalidWorkload',
      `cannot configure the exporter for this workload: ${err.message}`,
    );
  }
  if (configEnvBytes(configJson) > MAX_ENV_STRING_BYTES) {
    return skip(
      'ExporterConfigTooLarge',
      `the exporter's config would take ${configEnvBytes(configJson)} bytes in its ${CONFIG_ENV} variable; Linux starts no process with an environment string over ${MAX_ENV_STRING_BYTES} bytes, so the pod could never start: use fewer or shorter health endpoints (paths, headers) or spec.health.fromProbes: false`,
    );
  }
  const exporter = exporterContainer({
    image,
    port,
    configJson,
    headerEnv: probes.env,
    resources: mergeResources(facts.defaultExporterResources, spec.exporter?.resources, notes),
    securityContext: exporterSecurityContext(security, targets),
    native,
  });

  const podMonitorActive = facts.podMonitors && spec.prometheus?.podMonitor !== 'Disabled';
  const scrapeMode = spec.prometheus?.scrapeAnnotations ?? 'Auto';
  const wantScrape = scrapeMode === 'Enabled' || (scrapeMode === 'Auto' && !podMonitorActive);
  const scrapeTaken = Object.values(SCRAPE_ANNOTATIONS).some((key) =>
    Object.hasOwn(annotations, key),
  );
  if (wantScrape && scrapeTaken) {
    notes.push({
      code: 'ScrapeAnnotationsTaken',
      message:
        'the pod has its own prometheus.io annotations; they are kept, so Prometheus needs a PodMonitor to find the exporter',
    });
  }
  if (pod.hostNetwork === true) {
    notes.push({
      code: 'HostNetwork',
      message: `hostNetwork pod: the exporter listens on port ${port} of the node`,
    });
  }

  const owned = ownedFields({
    monitorName,
    targets,
    exporter,
    native,
    scrape: wantScrape && !scrapeTaken ? String(port) : undefined,
  });
  const hash = injectionHash(owned);
  const created = createdTokens(base, owned, targets);
  const ownedAnnotations = (owned.metadata ??= {}).annotations ?? {};
  ownedAnnotations[HASH_ANNOTATION] = hash;
  if (created.length > 0) ownedAnnotations[CREATED_ANNOTATION] = formatCreated(created);
  owned.metadata.annotations = ownedAnnotations;

  return {
    outcome: 'Injected',
    template: mergeOwned(base, owned),
    owned,
    hash,
    nativeSidecar: native,
    targets: targets.map((t) => t.container.name),
    config,
    security,
    notes,
  };
}

interface OwnedInput {
  monitorName: string;
  targets: readonly Target[];
  exporter: Container;
  native: boolean;
  /** The exporter port for the scrape annotations, when they are set. */
  scrape: string | undefined;
}

/** Only what sidecar-monitor owns in a pod template, list items keyed by name. */
function ownedFields(input: OwnedInput): PodTemplateSpec & { spec: PodSpec } {
  const envOf = (t: Target) => ({
    name: t.container.name,
    env: [{ name: CONTAINER_ENV, value: t.container.name }],
  });
  const containers: Container[] = input.targets.filter((t) => t.list === 'containers').map(envOf);
  const initContainers: Container[] = input.targets
    .filter((t) => t.list === 'initContainers')
    .map(envOf);
  (input.native ? initContainers : containers).push(input.exporter);
  const spec: PodSpec = { shareProcessNamespace: true, containers };
  if (initContainers.length > 0) spec.initContainers = initContainers;
  spec.volumes = [{ name: NO_TOKEN_VOLUME, emptyDir: {} }];
  const annotations: Record<string, string> = {};
  if (input.scrape !== undefined) {
    annotations[SCRAPE_ANNOTATIONS.scrape] = 'true';
    annotations[SCRAPE_ANNOTATIONS.port] = input.scrape;
    annotations[SCRAPE_ANNOTATIONS.path] = METRICS_PATH;
  }
  return { metadata: { labels: { [MONITOR_LABEL]: input.monitorName }, annotations }, spec };
}

/** What the injection adds that the base template lacks entirely (restored by removal). */
function createdTokens(
  base: PodTemplateSpec,
  owned: PodTemplateSpec,
  targets: readonly Target[],
): CreatedToken[] {
  const tokens: CreatedToken[] = [];
  const pod = base.spec as PodSpec;
  if (!base.metadata) tokens.push('metadata');
  if (!base.metadata?.labels) tokens.push('labels');
  if (!base.metadata?.annotations) tokens.push('annotations');
  if (pod.shareProcessNamespace !== true) tokens.push('shareProcessNamespace');
  if (owned.metadata?.annotations?.[SCRAPE_ANNOTATIONS.scrape] !== undefined)
    tokens.push('scrapeAnnotations');
  if (owned.spec?.initContainers && !pod.initContainers) tokens.push('initContainers');
  if (!pod.volumes) tokens.push('volumes');
  for (const t of targets) if (!t.container.env) tokens.push(`env:${t.container.name}`);
  return tokens;
}

/** The base template with the owned fields merged in: appended, never reordered. */
function mergeOwned(
  base: PodTemplateSpec,
  owned: PodTemplateSpec & { spec: PodSpec },
): PodTemplateSpec {
  const out = structuredClone(base);
  const metadata = (out.metadata ??= {});
  metadata.labels = { ...(metadata.labels ?? {}), ...owned.metadata?.labels };
  metadata.annotations = { ...(metadata.annotations ?? {}), ...owned.metadata?.annotations };
  const pod = out.spec as PodSpec;
  pod.shareProcessNamespace = true;
  for (const list of ['containers', 'initContainers'] as const) {
    for (const item of owned.spec[list] ?? []) {
      if (item.name === EXPORTER_CONTAINER) {
        (pod[list] ??= []).push(structuredClone(item));
        continue;
      }
      const target = pod[list]?.find((c) => c.name === item.name);
      if (target) target.env = [...(target.env ?? []), ...structuredClone(item.env ?? [])];
    }
  }
  pod.volumes = [...(pod.volumes ?? []), ...structuredClone(owned.spec.volumes ?? [])];
  return out;
}
