// What the injection core takes besides the workload and the monitor, and what it returns.
// Every reason is machine-readable: the operator copies it into the monitor's status, the
// `inject` command prints it.

import type { ExporterConfig } from '../../exporter/config.ts';
import type { CpuMemory } from '../api/v1alpha1.ts';
import type { PodTemplateSpec } from './k8s-types.ts';

/** Facts about the cluster, always an input (the core never looks anything up). */
export interface ClusterFacts {
  /**
   * Restartable init containers work: the API server and every kubelet are >= 1.29. The
   * operator passes the choice already made for a workload (it sticks), see currentInjection.
   */
  nativeSidecars: boolean;
  /** The prometheus-operator PodMonitor CRD is installed (then no scrape annotations by default). */
  podMonitors: boolean;
  /** The image injected when the monitor names none (the operator's own image). */
  defaultExporterImage: string;
  /** Images a monitor may name: exact references, or prefixes ending in '*'. */
  allowedExporterImages: readonly string[];
  /** Exporter requests and limits where the monitor sets none. */
  defaultExporterResources: { requests: CpuMemory; limits: CpuMemory };
}

export const SKIP_REASONS = [
  /** Not a Deployment, StatefulSet or DaemonSet (Jobs and CronJobs, for now). */
  'UnsupportedKind',
  /** The object has no name, no pod template or no containers. */
  'InvalidWorkload',
  /** The monitor fails its semantic checks (it reached us past the API server's). */
  'InvalidMonitor',
  /** The workload or its pod template is labelled sidecarmonitor.io/inject: "false". */
  'OptedOut',
  /** A container we did not inject already has the exporter's name. */
  'ContainerNameTaken',
  /** A volume we did not inject already has our volume's name. */
  'VolumeNameTaken',
  /** A target container already sets SIDECAR_MONITOR_CONTAINER itself. */
  'EnvVarTaken',
  /** None of the monitor's target containers exists (or only mesh proxies do). */
  'NoTargetContainer',
  /** The monitor's exporter image is not among the images the operator allows. */
  'ImageNotAllowed',
  /** hostPID pods share the node's PID namespace: the exporter would watch the whole node. */
  'HostPID',
  /** hostNetwork pod where a container already uses the exporter's port on the node. */
  'HostNetworkPortClash',
  /** A container of the pod already uses the exporter's port or port name. */
  'PortClash',
  /** The pod sets shareProcessNamespace: false explicitly; we never override that choice. */
  'ProcessNamespaceSharingDisabled',
  /** A Windows pod: the exporter reads Linux procfs and cgroups. */
  'UnsupportedOS',
  /** The exporter's config would not fit in one environment string (the pod could not start). */
  'ExporterConfigTooLarge',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** Why the exporter runs as the non-root fallback user instead of mirroring the app. */
export type SecurityReason =
  /** runAsUser or runAsGroup of a target is not set in the pod spec (only the image knows). */
  | 'uid-unknown'
  /** The targets run as different users or groups. */
  | 'uid-mismatch'
  /** Root targets with different capability sets: no single set is "no more than" each. */
  | 'capabilities-mismatch'
  /** A target is privileged or adds CAP_SYS_ADMIN: never mirrored. */
  | 'target-privileged';

export interface Security {
  /** mirrored: the exporter runs as the targets' uid and gid (full metrics). */
  mode: 'mirrored' | 'fallback';
  runAsUser: number;
  runAsGroup: number;
  reason?: SecurityReason;
  /** What happened and how to fix it, for status. */
  message?: string;
}

/** Something the operator should surface but that does not stop the injection. */
export type NoteCode =
  | 'ProbeNotSupported'
  | 'ProbeHostNotLoopback'
  | 'ProbePortNotFound'
  | 'ProbeInvalid'
  | 'ProbeLimit'
  /** The monitor's probes do not all fit its series budget (spec.exporter.maxSeries). */
  | 'SeriesBudget'
  | 'EndpointPortNotFound'
  | 'TargetNotFound'
  | 'ScrapeAnnotationsTaken'
  | 'HostNetwork'
  | 'ResourcesAdjusted';

export interface Note {
  code: NoteCode;
  message: string;
}

export interface Injected {
  outcome: 'Injected';
  /** The complete desired pod template. */
  template: PodTemplateSpec;
  /** Only the fields sidecar-monitor owns (see applyConfiguration). */
  owned: PodTemplateSpec;
  hash: string;
  nativeSidecar: boolean;
  targets: string[];
  config: ExporterConfig;
  security: Security;
  notes: Note[];
}

export interface Skipped {
  outcome: 'Skipped';
  reason: SkipReason;
  message: string;
  /**
   * The template the workload should have: the input with any injection of ours removed.
   * Absent: leave the workload exactly as it is (not ours to change, or the monitor is
   * invalid and an existing injection must not churn).
   */
  template?: PodTemplateSpec;
}

export type InjectionResult = Injected | Skipped;
