// `sidecar-monitor cleanup`: undo everything the operator did, for uninstalling. It
// gives up every field the operator's field manager owns on every workload (the API
// server then removes those only we held, exactly as when a monitor is deleted), drops
// the operator's finalizer from every SidecarMonitor, and deletes their PodMonitors.
// Run it after stopping the operator (helm uninstall), or it would inject again.
import type { Logger } from 'pino';
import { FIELD_MANAGER } from '../api/constants.ts';
import { currentInjection } from '../controller/injection.ts';
import { MONITOR_RESOURCE } from '../controller/monitors.ts';
import { podMonitorName } from '../controller/podmonitor.ts';
import { RESOURCE_OF_KIND } from '../controller/workloads.ts';
import type { KubeClient, ListPage } from '../kube/client.ts';
import { isApiError, KubeApiError } from '../kube/errors.ts';
import {
  collectionPath,
  type KubeObject,
  objectPath,
  PODMONITORS,
  type ResourceType,
} from '../kube/resources.ts';
import { FINALIZER } from '../manager/manager.ts';

export interface CleanupOptions {
  client: KubeClient;
  logger: Logger;
  /** Limit to these namespaces; empty: all. */
  namespaces: readonly string[];
  dryRun: boolean;
  /** Objects per list page (default 500). */
  pageSize?: number;
}

export interface CleanupReport {
  workloadsRestored: string[];
  /** Carry an injection that another field manager applied (e.g. rendered by `inject`). */
  notOurs: string[];
  finalizersRemoved: string[];
  podMonitorsDeleted: string[];
  failures: string[];
}

/** Objects per list page: one page at a time is held, never the whole fleet. */
const PAGE_SIZE = 500;
/** Restarts of one list after expired continue tokens before giving up. */
const MAX_RESTARTS = 5;

/**
 * Calls fn for every object of the resource, page by page, each page dropped once handled
 * (workloads carry their managedFields: thousands of them do not fit in memory at once).
 * A continue token that expired (410, etcd compacted meanwhile) restarts the list from
 * the beginning, skipping the objects already handled, where client-go's pager would fall
 * back to one unpaginated list; cleanup's steps are idempotent, so a fresh pass is safe.
 */
export async function forEachObject(
  client: KubeClient,
  r: ResourceType,
  namespaces: readonly string[],
  fn: (obj: KubeObject) => Promise<void>,
  options: { pageSize?: number; logger?: Logger } = {},
): Promise<void> {
  const scopes = namespaces.length === 0 ? [undefined] : namespaces;
  const seen = new Set<string>();
  for (const ns of scopes) {
    let restarts = 0;
    let cont: string | undefined;
    for (;;) {
      let page: ListPage;
      try {
        page = await client.list(collectionPath(r, ns), {
          limit: options.pageSize ?? PAGE_SIZE,
          ...(cont ? { continue: cont } : {}),
        });
      } catch (err) {
        if (!cont || !isApiError(err, 'gone') || restarts >= MAX_RESTARTS) throw err;
        restarts++;
        options.logger?.warn(
          { resource: r.kind, namespace: ns, restarts },
          'the list expired between pages (410); listing again from the start',
        );
        cont = undefined;
        continue;
      }
      for (const item of page.items) {
        const obj = item as KubeObject;
        const uid = obj.metadata.uid ?? `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
        if (seen.has(uid)) continue;
        seen.add(uid);
        obj.apiVersion ??= r.group === '' ? r.version : `${r.group}/${r.version}`;
        obj.kind ??= r.kind;
        await fn(obj);
      }
      cont = page.continue;
      if (!cont) break;
    }
  }
}

/** Whether our field manager owns anything in the object. */
function ownedByUs(obj: KubeObject): boolean {
  return (obj.metadata.managedFields ?? []).some(
    (f) => (f as { manager?: string }).manager === FIELD_MANAGER,
  );
}

export async function cleanup(o: CleanupOptions): Promise<CleanupReport> {
  const report: CleanupReport = {
    workloadsRestored: [],
    notOurs: [],
    finalizersRemoved: [],
    podMonitorsDeleted: [],
    failures: [],
  };
  const { client, logger } = o;
  const attempt = async (
    what: string,
    fn: () => Promise<void>,
  ): Promise<'done' | 'absent' | 'failed'> => {
    if (o.dryRun) return 'done';
    try {
      await fn();
      return 'done';
    } catch (err) {
      if (isApiError(err, 'not-found')) return 'absent';
      const message = err instanceof KubeApiError ? err.message : String(err);
      report.failures.push(`${what}: ${message}`);
      logger.error({ err: message }, `${what} failed`);
      return 'failed';
    }
  };

  const paging = { logger, ...(o.pageSize ? { pageSize: o.pageSize } : {}) };
  try {
    await forEachObject(
      client,
      MONITOR_RESOURCE,
      o.namespaces,
      async (m) => {
        await releaseMonitor(m);
      },
      paging,
    );
  } catch (err) {
    if (!isApiError(err, 'not-found')) throw err;
    logger.info('the SidecarMonitor CRD is not installed; no monitors to clean up');
  }

  async function releaseMonitor(m: KubeObject): Promise<void> {
    const id = `${m.metadata.namespace ?? ''}/${m.metadata.name}`;
    const path = objectPath(MONITOR_RESOURCE, m.metadata.namespace, m.metadata.name);
    if (m.metadata.finalizers?.includes(FINALIZER)) {
      const ok = await attempt(`removing the finalizer of SidecarMonitor ${id}`, async () => {
        const finalizers = m.metadata.finalizers ?? [];
        await client.jsonPatch(path, [
          { op: 'test', path: '/metadata/finalizers', value: finalizers },
          {
            op: 'replace',
            path: '/metadata/finalizers',
            value: finalizers.filter((f) => f !== FINALIZER),
          },
        ]);
      });
      if (ok === 'done') report.finalizersRemoved.push(id);
    }
    const pmName = podMonitorName(m.metadata.name);
    const pmPath = objectPath(PODMONITORS, m.metadata.namespace, pmName);
    const deleted = await attempt(
      `deleting PodMonitor ${m.metadata.namespace ?? ''}/${pmName}`,
      async () => {
        await client.delete(pmPath);
      },
    );
    if (deleted === 'done' && !o.dryRun) {
      report.podMonitorsDeleted.push(`${m.metadata.namespace ?? ''}/${pmName}`);
    }
  }

  for (const resource of Object.values(RESOURCE_OF_KIND)) {
    await forEachObject(
      client,
      resource,
      o.namespaces,
      async (w) => {
        await restore(resource, w);
      },
      paging,
    );
  }

  async function restore(resource: ResourceType, w: KubeObject): Promise<void> {
    const id = `${resource.kind}/${w.metadata.namespace ?? ''}/${w.metadata.name}`;
    if (!ownedByUs(w)) {
      if (currentInjection(w).present) report.notOurs.push(id);
      return;
    }
    const ok = await attempt(`restoring ${id}`, async () => {
      await client.apply(
        objectPath(resource, w.metadata.namespace, w.metadata.name),
        {
          apiVersion: w.apiVersion,
          kind: w.kind,
          metadata: { name: w.metadata.name, namespace: w.metadata.namespace },
        },
        { fieldManager: FIELD_MANAGER },
      );
    });
    if (ok === 'done') {
      report.workloadsRestored.push(id);
      logger.info(
        { kind: resource.kind, namespace: w.metadata.namespace, name: w.metadata.name },
        o.dryRun ? 'would restore' : 'restored',
      );
    }
  }
  return report;
}
