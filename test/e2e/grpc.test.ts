// A pod that declares only a gRPC readiness probe gets a gRPC probe of the same port from
// the injection, with no configuration, and the exporter in the real pod follows the app's
// health status as it changes (the sample gRPC server switches on SIGUSR1/SIGUSR2).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testCluster, type TestNamespace } from '../cluster/harness.ts';
import { containerPid } from './host.ts';
import {
  containerStatus,
  EXPORTER_PORT,
  httpGet,
  installChart,
  readyPods,
  realNode,
  samples,
  type PodView,
} from './support.ts';

const cluster = testCluster();
const node = realNode(cluster.info);
const EXPORTER = 'sidecar-monitor-exporter';
const RELEASE_NS = 'sidecar-monitor-grpc';
const GRPC_PORT = 50051;

describe('gRPC health probes on a real node', () => {
  let ns: TestNamespace;
  let pod: PodView;
  let uninstall: () => Promise<void>;

  beforeAll(async () => {
    uninstall = await installChart(cluster, 'smon-grpc', RELEASE_NS);
    ns = await cluster.namespace('grpc');
    const labels = { 'app.kubernetes.io/name': 'cart' };
    await cluster.apply(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'cart', labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              securityContext: { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true },
              containers: [
                {
                  name: 'server',
                  image: node.images.sampleApp,
                  imagePullPolicy: 'Never',
                  command: ['/nodejs/bin/node', '/app/grpc/server.js'],
                  args: ['--host=0.0.0.0', `--port=${String(GRPC_PORT)}`],
                  ports: [{ name: 'grpc', containerPort: GRPC_PORT }],
                  // The only probe: what microservices-demo's services declare.
                  readinessProbe: { grpc: { port: GRPC_PORT }, periodSeconds: 2 },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                  },
                },
              ],
            },
          },
        },
      },
      { namespace: ns.name },
    );
    await cluster.apply(
      {
        apiVersion: 'sidecarmonitor.io/v1alpha1',
        kind: 'SidecarMonitor',
        metadata: { name: 'cart' },
        spec: { selector: { matchLabels: labels } },
      },
      { namespace: ns.name },
    );
    [pod] = (await readyPods(
      cluster,
      ns.name,
      'app.kubernetes.io/name=cart',
      1,
      (p) => containerStatus(p, EXPORTER)?.started === true,
    )) as [PodView];
  });
  afterAll(async () => {
    await ns.delete();
    await uninstall();
  });

  test("the derived gRPC probe succeeds and fails as the app's health status changes", async () => {
    const server = await containerPid(
      cluster.info,
      containerStatus(pod.object, 'server')?.containerID ?? '',
    );
    const probeState = async (): Promise<{ success: number; notServing: number; type: string }> => {
      const res = await httpGet(`http://${String(pod.ip)}:${String(EXPORTER_PORT)}/metrics`);
      const success = samples(res.body, 'sidecar_monitor_probe_success');
      const failures = samples(res.body, 'sidecar_monitor_probe_failures_total').filter(
        (s) => s.labels.reason === 'not_serving',
      );
      const info = samples(res.body, 'sidecar_monitor_probe_info');
      return {
        success: success.length === 1 ? (success[0]?.value ?? NaN) : NaN,
        notServing: failures.reduce((sum, s) => sum + s.value, 0),
        type: info[0]?.labels.type ?? '',
      };
    };
    const serving = await cluster.waitFor('the gRPC probe to succeed', async (note) => {
      const state = await probeState();
      note(state);
      return state.success === 1 ? state : undefined;
    });
    expect(serving.type).toBe('grpc');

    process.kill(server, 'SIGUSR2'); // NOT_SERVING
    const failing = await cluster.waitFor(
      'the gRPC probe to fail with not_serving',
      async (note) => {
        const state = await probeState();
        note(state);
        return state.success === 0 && state.notServing > 0 ? state : undefined;
      },
    );
    expect(failing.notServing).toBeGreaterThan(0);

    process.kill(server, 'SIGUSR1'); // SERVING again
    await cluster.waitFor('the gRPC probe to succeed again', async (note) => {
      const state = await probeState();
      note(state);
      return state.success === 1 ? state : undefined;
    });
  });
});
