// `npm start`: the demo prints the metrics URL and a live summary, in both modes, and leaves
// nothing behind.

import { spawnSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/pod.ts';

async function leftoverPods(): Promise<string[]> {
  const entries = await readdir('/sys/fs/cgroup/pids').catch(() => []);
  return entries.filter((e) => e.startsWith(`sidecar-monitor-pod-${process.pid}-`));
}

function demo(mode: string) {
  return spawnSync(
    process.execPath,
    [`${REPO}/bin/sidecar-monitor.ts`, 'demo', '--port', '0', '--duration', '7', '--mode', mode],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
}

describe('demo', () => {
  it.each(['pod', 'standalone'])(
    '%s mode: metrics URL, then a live summary with probe results',
    async (mode) => {
      const r = demo(mode);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^metrics: http:\/\/127\.0\.0\.1:\d+\/metrics$/m);
      const summaries = r.stdout.split('\n').filter((l) => l.startsWith('app: cpu '));
      expect(summaries.length).toBeGreaterThanOrEqual(2);
      expect(summaries.at(-1)).toMatch(/healthz ok .* ms, work ok .* ms/);
      expect(summaries.at(-1)).toMatch(mode === 'pod' ? /working set \d/ : /rss \d/);
      expect(r.stdout).toMatch(/stopping…/);
      expect(await leftoverPods()).toEqual([]);
    },
  );

  it('rejects bad flags with the usage', () => {
    const r = spawnSync(
      process.execPath,
      [`${REPO}/bin/sidecar-monitor.ts`, 'demo', '--mode', 'cloud'],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--mode must be auto, pod or standalone/);
  });
});
