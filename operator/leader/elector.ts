// The I/O shell of leader election over a coordination.k8s.io/v1 Lease. Only the
// holder runs the controllers; a clean shutdown releases the lease so the next replica
// takes over without waiting for it to expire.
//
// Fencing: a leader that cannot renew stops leading exactly renewDeadline after the start
// of its last successful renewal (one overall deadline on the monotonic clock, not a
// check between attempts), and its work gets a Leadership: a signal that aborts every
// request in flight at that moment, and a synchronous check that every write makes
// before it is sent. A replica frozen (SIGSTOP, a paused VM) past its deadline therefore
// sends nothing when it wakes, even before its timers run. Others may take over only
// leaseDuration after they last saw the lease change, which is later still, so two
// leaders never write at once (as long as the lease duration exceeds the renew deadline
// by more than a request's flight time).
import type { Logger } from 'pino';
import { aborted, type Clock, sleep, type TimerHandle } from '../runtime/clock.ts';
import type { KubeClient } from '../kube/client.ts';
import { isApiError, KubeApiError } from '../kube/errors.ts';
import { apiVersionOf, collectionPath, LEASES, objectPath } from '../kube/resources.ts';
import {
  decide,
  DEFAULT_TIMING,
  type ElectionTiming,
  type Instant,
  type LeaseSpec,
  type Observation,
  observe,
  releasedSpec,
} from './lease.ts';

export interface ElectorOptions {
  client: Pick<KubeClient, 'request'>;
  namespace: string;
  name: string;
  identity: string;
  clock: Clock;
  logger: Logger;
  timing?: ElectionTiming;
  random?: () => number;
  onLeadingChange?: (leading: boolean) => void;
}

export interface LeaseObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** What the leader's work gets: ends (for good) when leadership does. */
export interface Leadership {
  /** Aborts when leadership ends: pass it to every request. */
  readonly signal: AbortSignal;
  /**
   * Whether we still lead at this very moment, judged on the monotonic clock (not by a
   * timer, which a frozen process would run late). Ends leadership when the deadline
   * has passed. Check it right before sending a write.
   */
  valid(): boolean;
}

/** Leadership without election (--leader-elect=false): ends only with signal. */
export function unelected(signal: AbortSignal): Leadership {
  return { signal, valid: () => !signal.aborted };
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

  // A request stuck on a dead connection must not use up the whole renew deadline.
  #requestOpts(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal } {
    const timeoutMs = Math.max(1000, this.#timing.retryPeriodMs);
    return signal ? { timeoutMs, signal } : { timeoutMs };
  }

  get #path(): string {
    return objectPath(LEASES, this.#o.namespace, this.#o.name);
  }

  #instant(): Instant {
    return { monotonic: this.#o.clock.monotonic(), wall: this.#o.clock.now() };
  }

  /** One attempt to acquire or renew. Returns true when we hold the lease afterwards. */
  async tryAcquireOrRenew(signal?: AbortSignal): Promise<boolean> {
    const { client, identity } = this.#o;
    let lease: LeaseObject | undefined;
    try {
      lease = await client.request<LeaseObject>('GET', this.#path, this.#requestOpts(signal));
    } catch (err) {
      if (!isApiError(err, 'not-found')) throw err;
    }
    const now = this.#instant();
    if (lease?.spec) this.#observed = observe(this.#observed, lease.spec, now.monotonic);
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
          { ...this.#requestOpts(signal), body: this.#body(undefined, decision.spec) },
        );
      } else {
        this.#current = await client.request<LeaseObject>('PUT', this.#path, {
          ...this.#requestOpts(signal),
          body: this.#body(lease?.metadata.resourceVersion, decision.spec),
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
    if (this.#current.spec) this.#observed = observe(undefined, this.#current.spec, now.monotonic);
    return true;
  }

  #body(resourceVersion: string | undefined, spec: LeaseSpec): Record<string, unknown> {
    return {
      apiVersion: apiVersionOf(LEASES),
      kind: LEASES.kind,
      metadata: {
        name: this.#o.name,
        namespace: this.#o.namespace,
        ...(resourceVersion === undefined ? {} : { resourceVersion }),
      },
      spec,
    };
  }

  /**
   * Campaigns until elected, then calls lead() with a Leadership that ends when the lease
   * is lost or `signal` aborts. Resolves 'released' after a clean shutdown (the lease
   * given up), 'lost' when no renewal succeeded within the renew deadline.
   */
  async run(
    signal: AbortSignal,
    lead: (leadership: Leadership) => Promise<void>,
  ): Promise<LeadResult> {
    const clock = this.#o.clock;
    const timing = this.#timing;
    const random = this.#o.random ?? Math.random;
    const jittered = (): number => timing.retryPeriodMs * (1 + 0.2 * random());
    this.#log.info({ identity: this.#o.identity }, 'waiting to acquire the lease');
    let renewedAt = 0;
    while (!aborted(signal)) {
      renewedAt = clock.monotonic();
      if (await this.#attempt(signal)) break;
      await sleep(clock, jittered(), signal);
    }
    if (aborted(signal)) return 'released';

    // From here on, every renewal counts from the moment its attempt started: the
    // record it writes cannot have been seen by anyone before then.
    const deposed = new AbortController();
    let lost: string | undefined;
    let timer: TimerHandle | undefined;
    const lose = (why: string): void => {
      if (deposed.signal.aborted) return;
      lost = why;
      timer?.cancel();
      deposed.abort(new Error(`leadership lost: ${why}`));
    };
    let deadline = renewedAt + timing.renewDeadlineMs;
    const arm = (): void => {
      timer?.cancel();
      timer = clock.setTimeout(() => {
        lose('no renewal within the renew deadline');
      }, deadline - clock.monotonic());
    };
    arm();
    const leadership: Leadership = {
      signal: deposed.signal,
      valid: () => {
        if (!deposed.signal.aborted && clock.monotonic() >= deadline) {
          lose('no renewal within the renew deadline');
        }
        return !deposed.signal.aborted;
      },
    };
    const stopLeading = (): void => {
      timer?.cancel();
      if (!deposed.signal.aborted) deposed.abort(new Error('stopped leading'));
    };
    signal.addEventListener('abort', stopLeading, { once: true });

    this.#o.onLeadingChange?.(true);
    const work = { stopped: false };
    const leadDone = lead(leadership)
      .catch((err: unknown) => {
        this.#log.error({ err }, 'leader work failed');
      })
      .finally(() => {
        work.stopped = true;
        stopLeading();
      });
    while (leadership.valid()) {
      await sleep(clock, timing.retryPeriodMs, deposed.signal);
      if (!leadership.valid()) break;
      const started = clock.monotonic();
      if ((await this.#attempt(deposed.signal)) && leadership.valid()) {
        deadline = started + timing.renewDeadlineMs;
        arm();
      }
    }
    signal.removeEventListener('abort', stopLeading);
    let result: LeadResult = 'released';
    if (lost !== undefined && !aborted(signal)) {
      result = 'lost';
      this.#log.error(
        { renewDeadlineMs: timing.renewDeadlineMs, why: lost },
        'could not renew the lease in time; stopped leading',
      );
    } else if (work.stopped && !aborted(signal)) {
      result = 'failed';
    }
    stopLeading();
    this.#o.onLeadingChange?.(false);
    await leadDone;
    if (result !== 'lost') await this.release();
    return result;
  }

  async #attempt(signal: AbortSignal): Promise<boolean> {
    try {
      return await this.tryAcquireOrRenew(signal);
    } catch (err) {
      if (aborted(signal)) return false;
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
        ...this.#requestOpts(),
        body: this.#body(
          lease.metadata.resourceVersion,
          releasedSpec(lease.spec, this.#o.clock.now()),
        ),
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
