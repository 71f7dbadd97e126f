// `sidecar-monitor cleanup`: remove every injection from the cluster (before uninstalling).
import { parseArgs } from 'node:util';
import pino from 'pino';
import { cleanup } from './cleanup.ts';
import { KubeClient } from './kube/client.ts';
import { loadAccess } from './kube/kubeconfig.ts';
import { readVersion } from './version.ts';

const USAGE = `usage: sidecar-monitor cleanup [flags]

Removes every injection the operator made (every field its field manager owns on
Deployments, StatefulSets and DaemonSets), the operator's finalizer from every
SidecarMonitor, and their PodMonitors. Stop the operator first (helm uninstall), or it
injects again. Each restored workload rolls out its pods once.

flags:
  --kubeconfig PATH     kubeconfig (default: in-cluster, else $KUBECONFIG or ~/.kube/config)
  --namespace NS        only this namespace (repeatable; default: all namespaces)
  --dry-run             list what would change, change nothing
  -h, --help            show this help
`;

export async function main(argv: string[]): Promise<number> {
  let values: { kubeconfig?: string; namespace?: string[]; 'dry-run'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string', multiple: true },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`sidecar-monitor cleanup: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const logger = pino({ level: 'info', base: { component: 'cleanup' } }, pino.destination(2));
  let client: KubeClient;
  try {
    client = KubeClient.fromAccess(await loadAccess(values.kubeconfig), {
      userAgent: `sidecar-monitor-cleanup/${await readVersion()}`,
    });
  } catch (err) {
    console.error(`sidecar-monitor cleanup: ${(err as Error).message}`);
    return 2;
  }
  try {
    const report = await cleanup({
      client,
      logger,
      namespaces: values.namespace ?? [],
      dryRun: values['dry-run'] ?? false,
    });
    const verb = values['dry-run'] ? 'would restore' : 'restored';
    const lines = [
      `${verb} ${report.workloadsRestored.length} workload(s)`,
      ...report.workloadsRestored.map((w) => `  ${w}`),
      `finalizer removed from ${report.finalizersRemoved.length} SidecarMonitor(s)`,
      `deleted ${report.podMonitorsDeleted.length} PodMonitor(s)`,
    ];
    if (report.notOurs.length > 0) {
      lines.push(
        `left ${report.notOurs.length} workload(s) injected by another field manager (e.g. rendered by \`sidecar-monitor inject\`): remove the injection where it was rendered`,
        ...report.notOurs.map((w) => `  ${w}`),
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    if (report.failures.length > 0) {
      console.error(
        `sidecar-monitor cleanup: ${report.failures.length} failure(s):\n  ${report.failures.join('\n  ')}`,
      );
      return 1;
    }
    return 0;
  } catch (err) {
    console.error(`sidecar-monitor cleanup: ${(err as Error).message}`);
    return 1;
  } finally {
    client.close();
  }
}
