// The container image, without building one (no Docker engine here): the Dockerfile's
// steps run in a temp directory (build, then `npm ci --omit=dev` in a clean directory),
// and the result runs as the image runs it: non-root uid/gid 65532, no capabilities, no
// new privileges, the whole root filesystem read-only. `sidecar-monitor exporter` must
// start and answer /metrics, and `sidecar-monitor operator --help` must work.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  productionInstall,
  readDockerignore,
  REPO,
  type ProductionInstall,
} from './support/production-install.ts';

const UID = 65532;

/** Runs argv as the image's user would: new mount namespace with `/` read-only, then setpriv. */
function asImageUser(argv: readonly string[]): string[] {
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--',
    'sh',
    '-c',
    // remount,bind: only this namespace's view of `/` turns read-only, never the host's.
    'mount -o remount,bind,ro / && exec "$@"',
    'sh',
    'setpriv',
    `--reuid=${UID}`,
    `--regid=${UID}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    ...argv,
  ];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

async function untilAnswers(
  url: string,
  child: ChildProcess,
  log: () => string,
): Promise<Response> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}:\n${log()}`);
    try {
      return await fetch(url);
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} never answered:\n${log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else
      child.once('exit', (code) => {
        resolve(code);
      });
  });
}

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');

  it('is multi-stage on Node 24, builds with npm ci + npm run build, ships production deps only', () => {
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=24$/m);
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toMatch(/RUN .*npm ci --no-audit/);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/RUN .*npm ci --omit=dev/);
    expect(dockerfile).toMatch(
      /^FROM gcr\.io\/distroless\/nodejs\$\{NODE_VERSION\}-debian12:nonroot$/m,
    );
  });

  it('runs as 65532, with the CLI as entry point (the operator injects `args: [exporter, ...]`)', () => {
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    expect(dockerfile).toMatch(
      /^ENTRYPOINT \["\/nodejs\/bin\/node", "\/app\/dist\/bin\/sidecar-monitor\.js"\]$/m,
    );
  });

  it('.dockerignore lets through what the build compiles and nothing of tests or charts', () => {
    const ctx = readDockerignore(readFileSync(path.join(REPO, '.dockerignore'), 'utf8'));
    const build = JSON.parse(readFileSync(path.join(REPO, 'tsconfig.build.json'), 'utf8')) as {
      include: string[];
    };
    for (const dir of build.include) expect(ctx.include).toContain(dir);
    for (const file of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
    ]) {
      expect(ctx.include).toContain(file);
    }
    expect(ctx.include).not.toContain('test');
    expect(ctx.include).not.toContain('charts');
  });
});

describe('production install, run as the image runs it', () => {
  let install: ProductionInstall | undefined;
  const children: ChildProcess[] = [];
  const built = (): ProductionInstall => {
    if (!install) throw new Error('the production install failed (see beforeAll)');
    return install;
  };

  beforeAll(() => {
    install = productionInstall();
  }, 600_000);

  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await exited(c);
      }
    }
    install?.remove();
  });

  function start(argv: readonly string[]): { child: ChildProcess; log: () => string } {
    const [cmd, ...args] = asImageUser(argv);
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    return { child, log: () => out };
  }

  it('has exactly the production dependencies of the lock file, no development-only package', () => {
    // package-lock.json marks packages only development needs with `dev: true`; some
    // devDependencies (e.g. @types/node) are also needed by production packages and stay.
    const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
    };
    const installed = (p: string) => existsSync(path.join(built().app, p));
    const entries = Object.entries(lock.packages).filter(([p]) => p.startsWith('node_modules/'));
    const devOnly = entries.filter(([, e]) => e.dev === true).map(([p]) => p);
    const production = entries
      .filter(([, e]) => e.dev !== true && e.optional !== true && e.devOptional !== true)
      .map(([p]) => p);
    expect(devOnly).toContain('node_modules/typescript');
    expect(devOnly.filter(installed)).toEqual([]);
    expect(production.filter((p) => !installed(p))).toEqual([]);
    expect(existsSync(built().entry)).toBe(true);
  });

  it('`operator --help` works as uid 65532 on a read-only root', () => {
    const [cmd, ...args] = asImageUser([process.execPath, built().entry, 'operator', '--help']);
    const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('usage: sidecar-monitor operator');
    expect(r.status).toBe(0);
  });

  it('the default command (CMD --help) lists both commands', () => {
    const [cmd, ...args] = asImageUser([process.execPath, built().entry, '--help']);
    const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout).toMatch(/^\s+exporter\s/m);
    expect(r.stdout).toMatch(/^\s+operator\s/m);
    expect(r.status).toBe(0);
  });

  it('`exporter` starts as uid 65532 on a read-only root, answers /metrics and stops on SIGTERM', async () => {
    // A process of the same uid to watch, as in a pod whose app runs as 65532.
    const app = start(['sleep', '600']).child;
    const port = await freePort();
    const exporter = start([
      process.execPath,
      built().entry,
      'exporter',
      `--listen=127.0.0.1:${port}`,
      `--pid=${app.pid!}`,
    ]);
    const res = await untilAnswers(
      `http://127.0.0.1:${port}/metrics`,
      exporter.child,
      exporter.log,
    );
    const body = await res.text();
    expect(res.status, body).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(body).toMatch(/^sidecar_monitor_build_info\{/m);
    expect(body).toMatch(/^sidecar_monitor_process_threads\{container="[^"]+"\} 1$/m);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    // The exporter runs as 65532 (the check is against /proc, not against what we asked for).
    const status = readFileSync(`/proc/${exporterPid(exporter.child.pid!)}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`^Uid:\\s+${UID}\\s+${UID}\\s+${UID}\\s+${UID}$`, 'm'));
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    exporter.child.kill('SIGTERM');
    expect(await exited(exporter.child)).toBe(0);
    app.kill('SIGKILL');
    await exited(app);
  });
});

/**
 * unshare execs sh, sh execs setpriv, setpriv execs node: the same PID throughout. Wait
 * until that PID is node (it is as soon as /metrics answers, but be exact).
 */
function exporterPid(pid: number): number {
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  if (!cmdline[0]?.endsWith('node')) throw new Error(`pid ${pid} runs ${cmdline.join(' ')}`);
  return pid;
}
