// Lease-based leader election decisions, pure. Like client-go, expiry is judged by
// when *this* process last saw the lease record change, never by comparing the
// holder's renewTime with our own clock, so clock skew between nodes cannot hand the
// lease to two replicas at once. Unlike client-go before it moved to a monotonic clock,
// "when" is a monotonic reading: a wall-clock step (NTP, a resumed VM) neither expires a
// lease early nor keeps a dead holder's alive. The wall clock only fills the timestamps
// written into the Lease for people.

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

export interface Observation {
  /** holderIdentity + renewTime as last seen. */
  record: string;
  /** Monotonic reading when that record was first seen. */
  at: number;
}

/** One moment on both clocks: monotonic for durations, wall for timestamps. */
export interface Instant {
  monotonic: number;
  wall: number;
}

export interface ElectionTiming {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const DEFAULT_TIMING: ElectionTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

export type Decision =
  | { action: 'create'; spec: LeaseSpec }
  | { action: 'update'; spec: LeaseSpec; acquired: boolean }
  | { action: 'wait'; holder: string };

/** RFC 3339 with microseconds, the MicroTime format the Lease API uses. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** `monotonic`: when this record was read. */
export function observe(
  prev: Observation | undefined,
  spec: LeaseSpec,
  monotonic: number,
): Observation {
  const record = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}`;
  return prev?.record === record ? prev : { record, at: monotonic };
}

/**
 * What to do given the current lease (undefined: it does not exist).
 * `observed` must be the observation updated with this lease.
 */
export function decide(
  lease: LeaseSpec | undefined,
  observed: Observation | undefined,
  identity: string,
  now: Instant,
  timing: ElectionTiming,
): Decision {
  const stamp = microTime(now.wall);
  const durationSeconds = Math.ceil(timing.leaseDurationMs / 1000);
  if (!lease) {
    return {
      action: 'create',
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: stamp,
        renewTime: stamp,
        leaseTransitions: 0,
      },
    };
  }
  const holder = lease.holderIdentity ?? '';
  const duration = (lease.leaseDurationSeconds ?? durationSeconds) * 1000;
  const expired =
    holder === '' || observed === undefined || observed.at + duration <= now.monotonic;
  if (holder !== identity && !expired) return { action: 'wait', holder };
  const acquired = holder !== identity;
  return {
    action: 'update',
    acquired,
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: acquired ? stamp : (lease.acquireTime ?? stamp),
      renewTime: stamp,
      leaseTransitions: (lease.leaseTransitions ?? 0) + (acquired ? 1 : 0),
    },
  };
}

/** The spec that gives the lease up at once (on a clean shutdown). */
export function releasedSpec(lease: LeaseSpec, wall: number): LeaseSpec {
  return {
    ...lease,
    holderIdentity: null,
    leaseDurationSeconds: 1,
    renewTime: microTime(wall),
  };
}

/**
 * Takes the lease whoever holds it (the uninstall hook: the running leader must stop).
 * The holder sees a record it did not write and, by the same rule as any standby, waits
 * for it to expire; its own renewals fail, so it steps down at its renew deadline.
 */
export function seizedSpec(
  lease: LeaseSpec | undefined,
  identity: string,
  wall: number,
  durationSeconds: number,
): LeaseSpec {
  const stamp = microTime(wall);
  return {
    holderIdentity: identity,
    leaseDurationSeconds: durationSeconds,
    acquireTime: stamp,
    renewTime: stamp,
    leaseTransitions: (lease?.leaseTransitions ?? 0) + (lease ? 1 : 0),
  };
}
