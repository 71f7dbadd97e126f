// One control-plane process: spawned in its own process group with its output in a log
// file, stopped by signalling the whole group. Under setpriv --pdeathsig (util-linux) the
// kernel also kills it when the process that started it dies, even by SIGKILL, so a
// crashed test runner leaves no etcd or API server behind.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';

export interface ComponentSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Component {
  readonly name: string;
  readonly pid: number;
  /** Settles when the process has exited, whoever stopped it. */
  readonly exited: Promise<Exit>;
  /** Current exit, if it has already exited. */
  exit(): Exit | undefined;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<Exit>;
  /** Synchronous SIGKILL to the group, for process 'exit' handlers. */
  killNow(): void;
  /** Last lines of its log, for error messages. */
  logTail(lines?: number): string;
}

export interface ComponentOptions {
  readonly logger: Logger;
  /** Start it under `setpriv --pdeathsig KILL` (see supportsParentDeathSignal). */
  readonly parentDeathSignal: boolean;
}

/** Whether util-linux's setpriv can set a parent-death signal on this machine. */
export function supportsParentDeathSignal(): boolean {
  const probe = spawnSync('setpriv', ['--help'], { stdio: 'pipe' });
  return probe.status === 0 && probe.stdout.toString('utf8').includes('--pdeathsig');
}

export function startComponent(spec: ComponentSpec, options: ComponentOptions): Component {
  const { logger } = options;
  const log = openSync(spec.logFile, 'a');
  const [command, args] = options.parentDeathSignal
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', spec.command, ...spec.args]]
    : [spec.command, [...spec.args]];
  const child = (() => {
    try {
      return spawn(command, args, {
        detached: true, // its own process group: one signal reaches everything it starts
        stdio: ['ignore', log, log],
        env: spec.env ?? process.env,
      });
    } finally {
      closeSync(log);
    }
  })();
  const pid = child.pid;
  if (pid === undefined) {
    throw new Error(`could not start ${spec.name} (${spec.command})`);
  }
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      logger.debug({ component: spec.name, pid, code, signal }, 'component exited');
      resolve(exit);
    });
    child.on('error', (error) => {
      logger.error({ component: spec.name, err: error }, 'component failed to start');
      exit = { code: null, signal: null };
      resolve(exit);
    });
  });
  // Nothing of ours keeps the event loop alive for a component: the owner decides.
  child.unref();
  logger.debug({ component: spec.name, pid, args: spec.args }, 'component started');

  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone: ESRCH.
    }
  };

  return {
    name: spec.name,
    pid,
    exited,
    exit: () => exit,
    async stop(graceMs = 10_000): Promise<Exit> {
      // Once reaped, its pid may belong to someone else: never signal it again.
      if (exit !== undefined) return exit;
      // An unref'd child would let the event loop end before its exit is observed.
      child.ref();
      signalGroup('SIGTERM');
      const timer = setTimeout(() => {
        logger.warn({ component: spec.name, pid, graceMs }, 'no exit after SIGTERM; SIGKILL');
        signalGroup('SIGKILL');
      }, graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
        child.unref();
      }
    },
    killNow(): void {
      if (exit === undefined) signalGroup('SIGKILL');
    },
    logTail(lines = 30): string {
      try {
        return readFileSync(spec.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    },
  };
}
