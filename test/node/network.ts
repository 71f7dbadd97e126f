// The pod network of a real node, kept on this machine: a bridge of our own with the
// host as gateway, no masquerade and no route out, a FORWARD rule dropping anything from
// the pod range that is not for the bridge or the host (the bridge plugin turns
// ip_forward on), and the `kubernetes` Service routed to the API server by one DNAT rule
// (what kube-proxy would do for this one Service; nothing else here needs Services).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface PodNetwork {
  /** Bridge name (at most 15 characters). */
  readonly bridge: string;
  /** Pod range, e.g. 10.244.0.0/24; the first address is the host's (gateway, node IP). */
  readonly cidr: string;
  readonly gateway: string;
  readonly prefixLength: number;
  readonly serviceCidr: string;
  /** The `kubernetes` Service's ClusterIP (first address of the Service range). */
  readonly serviceIp: string;
}

export const POD_NETWORK: PodNetwork = {
  bridge: 'smon0',
  cidr: '10.244.0.0/24',
  gateway: '10.244.0.1',
  prefixLength: 24,
  serviceCidr: '10.96.0.0/16',
  serviceIp: '10.96.0.1',
};

/** Chains of our own, so teardown removes exactly what setup added. */
export const FORWARD_CHAIN = 'SMON-POD-FORWARD';
export const SERVICE_CHAIN = 'SMON-SERVICES';

/** The CNI network list containerd loads (pure). `ipamDir` keeps IPAM state ours. */
export function cniConfig(network: PodNetwork, ipamDir: string): object {
  return {
    cniVersion: '1.0.0',
    name: 'sidecar-monitor-test',
    plugins: [
      {
        type: 'bridge',
        bridge: network.bridge,
        isGateway: true,
        // No NAT: nothing from a pod may leave the machine looking like the host.
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: network.cidr, gateway: network.gateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: ipamDir,
        },
      },
    ],
  };
}

/** iptables rules (table, chain, rule) in the order they are added (pure). */
export function firewallRules(
  network: PodNetwork,
  apiServerPort: number,
): { table: string; chain: string; rule: string[] }[] {
  return [
    // Pod to pod (bridged, with br_netfilter) and pod to host (INPUT, not FORWARD) pass;
    // everything else from a pod, wherever it is headed, is dropped.
    {
      table: 'filter',
      chain: FORWARD_CHAIN,
      rule: ['-s', network.cidr, '-d', network.cidr, '-j', 'RETURN'],
    },
    { table: 'filter', chain: FORWARD_CHAIN, rule: ['-s', network.cidr, '-j', 'DROP'] },
    { table: 'filter', chain: 'FORWARD', rule: ['-j', FORWARD_CHAIN] },
    {
      table: 'nat',
      chain: SERVICE_CHAIN,
      rule: [
        '-d',
        `${network.serviceIp}/32`,
        '-p',
        'tcp',
        '--dport',
        '443',
        '-j',
        'DNAT',
        '--to-destination',
        `${network.gateway}:${String(apiServerPort)}`,
      ],
    },
    { table: 'nat', chain: 'PREROUTING', rule: ['-j', SERVICE_CHAIN] },
    { table: 'nat', chain: 'OUTPUT', rule: ['-j', SERVICE_CHAIN] },
  ];
}

function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(command: string, args: readonly string[]): boolean {
  try {
    run(command, args);
    return true;
  } catch {
    return false;
  }
}

/**
 * The bridge with the gateway address, before anything binds to that address (the API
 * server does); the bridge plugin finds it there and attaches pods to it.
 */
export function createBridge(network: PodNetwork): void {
  deleteBridge(network);
  run('ip', ['link', 'add', network.bridge, 'type', 'bridge']);
  run('ip', [
    'addr',
    'add',
    `${network.gateway}/${String(network.prefixLength)}`,
    'dev',
    network.bridge,
  ]);
  run('ip', ['link', 'set', network.bridge, 'up']);
}

export function deleteBridge(network: PodNetwork): void {
  if (existsSync(`/sys/class/net/${network.bridge}`)) {
    tryRun('ip', ['link', 'delete', network.bridge]);
  }
}

/** Adds the firewall and Service rules (removing any left by an earlier run first). */
export function addFirewall(network: PodNetwork, apiServerPort: number): void {
  removeFirewall();
  const rules = firewallRules(network, apiServerPort);
  for (const table of new Set(rules.map((r) => r.table))) {
    for (const chain of [FORWARD_CHAIN, SERVICE_CHAIN]) {
      if (rules.some((r) => r.table === table && r.chain === chain)) {
        run('iptables', ['-w', '-t', table, '-N', chain]);
      }
    }
  }
  for (const { table, chain, rule } of rules) {
    run('iptables', ['-w', '-t', table, '-A', chain, ...rule]);
  }
}

export function removeFirewall(): void {
  const hooks: [string, string, string][] = [
    ['filter', 'FORWARD', FORWARD_CHAIN],
    ['nat', 'PREROUTING', SERVICE_CHAIN],
    ['nat', 'OUTPUT', SERVICE_CHAIN],
  ];
  for (const [table, chain, target] of hooks) {
    while (tryRun('iptables', ['-w', '-t', table, '-D', chain, '-j', target])) {
      // a rule added twice by an interrupted run goes too
    }
  }
  for (const [table, chain] of [
    ['filter', FORWARD_CHAIN],
    ['nat', SERVICE_CHAIN],
  ] as const) {
    if (tryRun('iptables', ['-w', '-t', table, '-F', chain])) {
      tryRun('iptables', ['-w', '-t', table, '-X', chain]);
    }
  }
}
