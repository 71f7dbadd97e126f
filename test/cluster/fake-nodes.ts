// Fake Nodes for kwok: Node objects it manages (by annotation) and makes Ready, so the
// scheduler places Pods and kwok reports them Running and Ready without a kubelet.
import type { KubeObject, RestClient } from './rest.ts';
import type { Note } from './wait.ts';

export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

/** Beside a real node, fake ones take only Pods that tolerate this taint. */
export const KWOK_TAINT = { key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' };

export function fakeNode(name: string, kubeVersion: string, tainted = false): KubeObject {
  const resources = { cpu: '32', memory: '128Gi', pods: '250', 'ephemeral-storage': '500Gi' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        type: 'kwok',
      },
    },
    spec: tainted ? { taints: [KWOK_TAINT] } : {},
    // Kept on create (Nodes register with their status); kwok fills in the rest and
    // keeps what is set. The kubelet version is what operators check for features such
    // as native sidecars, so it matches the API server's.
    status: {
      allocatable: resources,
      capacity: resources,
      nodeInfo: {
        kubeletVersion: kubeVersion,
        kubeProxyVersion: kubeVersion,
        architecture: 'amd64',
        operatingSystem: 'linux',
      },
    },
  };
}

interface NodeLike {
  metadata: { name?: string };
  spec?: { taints?: { key: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

export async function nodesReady(
  rest: RestClient,
  names: readonly string[],
  note: Note,
): Promise<boolean> {
  const list = await rest.request<{ items: NodeLike[] }>('GET', '/api/v1/nodes');
  note(
    list.items.map((n) => ({
      name: n.metadata.name,
      conditions: n.status?.conditions?.map((c) => `${c.type}=${c.status}`),
      taints: n.spec?.taints?.map((t) => t.key),
    })),
  );
  return names.every((name) => {
    const node = list.items.find((n) => n.metadata.name === name);
    const ready = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    // The node lifecycle controller adds not-ready taints to new Nodes and removes them
    // once Ready; until then the scheduler would not place Pods there.
    const untainted = !(node?.spec?.taints ?? []).some((t) =>
      t.key.startsWith('node.kubernetes.io/'),
    );
    return ready === true && untainted;
  });
}
