// Drops the operator's finalizer from every SidecarMonitor (in the given namespaces, or
// all), touching nothing else: what the uninstall hook does once the operator has
// stopped, so deleting a monitor, its namespace or the CRD never waits for an operator
// that is gone. Injections stay as they are (`sidecar-monitor cleanup` removes them).
import type { Logger } from 'pino';
import type { KubeApi } from '../kube/api.ts';
import { isApiError, KubeApiError } from '../kube/errors.ts';
import { collectionPath, type KubeObject, objectPath } from '../kube/resources.ts';
import { MONITOR_RESOURCE } from './monitors.ts';

export interface ReleaseOptions {
  client: Pick<KubeApi, 'list' | 'jsonPatch'>;
  logger: Logger;
  finalizer: string;
  /** Empty: every namespace. */
  namespaces: readonly string[];
  signal?: AbortSignal;
}

export interface ReleaseReport {
  released: string[];
  failures: string[];
}

const ATTEMPTS = 5;

export async function releaseFinalizers(o: ReleaseOptions): Promise<ReleaseReport> {
  const report: ReleaseReport = { released: [], failures: [] };
  const scopes = o.namespaces.length === 0 ? [undefined] : o.namespaces;
  for (const ns of scopes) {
    let cont: string | undefined;
    do {
      o.signal?.throwIfAborted();
      let page;
      try {
        page = await o.client.list(
          collectionPath(MONITOR_RESOURCE, ns),
          { limit: 500, ...(cont ? { continue: cont } : {}) },
          o.signal,
        );
      } catch (err) {
        // The CRD is gone already: no monitor can hold anything up.
        if (isApiError(err, 'not-found')) break;
        throw err;
      }
      for (const item of page.items) {
        const m = item as KubeObject;
        if (!m.metadata.finalizers?.includes(o.finalizer)) continue;
        const id = `${m.metadata.namespace ?? ''}/${m.metadata.name}`;
        try {
          if (await release(o, m)) {
            report.released.push(id);
            o.logger.info(
              { namespace: m.metadata.namespace, name: m.metadata.name },
              'finalizer released',
            );
          }
        } catch (err) {
          const message = err instanceof KubeApiError ? err.message : String(err);
          report.failures.push(`${id}: ${message}`);
          o.logger.error(
            { err: message, namespace: m.metadata.namespace, name: m.metadata.name },
            'could not release the finalizer',
          );
        }
      }
      cont = page.continue;
    } while (cont);
  }
  return report;
}

/** Removes the finalizer by index, guarded by a test so a concurrent change is kept. */
async function release(o: ReleaseOptions, monitor: KubeObject): Promise<boolean> {
  const ns = monitor.metadata.namespace ?? '';
  const path = objectPath(MONITOR_RESOURCE, ns, monitor.metadata.name);
  let current: KubeObject | undefined = monitor;
  for (let attempt = 1; ; attempt++) {
    const index = current?.metadata.finalizers?.indexOf(o.finalizer) ?? -1;
    if (!current || index < 0) return false;
    try {
      await o.client.jsonPatch(path, [
        { op: 'test', path: `/metadata/finalizers/${index}`, value: o.finalizer },
        { op: 'remove', path: `/metadata/finalizers/${index}` },
      ]);
      return true;
    } catch (err) {
      if (isApiError(err, 'not-found')) return false;
      // The list changed under us (the test failed): read the monitor again.
      const stale = isApiError(err, 'invalid') || isApiError(err, 'conflict');
      if (!stale || attempt >= ATTEMPTS) throw err;
      const again = await o.client.list(
        collectionPath(MONITOR_RESOURCE, ns),
        { fieldSelector: `metadata.name=${monitor.metadata.name}` },
        o.signal,
      );
      current = again.items[0] as KubeObject | undefined;
    }
  }
}
