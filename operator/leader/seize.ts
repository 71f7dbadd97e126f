// Taking the operator's Lease away from whoever holds it, for the uninstall hook: the
// running leader must stop writing (it would put back the finalizers the hook removes)
// before the hook touches anything. Seizing the Lease does that with the operator's own
// rules, no extra permission and no help from the leader: its next renewal finds a
// record it did not write, fails, and it stops leading at its renew deadline; a standby
// (or the leader restarted) waits for the new record to expire. The seizer keeps the
// Lease renewed while it works, and leaves it held for `holdSeconds` afterwards, long
// enough for `helm uninstall` to delete the operator's Deployment.
import type { Logger } from 'pino';
import { aborted, type Clock, sleep } from '../runtime/clock.ts';
import type { KubeClient } from '../kube/client.ts';
import { isApiError, KubeApiError } from '../kube/errors.ts';
import { apiVersionOf, collectionPath, LEASES, objectPath } from '../kube/resources.ts';
import type { LeaseObject } from './elector.ts';
import { type ElectionTiming, seizedSpec } from './lease.ts';

export interface SeizeOptions {
  client: Pick<KubeClient, 'request'>;
  namespace: string;
  name: string;
  identity: string;
  clock: Clock;
  logger: Logger;
  /** The operator's timings: the seizer waits out its lease duration before working. */
  timing: ElectionTiming;
  /** How long the Lease stays held once the work is done. */
  holdSeconds: number;
}

const ATTEMPTS = 10;

/**
 * Seizes the Lease, waits until the previous holder can no longer write, runs work()
 * while keeping the Lease, and leaves it held. Rejects if the Lease cannot be taken or
 * is taken from us meanwhile (work's signal aborts then).
 */
export async function withSeizedLease<T>(
  o: SeizeOptions,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const path = objectPath(LEASES, o.namespace, o.name);
  const log = o.logger.child({ kind: 'Lease', namespace: o.namespace, name: o.name });
  const timeoutMs = Math.max(1000, o.timing.retryPeriodMs);
  const body = (resourceVersion: string | undefined, spec: object): object => ({
    apiVersion: apiVersionOf(LEASES),
    kind: LEASES.kind,
    metadata: {
      name: o.name,
      namespace: o.namespace,
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    spec,
  });
  const get = async (): Promise<LeaseObject | undefined> => {
    try {
      return await o.client.request<LeaseObject>('GET', path, { timeoutMs });
    } catch (err) {
      if (isApiError(err, 'not-found')) return undefined;
      throw err;
    }
  };

  let previous: string | null = null;
  let current: LeaseObject | undefined;
  for (let attempt = 1; current === undefined; attempt++) {
    const lease = await get();
    previous = lease?.spec?.holderIdentity ?? null;
    const spec = seizedSpec(
      lease?.spec,
      o.identity,
      o.clock.now(),
      o.timing.leaseDurationMs / 1000,
    );
    try {
      current = lease
        ? await o.client.request<LeaseObject>('PUT', path, {
            timeoutMs,
            body: body(lease.metadata.resourceVersion, spec),
          })
        : await o.client.request<LeaseObject>('POST', collectionPath(LEASES, o.namespace), {
            timeoutMs,
            body: body(undefined, spec),
          });
    } catch (err) {
      // The holder renewed between our read and our write: read again.
      const raced = isApiError(err, 'conflict') || isApiError(err, 'already-exists');
      if (!raced || attempt >= ATTEMPTS) throw err;
      await sleep(o.clock, 200);
    }
  }
  let held: LeaseObject = current;
  const seizedAt = o.clock.monotonic();
  log.info({ previous, identity: o.identity }, 'took the operator lease');

  const renew = async (mine: LeaseObject, durationSeconds?: number): Promise<LeaseObject> => {
    const lease = await get();
    if (lease?.spec?.holderIdentity !== o.identity) {
      throw new KubeApiError(
        `the lease is held by ${lease?.spec?.holderIdentity ?? 'nobody'} now, not by us`,
        { kind: 'conflict', reason: 'LeaseTaken' },
      );
    }
    const spec = {
      ...lease.spec,
      renewTime: seizedSpec(undefined, o.identity, o.clock.now(), 1).renewTime,
      leaseDurationSeconds:
        durationSeconds ?? mine.spec?.leaseDurationSeconds ?? o.timing.leaseDurationMs / 1000,
    };
    return o.client.request<LeaseObject>('PUT', path, {
      timeoutMs,
      body: body(lease.metadata.resourceVersion, spec),
    });
  };

  const lost = new AbortController();
  const renewing = (async () => {
    while (!aborted(lost.signal)) {
      await sleep(o.clock, o.timing.retryPeriodMs, lost.signal);
      if (aborted(lost.signal)) return;
      try {
        held = await renew(held);
      } catch (err) {
        if (aborted(lost.signal)) return;
        const taken = err instanceof KubeApiError && err.reason === 'LeaseTaken';
        log.warn({ err: (err as Error).message }, 'could not renew the lease');
        if (taken) lost.abort(err);
      }
    }
  })();
  try {
    if (previous !== null && previous !== '' && previous !== o.identity) {
      // The previous holder renewed at the latest just before we took the lease; it stops
      // writing at most its renew deadline later. Wait the whole lease duration, the
      // margin every standby relies on too.
      const waitMs = o.timing.leaseDurationMs - (o.clock.monotonic() - seizedAt);
      log.info({ previous, waitMs: Math.round(waitMs) }, 'waiting for the previous leader to stop');
      await sleep(o.clock, waitMs, lost.signal);
    }
    if (aborted(lost.signal)) throw lost.signal.reason as Error;
    const result = await work(lost.signal);
    if (aborted(lost.signal)) throw lost.signal.reason as Error;
    return result;
  } finally {
    const wasLost = aborted(lost.signal);
    lost.abort();
    await renewing;
    if (!wasLost) {
      try {
        await renew(held, o.holdSeconds);
        log.info({ holdSeconds: o.holdSeconds }, 'keeping the lease held for the uninstall');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not extend the lease hold');
      }
    }
  }
}
