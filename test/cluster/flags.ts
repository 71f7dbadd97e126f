// Command lines of the control-plane components: pure functions of paths and ports, so
// every flag and the reason for it is in one place.
import type { PkiFiles } from './cluster-dir.ts';
import { KWOK_NODE_ANNOTATION } from './fake-nodes.ts';

export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

// Every default controller except storage, autoscaling, certificate and resource-claim
// ones: nothing here uses volumes, HPAs, CSRs or DRA, and together they cost ~2 s of
// startup and idle CPU on a 2-core machine.
export const KCM_CONTROLLERS = [
  '*',
  '-persistentvolume-attach-detach-controller',
  '-persistentvolume-binder-controller',
  '-persistentvolume-expander-controller',
  '-persistentvolume-protection-controller',
  '-persistentvolumeclaim-protection-controller',
  '-ephemeral-volume-controller',
  '-volumeattributesclass-protection-controller',
  '-horizontal-pod-autoscaler-controller',
  '-certificatesigningrequest-approving-controller',
  '-certificatesigningrequest-cleaner-controller',
  '-resourceclaim-controller',
  '-endpointslice-mirroring-controller',
  '-legacy-serviceaccount-token-cleaner-controller',
].join(',');

export function etcdArgs(dataDir: string, clientUrl: string): string[] {
  return [
    '--name=default',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    // A single member never talks to peers; port 0 avoids claiming a second port.
    '--listen-peer-urls=http://127.0.0.1:0',
    // Durability is worth nothing in a throwaway cluster; fsync is most of etcd's latency.
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

export function apiServerArgs(options: {
  etcdUrl: string;
  port: number;
  certDir: string;
  pki: PkiFiles;
  /** Where it listens and what it advertises (the `kubernetes` Service's endpoint). */
  address: string;
  /** A real kubelet will join: its client certificate for logs, exec and node proxy. */
  kubeletClient?: { cert: string; key: string };
}): string[] {
  const { pki, kubeletClient } = options;
  return [
    `--etcd-servers=${options.etcdUrl}`,
    `--bind-address=${options.address}`,
    `--advertise-address=${options.address}`,
    `--secure-port=${options.port}`,
    // Unused (the certificates are given) but it must not default to /var/run/kubernetes.
    `--cert-dir=${options.certDir}`,
    `--tls-cert-file=${pki.apiServerCert}`,
    `--tls-private-key-file=${pki.apiServerKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--service-account-key-file=${pki.saPublicKey}`,
    `--service-account-signing-key-file=${pki.saPrivateKey}`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    // A real kubelet reads its own Pods, Secrets and Node through the Node authorizer.
    `--authorization-mode=${kubeletClient === undefined ? 'RBAC' : 'Node,RBAC'}`,
    ...(kubeletClient === undefined
      ? []
      : [
          `--kubelet-client-certificate=${kubeletClient.cert}`,
          `--kubelet-client-key=${kubeletClient.key}`,
          // The kubelet's serving certificate is ours: verify it (kubeadm's default does not).
          `--kubelet-certificate-authority=${pki.caCert}`,
          '--kubelet-preferred-address-types=InternalIP',
        ]),
    '--allow-privileged=true',
    '--profiling=false',
    // Bounds graceful shutdown by 2 s instead of the 60 s request timeout, which open
    // watches (controllers, kwok, the operator under test) would otherwise use up.
    '--shutdown-send-retry-after=true',
    // Namespace deletion between tests goes through DeleteCollection per resource.
    '--delete-collection-workers=4',
  ];
}

export function controllerManagerArgs(kubeconfig: string, pki: PkiFiles): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--secure-port=0', // readiness is judged by what it does, not by a health port
    '--leader-elect=false',
    `--service-account-private-key-file=${pki.saPrivateKey}`,
    `--root-ca-file=${pki.caCert}`,
    // Per-controller ServiceAccount identities, as kubeadm runs it: the bootstrap RBAC
    // of system:kube-controller-manager assumes this.
    '--use-service-account-credentials=true',
    `--controllers=${KCM_CONTROLLERS}`,
    '--allocate-node-cidrs=false',
    '--concurrent-namespace-syncs=4',
    '--profiling=false',
  ];
}

export function schedulerArgs(kubeconfig: string, port: number, certDir: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`, // for /readyz
    `--cert-dir=${certDir}`,
    '--leader-elect=false',
    '--profiling=false',
  ];
}

export function kwokArgs(kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    // Only the Nodes made for it: Nodes a test creates to model other kubelets stay
    // unmanaged.
    '--manage-all-nodes=false',
    `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
    '--cidr=10.244.0.0/16',
    '--node-ip=10.0.0.1',
    // Without node leases kwok reports Node status only about every 53 s, past the
    // controller manager's 50 s grace period: Nodes would flap to Unknown and every Pod
    // on them be marked NotReady (which kwok never undoes), stalling rollouts.
    '--node-lease-duration-seconds=40',
  ];
}
