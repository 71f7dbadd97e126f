import { describe, expect, it } from 'vitest';
import { RolloutLimiter } from '../../../operator/rollout/limiter.ts';
import { rolloutState } from '../../../operator/rollout/state.ts';

const now = 1_000_000;

function deployment(spec: object, status: object, generation = 2): object {
  return { kind: 'Deployment', metadata: { generation }, spec, status };
}

describe('rolloutState', () => {
  it('Deployment: follows kubectl rollout status', () => {
    const d = { now };
    expect(
      rolloutState(deployment({ replicas: 2 }, { observedGeneration: 1 }) as never, d).phase,
    ).toBe('Progressing');
    expect(
      rolloutState(
        deployment(
          { replicas: 2 },
          { observedGeneration: 2, updatedReplicas: 1, replicas: 2 },
        ) as never,
        d,
      ),
    ).toEqual({ phase: 'Progressing', message: '1 of 2 replicas updated' });
    expect(
      rolloutState(
        deployment(
          { replicas: 2 },
          { observedGeneration: 2, updatedReplicas: 2, replicas: 3 },
        ) as never,
        d,
      ).message,
    ).toBe('1 old replicas pending termination');
    expect(
      rolloutState(
        deployment(
          { replicas: 2 },
          { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 1 },
        ) as never,
        d,
      ).message,
    ).toBe('1 of 2 updated replicas available');
    expect(
      rolloutState(
        deployment(
          { replicas: 2 },
          { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 },
        ) as never,
        d,
      ).phase,
    ).toBe('Complete');
    expect(
      rolloutState(deployment({ replicas: 0 }, { observedGeneration: 2 }) as never, d).phase,
    ).toBe('Complete');
    expect(rolloutState(deployment({ paused: true }, {}) as never, d).phase).toBe('Paused');
  });

  it("Deployment: the controller's ProgressDeadlineExceeded means Failed, once it saw our generation", () => {
    const stalled = {
      observedGeneration: 2,
      updatedReplicas: 0,
      conditions: [
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: 'ReplicaSet "a-1" has timed out progressing.',
        },
      ],
    };
    expect(rolloutState(deployment({ replicas: 1 }, stalled) as never, { now })).toEqual({
      phase: 'Failed',
      message: 'ReplicaSet "a-1" has timed out progressing.',
    });
    expect(rolloutState(deployment({ replicas: 1 }, stalled, 3) as never, { now }).phase).toBe(
      'Progressing',
    );
  });

  it('an operator-side deadline fails a rollout that progresses too long', () => {
    const sts = {
      kind: 'StatefulSet',
      metadata: { generation: 4 },
      spec: { replicas: 3 },
      status: {
        observedGeneration: 4,
        updateRevision: 'b',
        currentRevision: 'a',
        updatedReplicas: 1,
      },
    };
    expect(rolloutState(sts, { now, changedAt: now - 5_000, deadlineMs: 10_000 }).phase).toBe(
      'Progressing',
    );
    const failed = rolloutState(sts, { now, changedAt: now - 11_000, deadlineMs: 10_000 });
    expect(failed.phase).toBe('Failed');
    expect(failed.message).toBe(
      'rollout not finished 10s after the change: 1 of 3 replicas updated',
    );
  });

  it('StatefulSet and DaemonSet: OnDelete holds no slot; partitions and availability count', () => {
    expect(
      rolloutState(
        { kind: 'StatefulSet', metadata: {}, spec: { updateStrategy: { type: 'OnDelete' } } },
        { now },
      ).phase,
    ).toBe('OnDelete');
    expect(
      rolloutState(
        { kind: 'DaemonSet', metadata: {}, spec: { updateStrategy: { type: 'OnDelete' } } },
        { now },
      ).phase,
    ).toBe('OnDelete');
    const partitioned = {
      kind: 'StatefulSet',
      metadata: { generation: 1 },
      spec: {
        replicas: 3,
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } },
      },
      status: {
        observedGeneration: 1,
        updatedReplicas: 1,
        readyReplicas: 3,
        updateRevision: 'b',
        currentRevision: 'a',
      },
    };
    expect(rolloutState(partitioned, { now }).phase).toBe('Complete');
    const ds = (status: object): object => ({
      kind: 'DaemonSet',
      metadata: { generation: 1 },
      spec: {},
      status,
    });
    expect(
      rolloutState(
        ds({
          observedGeneration: 1,
          desiredNumberScheduled: 3,
          updatedNumberScheduled: 2,
        }) as never,
        { now },
      ).message,
    ).toBe('2 of 3 pods updated');
    expect(
      rolloutState(
        ds({
          observedGeneration: 1,
          desiredNumberScheduled: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 3,
        }) as never,
        { now },
      ).phase,
    ).toBe('Complete');
  });
});

describe('RolloutLimiter', () => {
  it('enforces the per-monitor and the global limit, and wakes waiters when a slot frees', () => {
    const woken: string[][] = [];
    const l = new RolloutLimiter({
      globalMax: 3,
      now: () => now,
      onSlotFreed: (w) => woken.push(w),
    });
    expect(l.tryAcquire('ns/a1', 'A', 2)).toBe(true);
    expect(l.tryAcquire('ns/a2', 'A', 2)).toBe(true);
    expect(l.tryAcquire('ns/a3', 'A', 2)).toBe(false);
    expect(l.tryAcquire('ns/a1', 'A', 2)).toBe(true);
    expect(l.tryAcquire('ns/b1', 'B', 0)).toBe(true);
    expect(l.tryAcquire('ns/b2', 'B', 0)).toBe(false);
    expect(l.holding()).toBe(3);
    expect(l.holding('A')).toBe(2);
    expect(l.waiting).toBe(2);
    l.release('ns/a1');
    expect(woken).toEqual([['ns/a3', 'ns/b2']]);
    expect(l.tryAcquire('ns/b2', 'B', 0)).toBe(true);
    expect(l.tryAcquire('ns/a3', 'A', 2)).toBe(false);
  });

  it('says what blocks a slot: the monitor limit or the operator one, and who holds it', () => {
    const l = new RolloutLimiter({ globalMax: 2, now: () => now });
    expect(l.blockedBy('A', 1)).toBeUndefined();
    expect(l.tryAcquire('ns/db', 'A', 1)).toBe(true);
    expect(l.blockedBy('A', 1)).toEqual({ limit: 'monitor', max: 1, holders: ['ns/db'] });
    expect(l.tryAcquire('ns/x', 'B', 5)).toBe(true);
    expect(l.blockedBy('C', 5)).toEqual({ limit: 'operator', max: 2, holders: ['ns/db', 'ns/x'] });
  });

  it('releases a slot only once the cache shows our generation done', () => {
    const l = new RolloutLimiter({ now: () => now });
    expect(l.tryAcquire('w', 'A', 1)).toBe(true);
    l.written('w', 5);
    l.observe('w', 'Complete', 4);
    expect(l.holds('w')).toBe(true);
    l.observe('w', 'Progressing', 5);
    expect(l.holds('w')).toBe(true);
    l.observe('w', 'Complete', 5);
    expect(l.holds('w')).toBe(false);
    expect(l.tryAcquire('w2', 'A', 1)).toBe(true);
    l.written('w2', 1);
    l.observe('w2', 'Failed', 1);
    expect(l.holding('A')).toBe(0);
  });

  it('adopts rollouts found running after a restart', () => {
    const l = new RolloutLimiter({ now: () => now });
    l.adopt('w1', 'A', 3);
    l.adopt('w1', 'A', 3);
    expect(l.holding('A')).toBe(1);
    expect(l.tryAcquire('w2', 'A', 1)).toBe(false);
    expect(l.since('w1')).toBe(now);
  });
});
