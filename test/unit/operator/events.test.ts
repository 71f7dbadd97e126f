// The event recorder's queue: one create in flight, duplicates suppressed, a bounded
// backlog that drops rather than grows. The client is a stand-in whose creates resolve
// when the test says so (this is queueing logic, not API behaviour).
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createEventRecorder } from '../../../operator/controller/events.ts';
import type { KubeClient } from '../../../operator/kube/client.ts';
import type { KubeObject } from '../../../operator/kube/resources.ts';
import { FakeClock } from './fake-clock.ts';

function gatedClient() {
  const created: { path: string; reason: unknown }[] = [];
  const gates: (() => void)[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    create: (path: string, body: { reason?: unknown }) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise((resolve) => {
        gates.push(() => {
          inFlight--;
          created.push({ path, reason: body.reason });
          resolve(body);
        });
      });
    },
  } as unknown as KubeClient;
  return {
    client,
    created,
    maxInFlight: () => maxInFlight,
    /** Lets every create sent so far finish, and the ones they make room for, until idle. */
    async settle(): Promise<void> {
      for (let i = 0; i < 5000 && (gates.length > 0 || inFlight > 0); i++) {
        gates.shift()?.();
        await new Promise((r) => setImmediate(r));
      }
    },
  };
}

const workload = (name: string): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'shop', uid: `uid-${name}` },
});

function recorder(client: KubeClient) {
  return createEventRecorder({
    client,
    clock: new FakeClock(),
    logger: pino({ level: 'silent' }),
    component: 'sidecar-monitor',
    instance: 'test',
  });
}

describe('createEventRecorder', () => {
  it('writes events one at a time, all of them, and an identical one only once', async () => {
    const api = gatedClient();
    const r = recorder(api.client);
    for (let i = 0; i < 20; i++) r.record(workload(`w${i}`), 'Normal', 'Injected', 'injected');
    r.record(workload('w0'), 'Normal', 'Injected', 'injected');
    await api.settle();
    expect(api.maxInFlight()).toBe(1);
    expect(api.created).toHaveLength(20);
    expect(api.created[0]).toEqual({
      path: '/api/v1/namespaces/shop/events',
      reason: 'Injected',
    });
  });

  it('drops events beyond a bounded backlog instead of growing without limit', async () => {
    const api = gatedClient();
    const r = recorder(api.client);
    for (let i = 0; i < 1500; i++) r.record(workload(`w${i}`), 'Normal', 'Injected', 'injected');
    await api.settle();
    // One was taken off the queue at once, a thousand waited, the rest were dropped.
    expect(api.created).toHaveLength(1001);
    // After the backlog drained, events flow again.
    r.record(workload('late'), 'Normal', 'Injected', 'injected');
    await api.settle();
    expect(api.created).toHaveLength(1002);
  });
});
