// Kubernetes Events on the workloads the operator changes (what `kubectl describe`
// shows). Best effort: a failed event never fails a reconcile. Identical events for one
// object are sent once per window, so a reconcile retry cannot flood the namespace.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { KubeClient } from './kube/client.ts';
import { collectionPath, EVENTS, type KubeObject } from './kube/resources.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(obj: KubeObject, type: EventType, reason: string, message: string): void;
}

export interface RecorderOptions {
  client: KubeClient;
  clock: Clock;
  logger: Logger;
  component: string;
  instance: string;
  dedupWindowMs?: number;
}

const MAX_REMEMBERED = 10_000;

export function createEventRecorder(o: RecorderOptions): EventRecorder {
  const recent = new Map<string, number>();
  const window = o.dedupWindowMs ?? 10 * 60_000;
  return {
    record(obj, type, reason, message) {
      const ns = obj.metadata.namespace ?? 'default';
      const now = o.clock.now();
      const key = `${obj.metadata.uid ?? `${ns}/${obj.metadata.name}`}|${reason}|${message}`;
      const last = recent.get(key);
      if (last !== undefined && now - last < window) return;
      recent.set(key, now);
      if (recent.size > MAX_REMEMBERED) {
        for (const [k, t] of recent)
          if (now - t >= window || recent.size > MAX_REMEMBERED) recent.delete(k);
      }
      const time = new Date(now).toISOString();
      const event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: {
          name: `${obj.metadata.name}.${now.toString(16)}${randomBytes(4).toString('hex')}`,
          namespace: ns,
        },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          namespace: ns,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: o.component },
        reportingComponent: o.component,
        reportingInstance: o.instance,
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      };
      o.client.create(collectionPath(EVENTS, ns), event).catch((err: unknown) => {
        o.logger.warn(
          {
            err: (err as Error).message,
            kind: obj.kind,
            namespace: ns,
            name: obj.metadata.name,
            reason,
          },
          'could not record event',
        );
      });
    },
  };
}
