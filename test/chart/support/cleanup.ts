// After a test, whatever state it left: `sidecar-monitor cleanup` (the product's own tool)
// drops the operator's finalizers and injections in the test's namespaces, so deleting them
// never waits on an operator that is no longer running.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestCluster } from '../../cluster/harness.ts';

const CLI = path.resolve(import.meta.dirname, '../../../bin/sidecar-monitor.ts');

export async function releaseNamespaces(
  cluster: TestCluster,
  namespaces: readonly string[],
): Promise<void> {
  await promisify(execFile)(
    process.execPath,
    [CLI, 'cleanup', '--yes', ...namespaces.map((ns) => `--namespace=${ns}`)],
    { env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath }, timeout: 120_000 },
  );
}
