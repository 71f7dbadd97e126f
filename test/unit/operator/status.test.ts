import { describe, expect, it } from 'vitest';
import type { SidecarMonitor } from '../../../operator/api/v1alpha1.ts';
import { desiredPodMonitor } from '../../../operator/controller/podmonitor.ts';
import {
  buildStatus,
  deletionSummary,
  sameStatus,
  type WorkloadRecord,
} from '../../../operator/controller/status.ts';

function monitor(
  name: string,
  created: string,
  spec: Partial<SidecarMonitor['spec']> = {},
  extra: object = {},
): SidecarMonitor {
  return {
    apiVersion: 'sidecarmonitor.io/v1alpha1',
    kind: 'SidecarMonitor',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, creationTimestamp: created, ...extra },
    spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
  };
}

describe('desiredPodMonitor', () => {
  it('selects the injected pods by label, scrapes the named port with honorLabels, and is owned by the monitor', () => {
    const m = monitor('web', '2026-01-01T00:00:00Z', {
      prometheus: {
        podMonitorLabels: {
          release: 'kube-prometheus-stack',
          'sidecarmonitor.io/monitor': 'spoof',
        },
      },
    });
    expect(desiredPodMonitor(m)).toEqual({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: {
        name: 'sidecar-monitor-web',
        namespace: 'ns',
        labels: {
          release: 'kube-prometheus-stack',
          'app.kubernetes.io/managed-by': 'sidecar-monitor',
          'sidecarmonitor.io/monitor': 'web',
        },
        ownerReferences: [
          {
            apiVersion: 'sidecarmonitor.io/v1alpha1',
            kind: 'SidecarMonitor',
            name: 'web',
            uid: 'uid-web',
            controller: true,
          },
        ],
      },
      spec: {
        selector: { matchLabels: { 'sidecarmonitor.io/monitor': 'web' } },
        podMetricsEndpoints: [{ port: 'smon-metrics', path: '/metrics', honorLabels: true }],
      },
    });
  });
});

describe('buildStatus', () => {
  const t1 = new Date('2026-01-01T00:00:00Z');
  const t2 = new Date('2026-01-01T00:05:00Z');
  const rec = (
    name: string,
    state: WorkloadRecord['state'],
    injected: boolean,
    extra: Partial<WorkloadRecord> = {},
  ): WorkloadRecord => ({
    kind: 'Deployment',
    name,
    state,
    injected,
    ...extra,
  });

  it('is Ready when every matched workload is injected and rolled out; counts skips', () => {
    const s = buildStatus({
      generation: 3,
      previous: undefined,
      workloads: [rec('b', 'Injected', true), rec('a', 'Skipped', false, { reason: 'OptedOut' })],
      now: t1,
    });
    expect(s).toMatchObject({
      observedGeneration: 3,
      matchedWorkloads: 2,
      injectedWorkloads: 1,
      skippedWorkloads: 1,
    });
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'Injected'],
      ['Degraded', 'False', 'AsExpected'],
      ['Conflict', 'False', 'NoConflict'],
    ]);
    expect(s.workloads?.map((w) => w.name)).toEqual(['a', 'b']);
    expect(s.workloads?.[0]).not.toHaveProperty('injected');
  });

  it('lists workloads needing attention first, and reports conflicts and failures', () => {
    const s = buildStatus({
      generation: 1,
      previous: undefined,
      workloads: [
        rec('ok', 'Injected', true),
        rec('rolling', 'RollingOut', true),
        rec('other', 'Conflict', false, {
          reason: 'MonitorConflict',
          message: 'selected by older monitor first',
        }),
        rec('stuck', 'RolloutFailed', true, { message: 'progress deadline exceeded' }),
      ],
      now: t1,
    });
    expect(s.workloads?.map((w) => w.name)).toEqual(['stuck', 'other', 'rolling', 'ok']);
    const byType = Object.fromEntries((s.conditions ?? []).map((c) => [c.type, c]));
    expect(byType.Ready).toMatchObject({ status: 'False', reason: 'RolloutFailed' });
    expect(byType.Degraded).toMatchObject({ status: 'True', reason: 'RolloutFailed' });
    expect(byType.Conflict).toMatchObject({
      status: 'True',
      message: 'Deployment/other: selected by older monitor first',
    });
  });

  it('reports an invalid spec as Degraded, and keeps transition times while statuses hold', () => {
    const first = buildStatus({
      generation: 2,
      previous: undefined,
      workloads: [],
      invalid: 'spec.x: bad',
      now: t1,
    });
    const again = buildStatus({
      generation: 2,
      previous: first,
      workloads: [],
      invalid: 'spec.x: bad',
      now: t2,
    });
    expect(sameStatus(first, again)).toBe(true);
    expect(again.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'InvalidSpec',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    });
    const fixed = buildStatus({ generation: 3, previous: again, workloads: [], now: t2 });
    expect(fixed.conditions?.find((c) => c.type === 'Degraded')?.lastTransitionTime).toBe(
      '2026-01-01T00:05:00Z',
    );
    expect(sameStatus(again, fixed)).toBe(false);
  });

  it('while deleting: a Deleting condition and Ready False say what is left and what it waits for', () => {
    const slot = 'waiting for a rollout slot: this monitor rolls at most 1 workload(s) at once';
    const remaining = [
      rec('a', 'Pending', true, { reason: 'WaitingForRolloutSlot', message: slot }),
      rec('b', 'Pending', true, { reason: 'WaitingForRolloutSlot', message: slot }),
      rec('c', 'Pending', true, { reason: 'NotReconciledYet' }),
    ];
    const rolling = [
      {
        ...rec('db', 'RollingOut', false),
        kind: 'StatefulSet' as const,
        reason: 'InjectionRemoved',
      },
    ];
    const summary = deletionSummary(remaining, rolling);
    expect(summary).toBe(
      `3 workload(s) still carry the exporter; the finalizer is removed once every pod template is restored. Deployment/a, Deployment/b: ${slot}; Deployment/c: NotReconciledYet. Restored, still rolling out: StatefulSet/db`,
    );
    const s = buildStatus({
      generation: 4,
      previous: undefined,
      workloads: [...remaining, ...rolling],
      deleting: summary,
      now: t1,
    });
    const byType = Object.fromEntries((s.conditions ?? []).map((c) => [c.type, c]));
    expect(byType.Deleting).toMatchObject({
      status: 'True',
      reason: 'RemovingInjections',
      message: summary,
      observedGeneration: 4,
    });
    expect(byType.Ready).toMatchObject({ status: 'False', reason: 'Deleting', message: summary });
    expect(s).toMatchObject({ matchedWorkloads: 4, injectedWorkloads: 3 });
    // Without deletion there is no Deleting condition at all.
    const plain = buildStatus({ generation: 4, previous: undefined, workloads: [], now: t1 });
    expect(plain.conditions?.map((c) => c.type)).toEqual(['Ready', 'Degraded', 'Conflict']);
  });

  it('caps the listed workloads at 1000 but counts all', () => {
    const many = Array.from({ length: 1200 }, (_, i) => rec(`w${i}`, 'Injected', true));
    const s = buildStatus({ generation: 1, previous: undefined, workloads: many, now: t1 });
    expect(s.workloads).toHaveLength(1000);
    expect(s.injectedWorkloads).toBe(1200);
  });

  it('sameStatus ignores key order', () => {
    expect(
      sameStatus(
        { matchedWorkloads: 1, injectedWorkloads: 2 },
        { injectedWorkloads: 2, matchedWorkloads: 1 },
      ),
    ).toBe(true);
  });
});
