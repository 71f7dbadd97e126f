// Scenario 9: two operator replicas under Lease-based leader election.
import { expect, test } from 'vitest';
import { testCluster } from '../cluster/harness.ts';
import {
  deployment,
  injected,
  monitor,
  ref,
  startOperator,
  useOperatorInstall,
} from './support.ts';

const cluster = testCluster();
const install = useOperatorInstall(cluster);

// Short timings so the test is quick; the defaults are 15 s / 10 s / 2 s.
const timing = ['--lease-duration', '6', '--renew-deadline', '4', '--retry-period', '1'];
const LEASE_MS = 6000;

interface Lease {
  spec?: { holderIdentity?: string | null; leaseTransitions?: number };
}

test('only the Lease holder writes; killing it hands over within the lease duration; SIGTERM releases at once', async () => {
  await using ns = await cluster.namespace('leader');
  const leaseRef = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    namespace: install().namespace.name,
    name: install().fullname,
  };
  const opts = { install: install(), namespaces: [ns.name], args: timing };
  await using one = await startOperator({ ...opts, identity: 'replica-one' });
  await using two = await startOperator({ ...opts, identity: 'replica-two', wait: 'ready' });
  expect(((await cluster.get(leaseRef)) as Lease).spec?.holderIdentity).toBe('replica-one');
  expect(await one.metric('sidecar_monitor_operator_leader')).toBe(1);
  expect(await two.metric('sidecar_monitor_operator_leader')).toBe(0);

  await cluster.apply([
    deployment(ns.name, 'a', { monitored: 'true' }),
    monitor(ns.name, 'mon', { rollout: { maxConcurrent: 5 } }),
  ]);
  await cluster.waitForObject(ref('Deployment', ns.name, 'a'), injected);
  expect(await one.metric('sidecar_monitor_operator_workload_writes_total')).toBe(1);
  // The standby never even started its informers, let alone wrote.
  expect(await two.metric('sidecar_monitor_operator_workload_writes_total')).toBe(0);
  expect(two.logs.some((l) => l.msg === 'caches synced; reconciling')).toBe(false);

  // The leader dies without a word: the standby takes over once the lease expires.
  const killedAt = Date.now();
  await one.kill('SIGKILL');
  await two.waitForLog(
    'taking the lease',
    (l) => l.msg === 'acquired the lease',
    LEASE_MS + 20_000,
  );
  const handover = Date.now() - killedAt;
  // The lease duration plus the standby's retry period (with jitter) bounds it.
  expect(handover).toBeLessThan(LEASE_MS + 5000);
  expect(handover).toBeGreaterThan(LEASE_MS - 2000);
  await two.waitForLog('caches synced', (l) => l.msg === 'caches synced; reconciling');
  const lease = (await cluster.get(leaseRef)) as Lease;
  expect(lease.spec?.holderIdentity).toBe('replica-two');
  expect(lease.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);
  await cluster.apply(deployment(ns.name, 'b', { monitored: 'true' }));
  await cluster.waitForObject(ref('Deployment', ns.name, 'b'), injected);

  // A clean shutdown gives the lease up: a new replica takes it at once, not after expiry.
  await using three = await startOperator({ ...opts, identity: 'replica-three', wait: 'ready' });
  const stoppedAt = Date.now();
  const exit = await two.kill('SIGTERM');
  const stopMs = Date.now() - stoppedAt;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(stopMs).toBeLessThan(5000);
  expect(two.logs.some((l) => l.msg === 'released the lease')).toBe(true);
  await three.waitForLog('taking the lease', (l) => l.msg === 'acquired the lease', 10_000);
  expect(Date.now() - stoppedAt).toBeLessThan(LEASE_MS);
});

test('a leader frozen past its renew deadline (SIGSTOP) sends nothing when it wakes: it steps down before writing', async () => {
  // The frozen leader watches one namespace, its successor another: whatever the frozen
  // one finds to do when it wakes is work nobody else would do, so any write would show.
  await using mine = await cluster.namespace('frozen');
  await using theirs = await cluster.namespace('successor');
  const opts = { install: install(), args: timing };
  await using frozen = await startOperator({
    ...opts,
    namespaces: [mine.name],
    identity: 'frozen',
  });
  await using successor = await startOperator({
    ...opts,
    namespaces: [theirs.name],
    identity: 'successor',
    wait: 'ready',
  });

  process.kill(frozen.pid, 'SIGSTOP');
  let resumed = false;
  try {
    await successor.waitForLog(
      'taking the lease',
      (l) => l.msg === 'acquired the lease',
      LEASE_MS + 30_000,
    );
    // Work for the frozen leader piles up in its watch connections meanwhile.
    await cluster.apply([
      deployment(mine.name, 'web', { monitored: 'true' }),
      monitor(mine.name, 'mon'),
    ]);
    await new Promise((r) => setTimeout(r, 2000));
    process.kill(frozen.pid, 'SIGCONT');
    resumed = true;
  } finally {
    if (!resumed) process.kill(frozen.pid, 'SIGCONT');
  }

  const exit = await frozen.exited;
  // Nothing was written: no finalizer on the monitor, no injection, no field of ours.
  const m = await cluster.get(ref('SidecarMonitor', mine.name, 'mon'));
  expect(m.metadata.finalizers ?? []).toEqual([]);
  expect(m.status).toBeUndefined();
  const web = await cluster.get(ref('Deployment', mine.name, 'web'));
  expect(injected(web)).toBe(false);
  expect((web.metadata.managedFields ?? []).map((f) => f.manager)).not.toContain('sidecar-monitor');
  const lease = (await cluster.get({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    namespace: install().namespace.name,
    name: install().fullname,
  })) as Lease;
  expect(lease.spec?.holderIdentity).toBe('successor');
  expect(exit.code).toBe(1);
  expect(
    frozen.logs.some((l) => l.msg === 'could not renew the lease in time; stopped leading'),
  ).toBe(true);
});
