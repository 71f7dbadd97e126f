// Cluster facts the injection depends on: whether native sidecars (init containers with
// restartPolicy Always, beta and on by default since Kubernetes 1.29) work everywhere.
// Kubelets may lag the API server by up to three minors, so every Node counts.

export interface KubeVersion {
  major: number;
  minor: number;
}

/** Parses "v1.29.3", "v1.28.5-eks-5e0fdde", "v1.30.2+k3s1", "1.31"; undefined if not a version. */
export function parseKubeVersion(text: string | undefined): KubeVersion | undefined {
  const m = /^v?(\d+)\.(\d+)(?:[.+-]|$)/.exec(text?.trim() ?? '');
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]) };
}

export function atLeast(v: KubeVersion | undefined, major: number, minor: number): boolean {
  return v !== undefined && (v.major > major || (v.major === major && v.minor >= minor));
}

export interface NativeSidecarSupport {
  supported: boolean;
  /** Why not, for logs and status. */
  reason: string;
}

/**
 * Native sidecars need the API server and every kubelet at >= 1.29. With no Nodes
 * known yet the API server alone decides (a Node joining later with an old kubelet
 * cannot change a choice already made: it sticks per workload).
 */
export function nativeSidecarSupport(
  serverVersion: KubeVersion | undefined,
  kubeletVersions: readonly (string | undefined)[],
): NativeSidecarSupport {
  if (!atLeast(serverVersion, 1, 29)) {
    return { supported: false, reason: 'the API server is older than 1.29' };
  }
  const old = kubeletVersions.filter((v) => !atLeast(parseKubeVersion(v), 1, 29));
  if (old.length > 0) {
    return {
      supported: false,
      reason: `${old.length} node(s) run a kubelet older than 1.29 (e.g. ${old[0] ?? 'unknown'})`,
    };
  }
  return { supported: true, reason: 'the API server and every kubelet are 1.29 or newer' };
}
