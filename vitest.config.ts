import { defineConfig } from 'vitest/config';

// Four projects, all run by `npm test`:
// - unit: pure code (parsers, injection, config) over ../shared/fixtures; no I/O beyond reading files.
// - exporter: real processes in simulated pods (PID/mount namespaces, cgroups), real Prometheus.
// - cluster: a real kube-apiserver + etcd (+ controller manager) started once by the global setup.
// - e2e: the images built from our Dockerfile on a real node (kubelet, containerd, runc), as root.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'exporter',
          include: ['test/exporter/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Simulated pods measure CPU and memory of real processes: keep files apart.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'cluster',
          include: [
            'test/cluster/**/*.test.ts',
            'test/operator/**/*.test.ts',
            'test/chart/**/*.test.ts',
          ],
          globalSetup: ['test/cluster/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/node/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          // Real pods measured against the kubelet's own figures: one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
