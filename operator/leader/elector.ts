// The I/O shell of leader election over a coordination.k8s.io/v1 Lease. Only the
// holder runs the controllers; a replica that cannot renew within the renew deadline
// stops leading at once (its caller exits), and a clean shutdown releases the lease so
// the next replica takes over without waiting for it to expire.
import type { Logger } from 'pino';
import { aborted, type Clock, sleep } from '../clock.ts';
import type { KubeClient } from '../kube/client.ts';
import { isApiError, KubeApiError } from '../kube/errors.ts';
import { apiVersionOf, collectionPath, LEASES, objectPath } from '../kube/resources.ts';
import {
  decide,
  DEFAULT_TIMING,
  type ElectionTiming,
  type LeaseSpec,
  type Observation,
  observe,
  releasedSpec,
} from './lease.ts';

export interface ElectorOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  clock: Clock;
  logger: Logger;
  timing?: ElectionTiming;
  random?: () => number;
  onLeadingChange?: (leading: boolean) => void;
}

interface LeaseObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** released: clean shutdown; lost: renewal failed; failed: the leader's work stopped on its own. */
export type LeadResult = 'released' | 'lost' | 'failed';

export class LeaderElector {
  readonly #o: ElectorOptions;
  readonly #timing: ElectionTiming;
  readonly #log: Logger;
  #observed: Observation | undefined;
  #current: LeaseObject | undefined;

  constructor(options: ElectorOptions) {
    this.#o = options;
    this.#timing = options.timing ?? DEFAULT_TIMING;
    this.#log = options.logger.child({
      kind: 'Lease',
      namespace: options.namespace,
      name: options.name,
    });
  }

  // A renewal stuck on a dead connection must not outlive the renew deadline.
  get #requestOpts(): { timeoutMs: number } {
    return { timeoutMs: Math.max(1000, this.#timing.retryPeriodMs) };
  }

  get #path(): string {
    return objectPath(LEASES, this.#o.namespace, this.#o.name);
  }

  /** One attempt to acquire or renew. Returns true when we hold the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { client, clock, identity } = this.#o;
    let lease: LeaseObject | undefined;
    try {
      lease = await client.request<LeaseObject>('GET', this.#path, this.#requestOpts);
    } catch (err) {
      if (!isApiError(err, 'not-found')) throw err;
    }
    const now = clock.now();
    if (lease?.spec) this.#observed = observe(this.#observed, lease.spec, now);
    const decision = decide(lease?.spec, this.#observed, identity, now, this.#timing);
    if (decision.action === 'wait') {
      this.#current = lease;
      return false;
    }
    try {
      if (decision.action === 'create') {
        this.#current = await client.request<LeaseObject>(
          'POST',
          collectionPath(LEASES, this.#o.namespace),
          {
            ...this.#requestOpts,
            body: {
              apiVersion: apiVersionOf(LEASES),
              kind: LEASES.kind,
              metadata: { name: this.#o.name, namespace: this.#o.namespace },
              spec: decision.spec,
            },
          },
        );
      } else {
        this.#current = await client.request<LeaseObject>('PUT', this.#path, {
          ...this.#requestOpts,
          body: {
            apiVersion: apiVersionOf(LEASES),
            kind: LEASES.kind,
            metadata: {
              name: this.#o.name,
              namespace: this.#o.namespace,
              resourceVersion: lease?.metadata.resourceVersion,
            },
            spec: decision.spec,
          },
        });
        if (decision.acquired) {
          this.#log.info({ previous: lease?.spec?.holderIdentity ?? null }, 'acquired the lease');
        }
      }
    } catch (err) {
      // Someone else wrote the lease first: not an error, just not us this round.
      if (isApiError(err, 'conflict') || isApiError(err, 'already-exists')) return false;
      throw err;
    }
    if (this.#current.spec) this.#observed = observe(undefined, this.#current.spec, now);
    return true;
  }

  /**
   * Campaigns until elected, then calls lead() with a signal that aborts when the lease
   * is lost or `signal` aborts. Resolves 'released' after a clean shutdown (the lease
   * given up), 'lost' when renewal failed past the renew deadline.
   */
  async run(
    signal: AbortSignal,
    lead: (leading: AbortSignal) => Promise<void>,
  ): Promise<LeadResult> {
    const clock = this.#o.clock;
    const timing = this.#timing;
    const random = this.#o.random ?? Math.random;
    const jittered = (): number => timing.retryPeriodMs * (1 + 0.2 * random());
    this.#log.info({ identity: this.#o.identity }, 'waiting to acquire the lease');
    while (!aborted(signal)) {
      if (await this.#attempt()) break;
      await sleep(clock, jittered(), signal);
    }
    if (aborted(signal)) return 'released';
    this.#o.onLeadingChange?.(true);
    const leading = new AbortController();
    const work = { stopped: false };
    const leadDone = lead(leading.signal)
      .catch((err: unknown) => {
        this.#log.error({ err }, 'leader work failed');
      })
      .finally(() => {
        work.stopped = true;
        leading.abort();
      });
    let lastRenew = clock.now();
    let result: LeadResult = 'released';
    const either = AbortSignal.any([signal, leading.signal]);
    while (!aborted(either)) {
      await sleep(clock, timing.retryPeriodMs, either);
      if (aborted(either)) break;
      if (await this.#attempt()) {
        lastRenew = clock.now();
      } else if (clock.now() - lastRenew >= timing.renewDeadlineMs) {
        this.#log.error(
          { renewDeadlineMs: timing.renewDeadlineMs },
          'could not renew the lease in time; stopping leading',
        );
        result = 'lost';
        break;
      }
    }
    if (result === 'released' && work.stopped && !aborted(signal)) result = 'failed';
    leading.abort();
    this.#o.onLeadingChange?.(false);
    await leadDone;
    if (result !== 'lost') await this.release();
    return result;
  }

  async #attempt(): Promise<boolean> {
    try {
      return await this.tryAcquireOrRenew();
    } catch (err) {
      const e = err instanceof KubeApiError ? err : undefined;
      this.#log.warn({ err: e?.message ?? String(err), kind: e?.kind }, 'lease request failed');
      return false;
    }
  }

  /** Gives the lease up if we hold it (best effort: it expires anyway). */
  async release(): Promise<void> {
    const lease = this.#current;
    if (!lease?.spec || lease.spec.holderIdentity !== this.#o.identity) return;
    try {
      await this.#o.client.request('PUT', this.#path, {
        ...this.#requestOpts,
        body: {
          apiVersion: apiVersionOf(LEASES),
          kind: LEASES.kind,
          metadata: {
            name: this.#o.name,
            namespace: this.#o.namespace,
            resourceVersion: lease.metadata.resourceVersion,
          },
          spec: releasedSpec(lease.spec, this.#o.clock.now()),
        },
      });
      this.#current = undefined;
      this.#log.info('released the lease');
    } catch (err) {
      this.#log.warn(
        { err: (err as Error).message },
        'could not release the lease; it will expire',
      );
    }
  }
}
