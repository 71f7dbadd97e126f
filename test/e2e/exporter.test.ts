// The user's whole path on a real node: `helm install` with our image, a SidecarMonitor
// over the sample app, and the injected exporter as a real sidecar — its credentials, its
// figures against the kubelet's own cAdvisor, and the sidecar pattern's known risk, that
// a failing sidecar makes a working app look broken.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testCluster, type KubeObject, type TestNamespace } from '../cluster/harness.ts';
import { alive, cgroupDir, containerPid, credentials, rootMountOptions } from './host.ts';
import {
  cadvisor,
  containerStatus,
  EXPORTER_PORT,
  httpGet,
  installChart,
  readyPods,
  realNode,
  SAMPLE_APP_PORT,
  sampleApp,
  samples,
  view,
  type PodView,
} from './support.ts';

const cluster = testCluster();
const node = realNode(cluster.info);
const EXPORTER = 'sidecar-monitor-exporter';
const OPERATOR_NS = 'sidecar-monitor';
const MIB = 1024 * 1024;

function monitor(name: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'sidecarmonitor.io/v1alpha1',
    kind: 'SidecarMonitor',
    metadata: { name },
    spec: { selector: { matchLabels: { 'app.kubernetes.io/name': name } }, ...spec },
  };
}

/** The exporter's /metrics; a just-started exporter (it has no readiness probe) may not listen yet. */
async function metrics(pod: PodView): Promise<string> {
  const res = await cluster.waitFor(`the exporter of ${pod.name} to answer`, () =>
    httpGet(`http://${String(pod.ip)}:${String(EXPORTER_PORT)}/metrics`),
  );
  expect(res.status).toBe(200);
  return res.body;
}

function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  return samples(text, name).find((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}

const injected = (pod: KubeObject): boolean =>
  containerStatus(pod, EXPORTER)?.started === true &&
  containerStatus(pod, EXPORTER)?.state?.running !== undefined;

describe('the chart and the exporter on a real node', () => {
  let ns: TestNamespace;
  let uninstall: () => Promise<void>;

  beforeAll(async () => {
    uninstall = await installChart(cluster, 'smon', OPERATOR_NS, ['replicaCount=2']);
    ns = await cluster.namespace('e2e');
  });
  afterAll(async () => {
    await ns.delete();
    await uninstall();
  });

  test('the operator runs from the image as two real pods, Ready through its probes, one leading', async () => {
    const pods = await readyPods(cluster, OPERATOR_NS, 'app.kubernetes.io/name=sidecar-monitor', 2);
    for (const pod of pods) {
      const spec = pod.object.spec as { containers: { image: string }[] };
      expect(spec.containers[0]?.image).toBe(node.images.sidecarMonitor);
    }
    const lease = await cluster.waitForObject(
      {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        namespace: OPERATOR_NS,
        name: 'smon-sidecar-monitor',
      },
      (l) => typeof (l.spec as { holderIdentity?: string }).holderIdentity === 'string',
    );
    expect(pods.map((p) => p.name)).toContain(
      (lease.spec as { holderIdentity: string }).holderIdentity,
    );
  });

  describe('an app with its uid and gid stated, CPU and memory limits', () => {
    let pod: PodView;
    let exporterPid: number;

    beforeAll(async () => {
      await cluster.apply(
        sampleApp(cluster.info, {
          name: 'app',
          uid: 1000,
          gid: 1000,
          cpuLimit: '500m',
          memoryLimit: '256Mi',
        }),
        { namespace: ns.name },
      );
      await cluster.apply(monitor('app'), { namespace: ns.name });
      [pod] = (await readyPods(cluster, ns.name, 'app.kubernetes.io/name=app', 1, injected)) as [
        PodView,
      ];
      const id = containerStatus(pod.object, EXPORTER)?.containerID;
      exporterPid = await containerPid(cluster.info, id ?? '');
    });

    test('the exporter is a native sidecar serving on the pod IP', async () => {
      const spec = pod.object.spec as {
        initContainers?: { name: string; restartPolicy?: string }[];
      };
      expect(spec.initContainers?.find((c) => c.name === EXPORTER)?.restartPolicy).toBe('Always');
      expect(await metrics(pod)).toContain('sidecar_monitor_build_info');
    });

    test("it runs as the app's uid and gid, without capabilities, no_new_privs, seccomp, read-only root", () => {
      const creds = credentials(exporterPid);
      expect(creds.uid).toEqual([1000, 1000, 1000, 1000]);
      expect(creds.gid).toEqual([1000, 1000, 1000, 1000]);
      expect(creds.capEff).toBe(0n);
      expect(creds.capPrm).toBe(0n);
      expect(creds.noNewPrivs).toBe(true);
      expect(creds.seccomp).toBe(2);
      expect(rootMountOptions(exporterPid)).toContain('ro');
    });

    test("its container figures agree with the kubelet's cAdvisor", async () => {
      // Some CPU to measure: a fifth of a core in the app for a few seconds.
      await httpGet(`http://${String(pod.ip)}:${String(SAMPLE_APP_PORT)}/load?cpu=0.2`);
      await sleep(3_000);
      const cadvisorCpu = (text: string): { value: number; ms: number } => {
        const line = text
          .split('\n')
          .find(
            (l) =>
              l.startsWith('container_cpu_usage_seconds_total{') &&
              l.includes(`container="web"`) &&
              l.includes(`pod="${pod.name}"`),
          );
        const fields = line?.split(' ') ?? [];
        return { value: Number(fields.at(-2)), ms: Number(fields.at(-1)) };
      };
      // cAdvisor samples on its own housekeeping (timestamped); ours is read at scrape
      // time: ours must lie between a cAdvisor reading taken before and one taken after.
      const before = cadvisorCpu(await cadvisor(cluster, node.name));
      const scrapedAt = Date.now();
      const ours = await metrics(pod);
      const after = await cluster.waitFor(
        'a cAdvisor reading newer than our scrape',
        async (note) => {
          const reading = cadvisorCpu(await cadvisor(cluster, node.name));
          note(reading);
          return reading.ms > scrapedAt ? reading : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      const cpu = value(ours, 'sidecar_monitor_container_cpu_usage_seconds_total', {
        container: 'web',
      });
      expect(before.value).toBeGreaterThan(0);
      expect(cpu).toBeGreaterThanOrEqual(before.value);
      expect(cpu).toBeLessThanOrEqual(after.value);
      await httpGet(`http://${String(pod.ip)}:${String(SAMPLE_APP_PORT)}/load?cpu=0`);

      const text = await cadvisor(cluster, node.name);
      const ofWeb = { container: 'web', pod: pod.name, namespace: ns.name };
      const theirs = (name: string): number | undefined => value(text, name, ofWeb);
      const mine = await metrics(pod);
      const ws =
        value(mine, 'sidecar_monitor_container_memory_working_set_bytes', { container: 'web' }) ??
        NaN;
      const cadvisorWs = theirs('container_memory_working_set_bytes') ?? NaN;
      expect(Math.abs(ws - cadvisorWs)).toBeLessThanOrEqual(Math.max(0.2 * cadvisorWs, 4 * MIB));
      expect(
        value(mine, 'sidecar_monitor_container_spec_memory_limit_bytes', { container: 'web' }),
      ).toBe(theirs('container_spec_memory_limit_bytes'));
      expect(
        value(mine, 'sidecar_monitor_container_spec_memory_limit_bytes', { container: 'web' }),
      ).toBe(256 * MIB);
      // cAdvisor in microseconds, ours in seconds.
      expect(
        value(mine, 'sidecar_monitor_container_spec_cpu_quota_seconds', { container: 'web' }),
      ).toBe((theirs('container_spec_cpu_quota') ?? NaN) / 1e6);
      expect(
        value(mine, 'sidecar_monitor_container_spec_cpu_period_seconds', { container: 'web' }),
      ).toBe((theirs('container_spec_cpu_period') ?? NaN) / 1e6);
      expect(
        value(mine, 'sidecar_monitor_container_spec_cpu_quota_seconds', { container: 'web' }),
      ).toBe(0.05);
    });

    test("probes succeed, and the process metrics that need the app's uid are there", async () => {
      const text = await cluster.waitFor('every probe to have succeeded', async (note) => {
        const t = await metrics(pod);
        const probes = samples(t, 'sidecar_monitor_probe_success');
        note(probes);
        return probes.length > 0 && probes.every((p) => p.value === 1) ? t : undefined;
      });
      expect(value(text, 'sidecar_monitor_process_open_fds', { container: 'web' })).toBeGreaterThan(
        0,
      );
      expect(
        value(text, 'sidecar_monitor_process_read_bytes_total', { container: 'web' }),
      ).toBeDefined();
      expect(
        samples(text, 'sidecar_monitor_collector_degraded').filter(
          (s) => s.labels.container === 'web',
        ),
      ).toEqual([]);
    });

    // Kubernetes counts every container's readiness, a native sidecar's too, in the
    // pod's Ready condition, with no opt-out: while a dead exporter restarts, the pod is
    // NotReady (measured below and stated in the README). What must hold: the app itself
    // never restarts and keeps answering on its pod IP, and the pod is Ready again once
    // the exporter has restarted on its own.
    test('a killed exporter restarts alone: the app never restarts and keeps serving', async () => {
      const watch = watchPod(pod);
      process.kill(exporterPid, 'SIGKILL');
      const restarted = await cluster.waitFor(
        'the exporter to restart and the pod to be Ready again',
        async () => {
          const p = await getPod(pod.name);
          return (containerStatus(p, EXPORTER)?.restartCount ?? 0) >= 1 &&
            injected(p) &&
            view(p).ready
            ? p
            : undefined;
        },
        { timeoutMs: 120_000 },
      );
      const seen = await watch.stop();
      expect(containerStatus(restarted, 'web')?.restartCount).toBe(0);
      expect(seen.appFailures).toBe(0);
      expect(seen.appChecks).toBeGreaterThan(3);
      console.info(
        `exporter killed: pod NotReady for ${String(seen.notReadyMs)} ms (${String(seen.notReady)} of ${String(seen.polls)} polls)`,
      );
      pod = view(restarted);
      exporterPid = await containerPid(
        cluster.info,
        containerStatus(restarted, EXPORTER)?.containerID ?? '',
      );
    });

    test('an exporter OOM-killed at its memory limit restarts alone', async () => {
      const watch = watchPod(pod);
      // Lower the running exporter's limit to just above its anonymous memory (the kernel
      // reclaims page cache to get there, and refuses a limit it cannot reach), then
      // make it allocate.
      const memory = cgroupDir(exporterPid, 'memory');
      const stat = readFileSync(path.join(memory, 'memory.stat'), 'utf8');
      const rss = Number(/^total_rss (\d+)$/m.exec(stat)?.[1]);
      expect(rss).toBeGreaterThan(0);
      const limited = [1, 2, 4, 8].some((margin) => {
        try {
          writeFileSync(path.join(memory, 'memory.limit_in_bytes'), String(rss + margin * MIB));
          return true;
        } catch {
          return false; // EBUSY: more than that is in use
        }
      });
      expect(limited).toBe(true);
      const restarted = await cluster.waitFor(
        'the exporter to be OOM-killed and restarted',
        async () => {
          await Promise.allSettled(
            Array.from({ length: 8 }, () =>
              httpGet(`http://${String(pod.ip)}:${String(EXPORTER_PORT)}/metrics`, 2_000),
            ),
          );
          const p = await getPod(pod.name);
          const status = containerStatus(p, EXPORTER);
          return status?.lastState?.terminated?.reason === 'OOMKilled' &&
            injected(p) &&
            view(p).ready
            ? p
            : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      const seen = await watch.stop();
      expect(containerStatus(restarted, 'web')?.restartCount).toBe(0);
      expect(seen.appFailures).toBe(0);
      console.info(`exporter OOM-killed: pod NotReady for ${String(seen.notReadyMs)} ms`);
      pod = view(restarted);
      exporterPid = await containerPid(
        cluster.info,
        containerStatus(restarted, EXPORTER)?.containerID ?? '',
      );
    });

    test('deleting the pod stops the app before its exporter', async () => {
      const appPid = await containerPid(
        cluster.info,
        containerStatus(pod.object, 'web')?.containerID ?? '',
      );
      const gone: { app?: number; exporter?: number } = {};
      await cluster.remove({ apiVersion: 'v1', kind: 'Pod', namespace: ns.name, name: pod.name });
      const started = performance.now();
      while ((alive(appPid) || alive(exporterPid)) && performance.now() - started < 60_000) {
        if (gone.app === undefined && !alive(appPid)) gone.app = performance.now();
        if (gone.exporter === undefined && !alive(exporterPid)) gone.exporter = performance.now();
        await sleep(10);
      }
      gone.app ??= performance.now();
      gone.exporter ??= performance.now();
      expect(alive(appPid) || alive(exporterPid)).toBe(false);
      expect(gone.app).toBeLessThan(gone.exporter);
    });

    function getPod(name: string): Promise<KubeObject> {
      return cluster.get({ apiVersion: 'v1', kind: 'Pod', namespace: ns.name, name });
    }

    /** Polls the pod's Ready condition and the app's own health on its pod IP. */
    function watchPod(target: PodView): {
      stop(): Promise<{
        polls: number;
        notReady: number;
        notReadyMs: number;
        appChecks: number;
        appFailures: number;
      }>;
    } {
      const done = new AbortController();
      const seen = { polls: 0, notReady: 0, notReadyMs: 0, appChecks: 0, appFailures: 0 };
      const readiness = (async () => {
        let last = performance.now();
        while (!done.signal.aborted) {
          try {
            const ready = view(await getPod(target.name)).ready;
            const now = performance.now();
            seen.polls += 1;
            if (!ready) {
              seen.notReady += 1;
              seen.notReadyMs += Math.round(now - last);
            }
            last = now;
          } catch {
            // the API server is slow for a moment: not the app's readiness
          }
          await sleep(100);
        }
      })();
      const app = (async () => {
        while (!done.signal.aborted) {
          seen.appChecks += 1;
          try {
            const res = await httpGet(
              `http://${String(target.ip)}:${String(SAMPLE_APP_PORT)}/healthz`,
              2_000,
            );
            if (res.status !== 200) seen.appFailures += 1;
          } catch {
            seen.appFailures += 1;
          }
          await sleep(100);
        }
      })();
      return {
        async stop() {
          done.abort();
          await Promise.all([readiness, app]);
          return seen;
        },
      };
    }
  });

  test('an app whose uid is not stated: the exporter runs as 65532 and the status says why', async () => {
    await cluster.apply(sampleApp(cluster.info, { name: 'anon' }), { namespace: ns.name });
    await cluster.apply(monitor('anon'), { namespace: ns.name });
    const [pod] = (await readyPods(
      cluster,
      ns.name,
      'app.kubernetes.io/name=anon',
      1,
      injected,
    )) as [PodView];
    const pid = await containerPid(
      cluster.info,
      containerStatus(pod.object, EXPORTER)?.containerID ?? '',
    );
    expect(credentials(pid).uid).toEqual([65532, 65532, 65532, 65532]);
    const smon = await cluster.waitForObject(
      {
        apiVersion: 'sidecarmonitor.io/v1alpha1',
        kind: 'SidecarMonitor',
        namespace: ns.name,
        name: 'anon',
      },
      (m) =>
        ((m.status as { workloads?: { state?: string }[] } | undefined)?.workloads ?? []).some(
          (w) => w.state === 'Injected',
        ),
    );
    const [workload] = (smon.status as { workloads: { reason?: string; message?: string }[] })
      .workloads;
    expect(workload?.reason).toBe('uid-unknown');
    expect(workload?.message).toMatch(/runAsUser/);
    // The image's own user is the distroless 65532: the fallback happens to match it.
    expect(
      value(await metrics(pod), 'sidecar_monitor_process_open_fds', { container: 'web' }),
    ).toBeGreaterThan(0);
  });

  test('a regular container when the monitor disables native sidecars', async () => {
    await cluster.apply(sampleApp(cluster.info, { name: 'plain', uid: 1000, gid: 1000 }), {
      namespace: ns.name,
    });
    await cluster.apply(monitor('plain', { exporter: { nativeSidecar: 'Disabled' } }), {
      namespace: ns.name,
    });
    const [pod] = (await readyPods(
      cluster,
      ns.name,
      'app.kubernetes.io/name=plain',
      1,
      injected,
    )) as [PodView];
    const spec = pod.object.spec as {
      containers: { name: string }[];
      initContainers?: { name: string }[];
    };
    expect(spec.containers.map((c) => c.name)).toEqual(['web', EXPORTER]);
    expect(spec.initContainers ?? []).toEqual([]);
    expect(
      value(await metrics(pod), 'sidecar_monitor_container_spec_memory_limit_bytes', {
        container: 'web',
      }),
    ).toBe(256 * MIB);
  });
});
