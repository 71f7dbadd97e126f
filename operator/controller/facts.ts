// Live cluster facts for the injection core: native sidecar support (from the API
// server version and, where the version-skew policy does not vouch for them, every
// Node's kubelet: kubelet-versions.ts) and whether the PodMonitor CRD is served
// (from discovery, re-checked periodically so installing prometheus-operator later is
// noticed).
import type { Logger } from 'pino';
import { aborted, type Clock, sleep } from '../runtime/clock.ts';
import {
  type KubeVersion,
  nativeSidecarSupport,
  type NativeSidecarSupport,
} from './cluster-facts.ts';
import type { KubeApi } from '../kube/api.ts';
import { isApiError, KubeApiError } from '../kube/errors.ts';
import type { InformerGroup } from '../kube/informer-group.ts';
import { type KubeObject, PODMONITORS } from '../kube/resources.ts';

export interface NodeInfo extends KubeObject {
  status?: { nodeInfo?: { kubeletVersion?: string | undefined } };
}

export interface FactsOptions {
  client: KubeApi;
  /** Kubelet versions, when they must be watched; else the API server alone decides. */
  nodes?: InformerGroup<NodeInfo> | undefined;
  serverVersion: KubeVersion | undefined;
  clock: Clock;
  logger: Logger;
  discoveryIntervalMs: number;
  /** Called when the PodMonitor CRD appears or disappears. */
  onPodMonitorsChange?: (present: boolean) => void;
}

export class ClusterFacts {
  readonly #o: FactsOptions;
  #native: NativeSidecarSupport | undefined;
  #podMonitors = false;
  #discovered = false;

  constructor(options: FactsOptions) {
    this.#o = options;
    options.nodes?.addHandlers({
      upsert: (node, old) => {
        if (node.status?.nodeInfo?.kubeletVersion !== old?.status?.nodeInfo?.kubeletVersion) {
          this.#native = undefined;
        }
      },
      delete: () => {
        this.#native = undefined;
      },
    });
  }

  nativeSidecars(): NativeSidecarSupport {
    this.#native ??= nativeSidecarSupport(
      this.#o.serverVersion,
      (this.#o.nodes?.list() ?? []).map((n) => n.status?.nodeInfo?.kubeletVersion),
    );
    return this.#native;
  }

  podMonitors(): boolean {
    return this.#podMonitors;
  }

  /** Whether discovery has answered at least once. */
  get discovered(): boolean {
    return this.#discovered;
  }

  async refreshDiscovery(signal?: AbortSignal): Promise<void> {
    let present: boolean;
    try {
      const list = await this.#o.client.get<{ resources?: { name?: string }[] }>(
        `/apis/${PODMONITORS.group}/${PODMONITORS.version}`,
        signal,
      );
      present = (list.resources ?? []).some((r) => r.name === PODMONITORS.plural);
    } catch (err) {
      if (!isApiError(err, 'not-found')) {
        this.#o.logger.warn(
          { err: err instanceof KubeApiError ? err.message : String(err) },
          'discovery of the PodMonitor API failed; keeping the last answer',
        );
        return;
      }
      present = false;
    }
    const changed = this.#discovered && present !== this.#podMonitors;
    this.#podMonitors = present;
    this.#discovered = true;
    if (changed) {
      this.#o.logger.info({ present }, 'the PodMonitor CRD appeared or disappeared');
      this.#o.onPodMonitorsChange?.(present);
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!aborted(signal)) {
      await sleep(this.#o.clock, this.#o.discoveryIntervalMs, signal);
      if (aborted(signal)) return;
      await this.refreshDiscovery(signal);
    }
  }
}
