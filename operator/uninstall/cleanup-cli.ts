// `sidecar-monitor cleanup`: remove every injection from the cluster (before uninstalling).
// Destructive and cluster-wide, so it says which API server and context it is about to
// change, and goes on only with --yes or a "yes" typed at a terminal.
import { createInterface } from 'node:readline/promises';
import { isatty } from 'node:tty';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { cleanup } from './cleanup.ts';
import { systemClock } from '../runtime/clock.ts';
import { kubeApiRate } from '../cli/flags.ts';
import { KubeClient } from '../kube/client.ts';
import { type KubeAccess, loadAccess } from '../kube/kubeconfig.ts';
import { rateLimiter } from '../kube/throttle.ts';
import { readVersion } from '../cli/version.ts';

const USAGE = `usage: sidecar-monitor cleanup [flags]

Removes every injection the operator made (every field its field manager owns on
Deployments, StatefulSets and DaemonSets), the operator's finalizer from every
SidecarMonitor, and their PodMonitors. Stop the operator first (helm uninstall), or it
injects again. Each restored workload rolls out its pods once. It prints the API server
and context first, and asks before changing anything (--yes: don't ask).

flags:
  --kubeconfig PATH     kubeconfig (default: $KUBECONFIG, else in-cluster, else ~/.kube/config)
  --context NAME        kubeconfig context to use (default: its current-context)
  --namespace NS        only this namespace (repeatable; default: all namespaces)
  --dry-run             list what would change, change nothing
  -y, --yes             don't ask for confirmation (needed when stdin is not a terminal)
  --kube-api-qps QPS    client-side rate limit of API requests (default 20; 0: none)
  --kube-api-burst N    requests allowed at once above that rate (default 30)
  -h, --help            show this help
`;

export interface CleanupIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether a person can be asked (stdin and stderr are terminals). */
  interactive: boolean;
  /** Asks a question at the terminal; resolves with the answer. */
  ask(question: string): Promise<string>;
}

export const processIo: CleanupIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  interactive: isatty(0) && isatty(2),
  ask: async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

function target(access: KubeAccess, client: KubeClient): string {
  const context = access.context === undefined ? '' : `, context "${access.context}"`;
  const proxy = client.proxy ? `, through proxy ${client.proxy.origin}` : '';
  const from = access.kubeconfig === undefined ? access.source : `kubeconfig ${access.kubeconfig}`;
  return `API server ${access.server.origin}${context}${proxy} (${from})`;
}

export async function main(argv: string[], io: CleanupIo = processIo): Promise<number> {
  let values: {
    kubeconfig?: string;
    context?: string;
    namespace?: string[];
    'dry-run'?: boolean;
    yes?: boolean;
    'kube-api-qps'?: string;
    'kube-api-burst'?: string;
    help?: boolean;
  };
  let rate: ReturnType<typeof kubeApiRate>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        namespace: { type: 'string', multiple: true },
        'dry-run': { type: 'boolean' },
        yes: { type: 'boolean', short: 'y' },
        'kube-api-qps': { type: 'string' },
        'kube-api-burst': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
    rate = kubeApiRate(values['kube-api-qps'], values['kube-api-burst']);
  } catch (err) {
    io.stderr(`sidecar-monitor cleanup: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const dryRun = values['dry-run'] ?? false;
  const logger = pino({ level: 'info', base: { component: 'cleanup' } }, pino.destination(2));
  let client: KubeClient;
  let access: KubeAccess;
  try {
    access = await loadAccess(values.kubeconfig, values.context ? { context: values.context } : {});
    client = KubeClient.fromAccess(access, {
      userAgent: `sidecar-monitor-cleanup/${await readVersion()}`,
      limiter: rateLimiter(rate.kubeApiQps, rate.kubeApiBurst, systemClock),
    });
  } catch (err) {
    io.stderr(`sidecar-monitor cleanup: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const scope =
      values.namespace && values.namespace.length > 0
        ? `namespaces ${values.namespace.join(', ')}`
        : 'all namespaces';
    io.stderr(
      `${dryRun ? 'would remove' : 'removing'} every sidecar-monitor injection in ${scope} of ${target(access, client)}\n`,
    );
    if (!dryRun && !values.yes) {
      if (!io.interactive) {
        io.stderr(
          'sidecar-monitor cleanup: not changing anything without confirmation: pass --yes (or run it at a terminal)\n',
        );
        return 2;
      }
      const answer = (await io.ask('Proceed? Type "yes" to go on: ')).trim().toLowerCase();
      if (answer !== 'yes' && answer !== 'y') {
        io.stderr('sidecar-monitor cleanup: nothing changed\n');
        return 1;
      }
    }
    const report = await cleanup({
      client,
      logger,
      namespaces: values.namespace ?? [],
      dryRun,
    });
    const verb = dryRun ? 'would restore' : 'restored';
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
    io.stdout(`${lines.join('\n')}\n`);
    if (report.failures.length > 0) {
      io.stderr(
        `sidecar-monitor cleanup: ${report.failures.length} failure(s):\n  ${report.failures.join('\n  ')}\n`,
      );
      return 1;
    }
    return 0;
  } catch (err) {
    io.stderr(`sidecar-monitor cleanup: ${(err as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
