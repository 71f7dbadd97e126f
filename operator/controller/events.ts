// Kubernetes Events on the workloads the operator changes (what `kubectl describe`
// shows). Best effort: a failed event never fails a reconcile. Identical events for one
// object are sent once per window, so a reconcile retry cannot flood the namespace.
// Events are written one at a time from a bounded queue, dropped when it is full, as
// client-go's broadcaster does: a thousand workloads injected at once must not send a
// thousand concurrent creates to the API server the injections themselves need (the
// operator benchmark measured them as most of the operator's cost over the floor).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../runtime/clock.ts';
import type { KubeClient } from '../kube/client.ts';
import { collectionPath, EVENTS, type KubeObject } from '../kube/resources.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(obj: KubeObject, type: EventType, reason: string, message: string): void;
}

export interface RecorderOptions {
  client: Pick<KubeClient, 'create'>;
  clock: Clock;
  logger: Logger;
  component: string;
  instance: string;
  dedupWindowMs?: number;
}

const MAX_REMEMBERED = 10_000;
const MAX_PENDING = 1_000;

interface Pending {
  namespace: string;
  event: KubeObject;
  about: Record<string, unknown>;
}

export function createEventRecorder(o: RecorderOptions): EventRecorder {
  const recent = new Map<string, number>();
  const window = o.dedupWindowMs ?? 10 * 60_000;
  const pending: Pending[] = [];
  let writing = false;
  let dropped = 0;
  const drain = async (): Promise<void> => {
    writing = true;
    for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
      try {
        await o.client.create(collectionPath(EVENTS, next.namespace), next.event);
      } catch (err) {
        o.logger.warn({ err: (err as Error).message, ...next.about }, 'could not record event');
      }
    }
    writing = false;
  };
  const enqueue = (item: Pending): void => {
    if (pending.length >= MAX_PENDING) {
      if (dropped++ === 0) o.logger.warn(item.about, 'event queue full; dropping events');
      return;
    }
    if (dropped > 0) {
      o.logger.warn({ dropped }, 'events dropped while the queue was full');
      dropped = 0;
    }
    pending.push(item);
    if (!writing) void drain();
  };
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
      enqueue({
        namespace: ns,
        event,
        about: { kind: obj.kind, namespace: ns, name: obj.metadata.name, reason },
      });
    },
  };
}
