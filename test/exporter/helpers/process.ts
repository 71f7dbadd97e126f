// The exporter as a plain child process (standalone mode), for tests that need no pod.

import { spawn, type ChildProcess } from 'node:child_process';
import { REPO } from './pod.ts';
import { freePort } from './prometheus.ts';

export interface ExporterProcess {
  child: ChildProcess;
  /** e.g. http://127.0.0.1:41234 */
  address: string;
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** A --match that matches nothing but the exporter itself (which never watches itself). */
export const MATCH_NOTHING = ['--match', '^sidecar-monitor-test-matches-nothing$'];

export function runExporter(
  args: string[],
  env: Record<string, string> = {},
  command: string[] = ['node', `${REPO}/bin/sidecar-monitor.ts`],
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [...command.slice(1), 'exporter', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      resolve(code);
    }),
  );
  return { child, output: () => text, exited };
}

/**
 * Starts the exporter on a free loopback port (it refuses port 0), trying another port when
 * something took the chosen one in between.
 */
export async function startExporter(
  args: string[],
  env: Record<string, string> = {},
  command?: string[],
): Promise<ExporterProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(args, env, command);
    } catch (err) {
      if (attempt >= 3 || !/is already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(
  args: string[],
  env: Record<string, string>,
  command: string[] | undefined,
): Promise<ExporterProcess> {
  const port = await freePort();
  const run = runExporter(['--listen', `127.0.0.1:${port}`, ...args], env, command);
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`exporter did not start:\n${run.output()}`));
    }, 30_000);
    const check = () => {
      const m = /"address":"(http:[^"]+)"/.exec(run.output());
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    run.child.stdout?.on('data', check);
    void run.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`exporter exited:\n${run.output()}`));
    });
  });
  return {
    child: run.child,
    address,
    output: run.output,
    stop: async () => {
      if (run.child.exitCode === null) run.child.kill('SIGTERM');
      return run.exited;
    },
  };
}

export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]) * 1024;
}
