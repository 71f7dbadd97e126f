// `sidecar-monitor release-finalizers`: the chart's pre-delete hook. It stops the running
// operator by taking its leader Lease (operator/leader/seize.ts), then drops the
// operator's finalizer from every SidecarMonitor, so that after `helm uninstall` nothing
// (a monitor, its namespace, the CRD) waits for an operator that is gone. Injected
// workloads are left exactly as they are: no pod restarts at uninstall.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { readVersion } from '../cli/version.ts';
import { systemClock } from '../runtime/clock.ts';
import { releaseFinalizers } from '../controller/release.ts';
import { KubeClient } from '../kube/client.ts';
import { loadAccess } from '../kube/kubeconfig.ts';
import { DEFAULT_TIMING } from '../leader/lease.ts';
import { withSeizedLease } from '../leader/seize.ts';
import { FINALIZER } from '../manager/manager.ts';

const USAGE = `usage: sidecar-monitor release-finalizers [flags]

For helm's pre-delete hook (the chart runs it as a Job). Takes the operator's leader
Lease, so the running operator stops within its lease duration, then removes the
operator's finalizer from every SidecarMonitor: deleting a monitor, its namespace or the
CRD then never waits for an operator. Injected workloads are left as they are (their
exporters keep running); \`sidecar-monitor cleanup\` removes the injections.

flags (the operator's, as the chart passes them):
  --kubeconfig PATH                  kubeconfig (default: in-cluster, else $KUBECONFIG or ~/.kube/config)
  --namespace NS                     only this namespace (repeatable; default: all namespaces)
  --leader-election-namespace NS     namespace of the operator's Lease (default: $POD_NAMESPACE)
  --leader-election-id NAME          name of the operator's Lease (default sidecar-monitor-operator)
  --lease-duration SECONDS           the operator's lease duration (default 15)
  --renew-deadline SECONDS           (default 10)
  --retry-period SECONDS             (default 2)
  --hold SECONDS                     keep the Lease this long afterwards, while helm deletes the
                                     operator (default 60)
  -h, --help                         show this help
`;

function seconds(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 3600) {
    throw new Error(`--${flag}: must be an integer from 1 to 3600, got "${text}"`);
  }
  return Number(text);
}

export async function main(argv: string[]): Promise<number> {
  let values;
  let timing;
  let holdSeconds;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string', multiple: true },
        'leader-election-namespace': { type: 'string' },
        'leader-election-id': { type: 'string' },
        'lease-duration': { type: 'string' },
        'renew-deadline': { type: 'string' },
        'retry-period': { type: 'string' },
        hold: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
    timing = {
      leaseDurationMs:
        1000 *
        seconds('lease-duration', values['lease-duration'], DEFAULT_TIMING.leaseDurationMs / 1000),
      renewDeadlineMs:
        1000 *
        seconds('renew-deadline', values['renew-deadline'], DEFAULT_TIMING.renewDeadlineMs / 1000),
      retryPeriodMs:
        1000 * seconds('retry-period', values['retry-period'], DEFAULT_TIMING.retryPeriodMs / 1000),
    };
    holdSeconds = seconds('hold', values.hold, 60);
  } catch (err) {
    console.error(`sidecar-monitor release-finalizers: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const leaseNamespace = values['leader-election-namespace'] ?? process.env.POD_NAMESPACE;
  if (!leaseNamespace) {
    console.error(
      'sidecar-monitor release-finalizers: --leader-election-namespace is required (or set POD_NAMESPACE)',
    );
    return 2;
  }
  const logger = pino(
    { level: 'info', base: { component: 'release-finalizers' } },
    pino.destination(2),
  );
  let client: KubeClient;
  try {
    client = KubeClient.fromAccess(await loadAccess(values.kubeconfig), {
      userAgent: `sidecar-monitor-release-finalizers/${await readVersion()}`,
    });
  } catch (err) {
    console.error(`sidecar-monitor release-finalizers: ${(err as Error).message}`);
    return 2;
  }
  // The clock's timers never hold the process open on their own (unref'd): this does,
  // through the waits, until the work is done.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    const report = await withSeizedLease(
      {
        client,
        namespace: leaseNamespace,
        name: values['leader-election-id'] ?? 'sidecar-monitor-operator',
        identity: `sidecar-monitor-uninstall-${process.env.POD_NAME ?? String(process.pid)}`,
        clock: systemClock,
        logger,
        timing,
        holdSeconds,
      },
      (signal) =>
        releaseFinalizers({
          client,
          logger,
          finalizer: FINALIZER,
          namespaces: [...new Set(values.namespace ?? [])],
          signal,
        }),
    );
    process.stdout.write(
      [
        `finalizer released from ${report.released.length} SidecarMonitor(s)`,
        ...report.released.map((m) => `  ${m}`),
        'injected workloads were left as they are: `sidecar-monitor cleanup` removes the injections',
        '',
      ].join('\n'),
    );
    if (report.failures.length > 0) {
      console.error(
        `sidecar-monitor release-finalizers: ${report.failures.length} failure(s):\n  ${report.failures.join('\n  ')}`,
      );
      return 1;
    }
    return 0;
  } catch (err) {
    console.error(`sidecar-monitor release-finalizers: ${(err as Error).message}`);
    return 1;
  } finally {
    clearInterval(keepAlive);
    client.close();
  }
}
