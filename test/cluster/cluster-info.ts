// What the global setup hands to test files (vitest provide/inject): plain data only,
// since it crosses into worker processes.
import type { BinaryName } from './binaries.ts';
import type { StartupTimings } from './control-plane.ts';
import type { StackBinaries } from '../stack/binaries.ts';

export interface ClusterInfo {
  /** Admin kubeconfig (system:masters); also exported as KUBECONFIG to test processes. */
  readonly kubeconfigPath: string;
  readonly server: string;
  /** The API server's version, e.g. v1.35.4. */
  readonly kubeVersion: string;
  readonly binarySource: 'KUBEBUILDER_ASSETS' | 'cache';
  readonly binaries: Readonly<Partial<Record<BinaryName, string>>>;
  /** The cluster's temporary directory; files put here go away with the cluster. */
  readonly dir: string;
  readonly components: readonly string[];
  /** kwok Nodes (Ready, schedulable); empty without kwok. */
  readonly fakeNodes: readonly string[];
  readonly timings: StartupTimings;
  /** Loopback endpoint of the process that owns the control plane (see control-server.ts). */
  readonly control: { readonly url: string; readonly token: string };
  /** The real node (kubelet + containerd), in the `e2e` project only. */
  readonly realNode?: RealNodeInfo;
  /** Prometheus 3 and prometheus-operator (their images are among realNode.images), e2e only. */
  readonly stack?: StackBinaries;
}

export interface RealNodeInfo {
  readonly name: string;
  readonly dir: string;
  /** Top cgroup of the node, the same name in every cgroup v1 hierarchy. */
  readonly cgroupRoot: string;
  readonly containerdSocket: string;
  /** Pod range and the host's address on the pod bridge. */
  readonly podCidr: string;
  readonly gateway: string;
  readonly bridge: string;
  /** Images imported into the node, by role. */
  readonly images: Readonly<Record<string, string>>;
}

export const PROVIDE_KEY = 'sidecarMonitorCluster';

declare module 'vitest' {
  export interface ProvidedContext {
    sidecarMonitorCluster: ClusterInfo;
  }
}
