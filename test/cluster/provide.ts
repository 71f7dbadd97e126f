// What the `cluster` and `e2e` global setups share: handing the cluster to test files
// (vitest provide), and pointing every process of the run at it (KUBECONFIG), so nothing a
// test starts can reach the developer's own cluster.
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import type { Binaries } from './binaries.ts';
import { PROVIDE_KEY, type ClusterInfo } from './cluster-info.ts';
import type { ControlEndpoint } from './control-server.ts';
import type { ControlPlane } from './control-plane.ts';

/** Provides the cluster to test files and sets KUBECONFIG; the result undoes the latter. */
export function provideCluster(
  project: TestProject,
  cluster: ControlPlane,
  binaries: Binaries,
  endpoint: ControlEndpoint,
  /** What only the e2e project has: the real node and the Prometheus stack's binaries. */
  extra: Pick<ClusterInfo, 'realNode' | 'stack'> = {},
): () => void {
  // Discovery caches go with the cluster instead of piling up in ~/.kube/cache (a new
  // port every run).
  const previous = { KUBECONFIG: process.env.KUBECONFIG, KUBECACHEDIR: process.env.KUBECACHEDIR };
  process.env.KUBECONFIG = cluster.kubeconfigPath;
  process.env.KUBECACHEDIR = path.join(cluster.dir, 'kube-cache');

  const info: ClusterInfo = {
    kubeconfigPath: cluster.kubeconfigPath,
    server: cluster.server,
    kubeVersion: cluster.kubeVersion,
    binarySource: binaries.source,
    binaries: binaries.paths,
    dir: cluster.dir,
    components: cluster.components,
    fakeNodes: cluster.fakeNodes,
    timings: cluster.timings,
    control: { url: endpoint.url, token: endpoint.token },
    ...extra,
  };
  project.provide(PROVIDE_KEY, info);

  return () => {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = value;
    }
  };
}
