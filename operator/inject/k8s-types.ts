// The Kubernetes shapes the injection core reads, as plain JSON. Only the fields it looks at
// are typed; every object keeps its other fields (index signatures), because the core must
// hand back everything it does not own exactly as it found it.

import type { ObjectMeta } from '../api/meta.ts';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
  [key: string]: unknown;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  protocol?: string;
  [key: string]: unknown;
}

export interface HttpGetAction {
  path?: string;
  port: number | string;
  host?: string;
  scheme?: string;
  httpHeaders?: { name: string; value: string }[];
  [key: string]: unknown;
}

export interface TcpSocketAction {
  port: number | string;
  host?: string;
  [key: string]: unknown;
}

export interface Probe {
  httpGet?: HttpGetAction;
  tcpSocket?: TcpSocketAction;
  grpc?: unknown;
  exec?: unknown;
  periodSeconds?: number;
  timeoutSeconds?: number;
  [key: string]: unknown;
}

export interface Capabilities {
  add?: string[];
  drop?: string[];
  [key: string]: unknown;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  privileged?: boolean;
  capabilities?: Capabilities;
  [key: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: SecurityContext;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  restartPolicy?: string;
  [key: string]: unknown;
}

export interface Volume {
  name: string;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  shareProcessNamespace?: boolean;
  hostPID?: boolean;
  hostNetwork?: boolean;
  os?: { name?: string };
  nodeSelector?: Record<string, string>;
  securityContext?: SecurityContext;
  [key: string]: unknown;
}

export interface PodTemplateSpec {
  metadata?: ObjectMeta;
  spec?: PodSpec;
  [key: string]: unknown;
}

/** A Deployment, StatefulSet or DaemonSet (or any object, until checked). */
export interface Workload {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: { template?: PodTemplateSpec; [key: string]: unknown };
  [key: string]: unknown;
}
