// The kubelet of a real node: its KubeletConfiguration and command line (pure). What each
// setting is for is said beside it; ../shared/DESIGN.md ("a real node") has the facts
// measured on these machines that they rest on.
import path from 'node:path';
import { stringify } from 'yaml';

export interface KubeletSettings {
  readonly nodeName: string;
  /** The host's address on the pod bridge: the node's InternalIP and serving address. */
  readonly nodeIp: string;
  readonly nodeDir: string;
  readonly port: number;
  readonly healthzPort: number;
  readonly containerdSocket: string;
  /** Top cgroup of the node, created in every hierarchy before the kubelet starts. */
  readonly cgroupRoot: string;
  readonly caCertPath: string;
  readonly servingCertPath: string;
  readonly servingKeyPath: string;
  readonly kubeconfigPath: string;
}

export function kubeletPaths(nodeDir: string): {
  rootDir: string;
  podLogsDir: string;
  volumePluginDir: string;
  config: string;
} {
  return {
    rootDir: path.join(nodeDir, 'kubelet'),
    podLogsDir: path.join(nodeDir, 'pod-logs'),
    volumePluginDir: path.join(nodeDir, 'volume-plugins'),
    config: path.join(nodeDir, 'kubelet-config.yaml'),
  };
}

export function kubeletConfig(settings: KubeletSettings): string {
  const paths = kubeletPaths(settings.nodeDir);
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // This host mounts cgroup v1; kubelet 1.35 refuses v1 unless told.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs', // no systemd here
    cgroupRoot: settings.cgroupRoot,
    cgroupsPerQOS: true,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${settings.containerdSocket}`,
    imageServiceEndpoint: `unix://${settings.containerdSocket}`,
    address: settings.nodeIp,
    port: settings.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: settings.healthzPort,
    tlsCertFile: settings.servingCertPath,
    tlsPrivateKeyFile: settings.servingKeyPath,
    // Only the API server (our client certificate) and callers it vouches for.
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: settings.caCertPath },
    },
    authorization: { mode: 'Webhook' },
    podLogsDir: paths.podLogsDir,
    volumePluginDir: paths.volumePluginDir,
    // Pods get the host's resolver settings: there is no cluster DNS, and no name is
    // resolved by anything we run (the API server is reached by address).
    clusterDomain: 'cluster.local',
    resolvConf: '/etc/resolv.conf',
    // A test node on a shared disk: never evict or collect images because the disk
    // is fuller than a production node's thresholds.
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'nodefs.inodesFree': '1%',
      'imagefs.available': '1%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    // Kept: the kubelet then writes the kernel defaults it needs (restored on teardown).
    protectKernelDefaults: false,
    // Faster status: tests wait on Pod and Node conditions.
    nodeStatusUpdateFrequency: '4s',
    syncFrequency: '10s',
    fileCheckFrequency: '10s',
    maxPods: 60,
    shutdownGracePeriod: '0s',
  });
}

export function kubeletArgs(settings: KubeletSettings): string[] {
  const paths = kubeletPaths(settings.nodeDir);
  return [
    `--config=${paths.config}`,
    `--kubeconfig=${settings.kubeconfigPath}`,
    `--root-dir=${paths.rootDir}`,
    `--hostname-override=${settings.nodeName}`,
    `--node-ip=${settings.nodeIp}`,
    // cAdvisor finds container names (the `pod` and `container` labels of
    // /metrics/cadvisor) only through containerd's socket: kubernetes#89903.
    `--containerd=${settings.containerdSocket}`,
    '--containerd-namespace=k8s.io',
    '--v=1',
  ];
}
