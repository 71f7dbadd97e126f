// The chart's uninstall hook: the Job `helm uninstall` runs before it deletes anything
// (rendered by the real helm, accepted by the real API server), and its command, run
// exactly as the Job would (its args, the chart's ServiceAccount and RBAC) against the
// real API server while the operator runs. There is no kubelet here to run the Job
// itself; the real-node suite runs it for real.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { type KubeObject, parseObjects, testCluster } from '../cluster/harness.ts';
import {
  deployment,
  type Install,
  injected,
  installOperatorRbac,
  monitor,
  MONITOR_API,
  ref,
  releaseMonitors,
  scoped,
  startOperator,
  statusOf,
  useOperatorInstall,
} from './support.ts';

const cluster = testCluster();
const install = useOperatorInstall(cluster);
const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'sidecar-monitor.ts');
const FINALIZER = 'sidecarmonitor.io/cleanup';
// Short Lease timings for the test (the chart's defaults are 15 s / 10 s / 2 s), the same
// for the operator and the hook, as the chart renders both from one set of values.
const TIMING = { leaseDuration: 6, renewDeadline: 4, retryPeriod: 1 };
const TIMING_ARGS = [
  `--lease-duration=${TIMING.leaseDuration}`,
  `--renew-deadline=${TIMING.renewDeadline}`,
  `--retry-period=${TIMING.retryPeriod}`,
];

interface JobSpec {
  backoffLimit?: number;
  template: {
    spec: {
      serviceAccountName?: string;
      restartPolicy?: string;
      containers: { name: string; image: string; args: string[] }[];
    };
  };
}

/** The hook Job as `helm template` renders it for this install, and the whole rendering. */
async function renderHook(
  inst: Install,
  values: string[] = [],
): Promise<{ job: KubeObject; args: string[]; rendered: string }> {
  const set = [
    'serviceAccount.name=',
    'uninstallHook.holdSeconds=30',
    ...Object.entries(TIMING).map(([k, v]) => `leaderElection.${k}=${v}`),
    ...values,
  ];
  const out = await cluster.helm([
    'template',
    inst.release,
    'charts/sidecar-monitor',
    '--namespace',
    inst.namespace.name,
    '--kube-version',
    cluster.info.kubeVersion,
    '--show-only',
    'templates/uninstall-hook.yaml',
    ...set.flatMap((v) => ['--set', v]),
  ]);
  const [job] = parseObjects(out.stdout, 'uninstall-hook.yaml');
  if (job?.kind !== 'Job') throw new Error(`expected the hook Job, got ${out.stdout}`);
  const container = (job.spec as JobSpec).template.spec.containers[0];
  return { job, args: container?.args ?? [], rendered: out.stdout };
}

/** Runs the hook's command as the Job would: its args, as the chart's ServiceAccount. */
async function runHook(
  inst: Install,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(
      process.execPath,
      [BIN, ...args, '--kubeconfig', inst.kubeconfigPath],
      { timeout: 120_000 },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function finalizers(o: KubeObject): string[] {
  return o.metadata.finalizers ?? [];
}

describe('the pre-delete hook Job', () => {
  test('renders as a hook Job under the chart ServiceAccount, and the API server accepts it (with and without watchNamespaces)', async () => {
    for (const values of [[], ['watchNamespaces[0]=team-a', 'watchNamespaces[1]=team-b']]) {
      const { job, args, rendered } = await renderHook(install(), values);
      expect(job.metadata.annotations).toMatchObject({
        'helm.sh/hook': 'pre-delete',
        'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
      });
      const spec = (job.spec as JobSpec).template.spec;
      expect(spec.serviceAccountName).toBe(install().fullname);
      expect(spec.restartPolicy).toBe('Never');
      expect(args[0]).toBe('release-finalizers');
      expect(args).toContain(`--leader-election-id=${install().fullname}`);
      expect(args).toContain(`--leader-election-namespace=${install().namespace.name}`);
      expect(args.filter((a) => a.startsWith('--namespace='))).toEqual(
        values.length === 0 ? [] : ['--namespace=team-a', '--namespace=team-b'],
      );
      const dry = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
        input: rendered,
      });
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toContain('created (server dry run)');
    }
    const off = await cluster.helm([
      'template',
      'x',
      'charts/sidecar-monitor',
      '--kube-version',
      cluster.info.kubeVersion,
      '--set',
      'uninstallHook.enabled=false',
    ]);
    expect(off.stdout).not.toContain('release-finalizers');
  });
});

describe('its command, under the chart RBAC, against the real API server', () => {
  test('stops the running operator, releases every finalizer, leaves the injections; deletions then need no operator', async () => {
    await using s = await scoped(cluster, install(), 'uninstall', { args: TIMING_ARGS });
    const ns = s.ns.name;
    await cluster.apply([deployment(ns, 'web', { monitored: 'true' }), monitor(ns, 'mon')]);
    const monRef = ref('SidecarMonitor', ns, 'mon');
    await cluster.waitForObject(monRef, (o) => statusOf(o).injectedWorkloads === 1);
    const webRef = ref('Deployment', ns, 'web');
    const before = await cluster.get(webRef);
    expect(injected(before)).toBe(true);

    const { args } = await renderHook(install());
    const hook = await runHook(install(), args);
    expect(hook.code, hook.stderr).toBe(0);
    // Every monitor of the cluster still holding our finalizer is released (earlier files
    // may have left some whose operator is gone): ours among them.
    expect(hook.stdout).toMatch(/finalizer released from \d+ SidecarMonitor\(s\)/);
    expect(hook.stdout).toContain(`${ns}/mon`);

    // The operator lost its Lease to the hook and stopped before the hook touched
    // anything; it did not put the finalizer back.
    const exit = await s.operator.exited;
    expect(exit.code).toBe(1);
    expect(
      s.operator.logs.some((l) => l.msg === 'could not renew the lease in time; stopped leading'),
    ).toBe(true);
    expect(finalizers(await cluster.get(monRef))).not.toContain(FINALIZER);
    // A restarted operator pod waits: the hook holds the Lease while helm deletes it.
    {
      await using restarted = await startOperator({
        install: install(),
        namespaces: [ns],
        args: TIMING_ARGS,
        wait: 'ready',
      });
      await new Promise((r) => setTimeout(r, 3000));
      expect(restarted.logs.some((l) => l.msg === 'acquired the lease')).toBe(false);
      expect(finalizers(await cluster.get(monRef))).not.toContain(FINALIZER);
    }

    // The injection stays, untouched: no rollout at uninstall.
    const after = await cluster.get(webRef);
    expect(injected(after)).toBe(true);
    expect(after.metadata.generation).toBe(before.metadata.generation);
    // And nothing waits for an operator any more: the monitor, then its namespace, go.
    await cluster.remove(monRef);
    await cluster.waitForDeletion(monRef, { timeoutMs: 10_000 });
    await cluster.apply(monitor(ns, 'another'));
    await s.ns.delete();
    await cluster.waitForDeletion(
      { apiVersion: 'v1', kind: 'Namespace', name: ns },
      { timeoutMs: 120_000 },
    );
  });

  test('with watchNamespaces (namespaced RBAC) it releases the watched namespaces and touches nothing else', async () => {
    await using watched = await cluster.namespace('hook-watched');
    await using other = await cluster.namespace('hook-other');
    await using inst = await installOperatorRbac(cluster, { watchNamespaces: [watched.name] });
    const held = (ns: string): KubeObject => {
      const m = monitor(ns, 'mon');
      m.metadata.finalizers = [FINALIZER, 'example.com/keep'];
      return m;
    };
    await cluster.apply([held(watched.name), held(other.name)]);
    try {
      const { args } = await renderHook(inst, [`watchNamespaces[0]=${watched.name}`]);
      const hook = await runHook(inst, args);
      expect(hook.code, hook.stderr).toBe(0);
      expect(hook.stdout).toContain(`${watched.name}/mon`);
      const ref = (ns: string) => ({
        apiVersion: MONITOR_API,
        kind: 'SidecarMonitor',
        namespace: ns,
        name: 'mon',
      });
      // Only ours goes; another controller's finalizer stays.
      expect(finalizers(await cluster.get(ref(watched.name)))).toEqual(['example.com/keep']);
      expect(finalizers(await cluster.get(ref(other.name)))).toEqual([
        FINALIZER,
        'example.com/keep',
      ]);
    } finally {
      await releaseMonitors(cluster, watched.name);
      await releaseMonitors(cluster, other.name);
    }
  });
});
