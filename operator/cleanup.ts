// `sidecar-monitor cleanup`: undo everything the operator did, for uninstalling. It
// gives up every field the operator's field manager owns on every workload (the API
// server then removes those only we held, exactly as when a monitor is deleted), drops
// the operator's finalizer from every SidecarMonitor, and deletes their PodMonitors.
// Run it after stopping the operator (helm uninstall), or it would inject again.
import type { Logger } from 'pino';
import { FIELD_MANAGER } from './api/constants.ts';
import { currentInjection } from './controller/injection.ts';
import { MONITOR_RESOURCE } from './controller/monitors.ts';
import { podMonitorName } from './controller/podmonitor.ts';
import { RESOURCE_OF_KIND } from './controller/workloads.ts';
import type { KubeClient } from './kube/client.ts';
import { isApiError, KubeApiError } from './kube/errors.ts';
import {
  collectionPath,
  type KubeObject,
  objectPath,
  PODMONITORS,
  type ResourceType,
} from './kube/resources.ts';
import { FINALIZER } from './manager.ts';

export interface CleanupOptions {
  client: KubeClient;
  logger: Logger;
  /** Limit to these namespaces; empty: all. */
  namespaces: readonly string[];
  dryRun: boolean;
}

export interface CleanupReport {
  workloadsRestored: string[];
  /** Carry an injection that another field manager applied (e.g. rendered by `inject`). */
  notOurs: string[];
  finalizersRemoved: string[];
  podMonitorsDeleted: string[];
  failures: string[];
}

async function listAll(
  client: KubeClient,
  r: ResourceType,
  namespaces: readonly string[],
): Promise<KubeObject[]> {
  const scopes = namespaces.length === 0 ? [undefined] : namespaces;
  const out: KubeObject[] = [];
  for (const ns of scopes) {
    let cont: string | undefined;
    do {
      const page = await client.list(collectionPath(r, ns), {
        limit: 500,
        ...(cont ? { continue: cont } : {}),
      });
      for (const item of page.items) {
        const obj = item as KubeObject;
        obj.apiVersion ??= r.group === '' ? r.version : `${r.group}/${r.version}`;
        obj.kind ??= r.kind;
        out.push(obj);
      }
      cont = page.continue;
    } while (cont);
  }
  return out;
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

  let monitors: KubeObject[] = [];
  try {
    monitors = await listAll(client, MONITOR_RESOURCE, o.namespaces);
  } catch (err) {
    if (!isApiError(err, 'not-found')) throw err;
    logger.info('the SidecarMonitor CRD is not installed; no monitors to clean up');
  }
  for (const m of monitors) {
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
    for (const w of await listAll(client, resource, o.namespaces)) {
      const id = `${resource.kind}/${w.metadata.namespace ?? ''}/${w.metadata.name}`;
      if (!ownedByUs(w)) {
        if (currentInjection(w).present) report.notOurs.push(id);
        continue;
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
  }
  return report;
}
