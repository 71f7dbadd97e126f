import { defineConfig } from 'vitest/config';

// Three projects, all run by `npm test`:
// - unit: pure code (parsers, injection, config) over ../shared/fixtures; no I/O beyond reading files.
// - exporter: real processes in simulated pods (PID/mount namespaces, cgroups), real Prometheus.
// - cluster: a real kube-apiserver + etcd (+ controller manager) started once by the global setup.
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
    ],
  },
});
