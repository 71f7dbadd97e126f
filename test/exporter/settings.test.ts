// Settings a careless user (or a hostile local one) can give the exporter: each is either used
// safely or refused at start with exit code 2 and one line naming it.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { METRICS } from '../../exporter/metrics/catalog.ts';
import { Metrics, scrape } from './helpers/metrics.ts';
import { eventually } from './helpers/pod.ts';
import { freePort } from './helpers/prometheus.ts';
import {
  MATCH_NOTHING,
  runExporter,
  startExporter,
  type ExporterProcess,
} from './helpers/process.ts';

const children: ChildProcess[] = [];
let exporter: ExporterProcess | undefined;

afterEach(async () => {
  // SIGKILL: an exporter stuck in a backtracking match would not see SIGTERM for minutes.
  exporter?.child.kill('SIGKILL');
  await exporter?.stop();
  exporter = undefined;
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** A process whose command line ends with `tail`. */
function processWithCommandLine(tail: string): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', tail], {
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

async function failsAtStart(args: string[], message: RegExp, env: Record<string, string> = {}) {
  // Loopback first, so an exporter that wrongly starts never listens on every interface.
  const run = runExporter(['--listen', `127.0.0.1:${await freePort()}`, ...args], env);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    run.exited,
    new Promise<string>((resolve) => {
      timer = setTimeout(() => {
        run.child.kill('SIGKILL');
        resolve('still running after 30 s');
      }, 30_000);
    }),
  ]);
  clearTimeout(timer);
  expect(code, run.output()).toBe(2);
  const out = run.output().trim();
  expect(out).toMatch(message);
  expect(out.split('\n')).toHaveLength(1);
}

describe('--match', () => {
  it('a catastrophic pattern cannot stall a scrape: matching is linear in the command line', async () => {
    // (a+)+$ against 34 a's and a '!' backtracks ~2^34 times in a backtracking engine.
    processWithCommandLine(`${'a'.repeat(34)}!`);
    const matching = processWithCommandLine('a'.repeat(34));
    exporter = await startExporter(['--match', '(a+)+$']);
    const url = `${exporter.address}/metrics`;
    const m = await eventually(async () => {
      const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const text = await r.text();
      return /container_processes\{/.test(text) ? text : undefined;
    }, 'a scrape with the matching process');
    // Only the process whose command line ends in a's.
    expect(new Metrics(m).sum(METRICS.containerProcesses.name)).toBe(1);
    expect(matching.pid).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) {
      const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
  });

  it('a pattern the linear-time engine cannot run is refused at start', async () => {
    await failsAtStart(
      ['--match', '(?=node)x'],
      /^sidecar-monitor exporter: --match: not a pattern this exporter runs \(RE2 syntax/,
    );
    await failsAtStart(['--match', '(a)\\1'], /--match: .*RE2/);
  });

  it('a pattern that matches every command line is refused', async () => {
    await failsAtStart(['--match', ''], /--match: "" matches every command line/);
    await failsAtStart(['--match', '.*'], /--match: "\.\*" matches every command line/);
  });

  it('a valid pattern still works after the refusals (standalone scrape)', async () => {
    const child = processWithCommandLine('sidecar-monitor-settings-test-target');
    exporter = await startExporter(['--match', 'settings-test-targe[t]']);
    const m = await eventually(async () => {
      const metrics = await scrape(`${exporter!.address}/metrics`);
      return metrics.all(METRICS.containerProcesses.name).length > 0 ? metrics : undefined;
    }, 'the matched process');
    expect(m.sum(METRICS.containerProcesses.name)).toBe(1);
    expect(child.pid).toBeGreaterThan(0);
  });
});

describe('probe header values', () => {
  const config = (value: { value?: string; valueFromEnv?: string }) =>
    JSON.stringify({
      version: 1,
      targets: [],
      probes: [
        {
          type: 'http',
          name: 'h',
          source: 'monitor',
          port: 8080,
          path: '/',
          intervalSeconds: 10,
          timeoutSeconds: 1,
          headers: [{ name: 'X-Token', ...value }],
        },
      ],
    });

  it.each([
    ['VT', '\u000b', 'U+000B'],
    ['ESC', 'a\u001bb', 'U+001B'],
    ['DEL', 'a\u007f', 'U+007F'],
    ['U+2028', 'a\u2028b', 'U+2028'],
    ['an emoji', 'ok 🙂', 'U+1F642'],
  ])(
    'a literal value with %s is refused at start (it failed every attempt)',
    async (_, value, code) => {
      await failsAtStart(
        ['--match', 'sidecar-monitor-test-matches-nothing'],
        new RegExp(
          `SIDECAR_MONITOR_CONFIG\\.probes\\[0\\]\\.headers\\[0\\]\\.value: ${code.replace('+', '\\+')} at position \\d+ is not allowed`,
        ),
        { SIDECAR_MONITOR_CONFIG: config({ value }) },
      );
    },
  );

  it('a value from a Secret (env) is checked the same way', async () => {
    await failsAtStart(
      ['--match', 'sidecar-monitor-test-matches-nothing'],
      /probes\[0\]\.headers\[0\]: value of PROBE_TOKEN: U\+001B at position 6 is not allowed/,
      {
        SIDECAR_MONITOR_CONFIG: config({ valueFromEnv: 'PROBE_TOKEN' }),
        PROBE_TOKEN: 'secret\u001b',
      },
    );
  });

  it('what RFC 9110 allows is sent as it is: inner spaces and tabs, obs-text (Latin-1)', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(String(req.headers['x-token']));
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      exporter = await startExporter(['--match', 'sidecar-monitor-test-matches-nothing'], {
        SIDECAR_MONITOR_CONFIG: config({ value: 'a b\tc\u00e9' }).replace('8080', String(port)),
      });
      const m = await eventually(async () => {
        const metrics = await scrape(`${exporter!.address}/metrics`);
        return metrics.all(METRICS.probeSuccess.name, { probe: 'h' }).length > 0
          ? metrics
          : undefined;
      }, 'a probe attempt');
      expect(m.value(METRICS.probeSuccess.name, { probe: 'h' })).toBe(1);
      // Node hands Latin-1 bytes back as the same code points.
      expect(seen[0]).toBe('a b\tc\u00e9');
    } finally {
      await new Promise((r) => {
        server.close(r);
      });
    }
  });
});

describe('loose settings are refused at start', () => {
  it('--listen with port 0 (a random port no Service or PodMonitor can find)', async () => {
    await failsAtStart(
      ['--listen', ':0', ...MATCH_NOTHING],
      /--listen: expected HOST:PORT with a port from 1 to 65535/,
    );
    await failsAtStart(
      ['--listen', '127.0.0.1:0', ...MATCH_NOTHING],
      /--listen: .*got "127\.0\.0\.1:0"/,
    );
  });

  it('numbers in one format: plain decimals', async () => {
    await failsAtStart(
      ['--collector-timeout', '0x10', ...MATCH_NOTHING],
      /--collector-timeout: expected a decimal number/,
    );
    await failsAtStart(
      ['--max-series', '1e3', ...MATCH_NOTHING],
      /--max-series: expected an integer/,
    );
  });

  it('a --proc-root that is not procfs', async () => {
    await failsAtStart(
      ['--proc-root', '/nonexistent', ...MATCH_NOTHING],
      /^sidecar-monitor exporter: --proc-root: \/nonexistent is not a procfs mount \(cannot read \/nonexistent\/stat/,
    );
  });

  it('a flag followed by another flag is named as missing its value', async () => {
    await failsAtStart(
      ['--listen', '--pid', '42'],
      /^sidecar-monitor exporter: --listen: needs a value/,
    );
  });
});
