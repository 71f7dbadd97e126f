// Whether a namespace is being deleted. Nothing is patched there: the namespace
// controller deletes the workloads anyway, and a finalizer must never hold it up.
// Answers are cached briefly, since a namespace deletion touches many objects at once.
import type { Clock } from '../runtime/clock.ts';
import type { KubeApi } from '../kube/api.ts';
import { isApiError } from '../kube/errors.ts';
import { NAMESPACES, objectPath } from '../kube/resources.ts';

const TTL_MS = 5_000;

export class NamespaceStatus {
  readonly #client: KubeApi;
  readonly #clock: Clock;
  readonly #cache = new Map<string, { at: number; terminating: boolean }>();

  constructor(client: KubeApi, clock: Clock) {
    this.#client = client;
    this.#clock = clock;
  }

  async terminating(namespace: string): Promise<boolean> {
    const now = this.#clock.monotonic();
    const cached = this.#cache.get(namespace);
    if (cached && now - cached.at < TTL_MS) return cached.terminating;
    let terminating: boolean;
    try {
      const ns = await this.#client.get<{
        metadata: { deletionTimestamp?: string };
        status?: { phase?: string };
      }>(objectPath(NAMESPACES, undefined, namespace));
      terminating =
        ns.metadata.deletionTimestamp !== undefined || ns.status?.phase === 'Terminating';
    } catch (err) {
      if (!isApiError(err, 'not-found')) throw err;
      terminating = true;
    }
    if (this.#cache.size > 1000) this.#cache.clear();
    this.#cache.set(namespace, { at: now, terminating });
    return terminating;
  }
}
