// The container images, built for real: test/images/build.ts builds the project's Dockerfile
// with buildah (offline, on local stand-ins for the base images) into the OCI archives that
// `ctr images import` takes, and these tests read those archives as containerd does, unpack
// them, and run them as a runtime runs them: the image's user (or an arbitrary one), no
// capabilities, no_new_privs, the whole root filesystem read-only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImages, REPO, type ImageArchives } from '../images/build.ts';
import { contextFiles, contextKey, readDockerignore } from '../images/context.ts';
import {
  imageEnv,
  imageUser,
  runInImage,
  unpackImage,
  type RunAs,
  type UnpackedImage,
} from '../images/oci.ts';
import { reapOnExit } from '../support/reap.ts';

const NONROOT = 65532;

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

async function until<T>(what: string, probe: () => Promise<T | undefined>, log: () => string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} never happened:\n${log()}`);
    await new Promise((r) => setTimeout(r, 200));
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
  const froms = [...dockerfile.matchAll(/^FROM (.+)$/gm)].map((m) => m[1]);

  it('is multi-stage on Node 24 with the base images as build arguments (defaults: the public ones)', () => {
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=24$/m);
    expect(dockerfile).toMatch(/^ARG BUILD_IMAGE=node:\$\{NODE_VERSION\}-bookworm-slim$/m);
    expect(dockerfile).toMatch(
      /^ARG RUNTIME_IMAGE=gcr\.io\/distroless\/nodejs\$\{NODE_VERSION\}-debian12:nonroot$/m,
    );
    expect(froms).toEqual([
      '--platform=$BUILDPLATFORM ${BUILD_IMAGE} AS build',
      '${BUILD_IMAGE} AS deps',
      '${RUNTIME_IMAGE} AS sample-app',
      // The last stage is the default target: the product image.
      '${RUNTIME_IMAGE}',
    ]);
    expect(dockerfile).toMatch(/RUN .*npm ci --no-audit/);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/RUN .*npm ci --omit=dev/);
  });

  it('.dockerignore lets through what the build compiles and nothing of tests or charts', () => {
    const ctx = readDockerignore(readFileSync(path.join(REPO, '.dockerignore'), 'utf8'));
    const build = JSON.parse(readFileSync(path.join(REPO, 'tsconfig.build.json'), 'utf8')) as {
      include: string[];
    };
    for (const dir of [...build.include, 'examples']) expect(ctx.include).toContain(dir);
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

describe('the build context key (what names the archives)', () => {
  let root = '';
  const context = readDockerignore('*\n!package.json\n!src/\n**/*.test.ts\n**/node_modules\n');
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'sidecar-monitor-context-'));
    cpSync(path.join(REPO, 'package.json'), path.join(root, 'package.json'));
    for (const [file, body] of [
      ['src/a.ts', 'a'],
      ['src/a.test.ts', 't'],
      ['src/node_modules/x/index.js', 'x'],
      ['test/b.ts', 'b'],
    ] as const) {
      mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      writeFileSync(path.join(root, file), body);
    }
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('covers exactly the files the context lets through', () => {
    expect(contextFiles(root, context)).toEqual(['package.json', 'src/a.ts']);
  });

  it('changes with a file in the context, its executable bit or the extra inputs, not with others', () => {
    const key = () => contextKey(root, context, ['Dockerfile v1']);
    const before = key();
    expect(before).toMatch(/^[0-9a-f]{16}$/);
    writeFileSync(path.join(root, 'test/b.ts'), 'changed');
    writeFileSync(path.join(root, 'src/a.test.ts'), 'changed');
    expect(key()).toBe(before);
    chmodSync(path.join(root, 'src/a.ts'), 0o755);
    const executable = key();
    expect(executable).not.toBe(before);
    writeFileSync(path.join(root, 'src/a.ts'), 'changed');
    expect(key()).not.toBe(executable);
    expect(contextKey(root, context, ['Dockerfile v2'])).not.toBe(key());
  });
});

describe('the images, built from the Dockerfile and run as a runtime runs them', () => {
  let archives: ImageArchives | undefined;
  const unpacked = new Map<keyof ImageArchives, UnpackedImage>();
  const children: ChildProcess[] = [];
  const logger = pino({ name: 'images', level: 'warn' });

  beforeAll(async () => {
    archives = await buildImages({ logger });
    for (const key of ['sidecarMonitor', 'sampleApp', 'pause'] as const) {
      unpacked.set(key, unpackImage(archives[key]));
    }
  }, 1_200_000);

  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await exited(c);
      }
    }
    for (const image of unpacked.values()) image.remove();
  });

  const image = (key: keyof ImageArchives): UnpackedImage => {
    const found = unpacked.get(key);
    if (!found) throw new Error(`the ${key} image was not built (see beforeAll)`);
    return found;
  };

  function start(img: UnpackedImage, as: RunAs, command: readonly string[]) {
    const [cmd, ...args] = runInImage(img, as, command);
    const child = spawn(cmd!, args, {
      env: imageEnv(img.config),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    reapOnExit(child);
    children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    return { child, log: () => out };
  }

  function run(img: UnpackedImage, as: RunAs, command: readonly string[]) {
    const [cmd, ...args] = runInImage(img, as, command);
    return spawnSync(cmd!, args, {
      env: imageEnv(img.config),
      encoding: 'utf8',
      timeout: 60_000,
    });
  }

  it('are OCI archives named for `ctr -n k8s.io images import`, and an unchanged checkout is not rebuilt', async () => {
    expect(image('sidecarMonitor').name).toBe('localhost/sidecar-monitor:dev');
    expect(image('sampleApp').name).toBe('localhost/sample-app:dev');
    expect(image('pause').name).toBe('localhost/pause:3.10');
    for (const key of ['sidecarMonitor', 'sampleApp', 'pause'] as const) {
      // containerd's importer reads oci-layout and index.json at the top of the archive.
      expect(image(key).entries).toEqual(['oci-layout', 'index.json', 'blobs/']);
      expect(image(key).architecture).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
    }
    const built = archives!;
    const mtime = statSync(built.sidecarMonitor).mtimeMs;
    expect(await buildImages({ logger })).toEqual(built);
    expect(statSync(built.sidecarMonitor).mtimeMs).toBe(mtime);
  });

  it('sidecar-monitor: runs the compiled CLI as 65532:65532 on a runtime with no shell', () => {
    const { config, rootfs } = image('sidecarMonitor');
    expect(config.User).toBe(`${NONROOT}:${NONROOT}`);
    expect(config.Entrypoint).toEqual(['/nodejs/bin/node', '/app/dist/bin/sidecar-monitor.js']);
    expect(config.Cmd).toEqual(['--help']);
    expect(config.WorkingDir).toBe('/app');
    expect(config.Env).toContain('NODE_ENV=production');
    for (const shell of ['bin/sh', 'bin/bash', 'bin/dash', 'usr/bin/sh', 'bin/busybox']) {
      expect(lstatSync(path.join(rootfs, shell), { throwIfNoEntry: false }), shell).toBeUndefined();
    }
    expect(readdirSync(path.join(rootfs, 'usr/bin'))).toEqual([]);
    expect(readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8')).toMatch(
      new RegExp(`^nonroot:x:${NONROOT}:${NONROOT}:`, 'm'),
    );
    // Compiled JavaScript, not the TypeScript sources.
    expect(existsSync(path.join(rootfs, 'app/dist/bin/sidecar-monitor.js'))).toBe(true);
    expect(existsSync(path.join(rootfs, 'app/bin'))).toBe(false);
  });

  it('sidecar-monitor: /app is owned by root and readable, not writable, by every uid', () => {
    const bad: string[] = [];
    const walk = (p: string): void => {
      const st = lstatSync(p);
      // A symlink's own mode means nothing (always 777): its target is checked where it is.
      const writable = (st.mode & 0o022) !== 0;
      const unreadable = (st.mode & 0o004) === 0;
      if (st.uid !== 0 || (!st.isSymbolicLink() && (writable || unreadable)))
        bad.push(`${p} ${st.uid} ${(st.mode & 0o7777).toString(8)}`);
      if (st.isDirectory()) for (const n of readdirSync(p)) walk(path.join(p, n));
    };
    walk(path.join(image('sidecarMonitor').rootfs, 'app'));
    expect(bad).toEqual([]);
  });

  it('sidecar-monitor: has exactly the production dependencies of the lock file', () => {
    // package-lock.json marks packages only development needs with `dev: true`; some
    // devDependencies (e.g. @types/node) are also needed by production packages and stay.
    const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
    };
    const app = path.join(image('sidecarMonitor').rootfs, 'app');
    const installed = (p: string) => existsSync(path.join(app, p));
    const entries = Object.entries(lock.packages).filter(([p]) => p.startsWith('node_modules/'));
    const devOnly = entries.filter(([, e]) => e.dev === true).map(([p]) => p);
    const production = entries
      .filter(([, e]) => e.dev !== true && e.optional !== true && e.devOptional !== true)
      .map(([p]) => p);
    expect(devOnly).toContain('node_modules/typescript');
    expect(devOnly.filter(installed)).toEqual([]);
    expect(production.filter((p) => !installed(p))).toEqual([]);
  });

  it('sidecar-monitor: the default command lists both commands, `operator --help` works', () => {
    const img = image('sidecarMonitor');
    const as = imageUser(img.config);
    const help = run(img, as, [...img.config.Entrypoint!, ...img.config.Cmd!]);
    expect(help.stdout).toMatch(/^\s+exporter\s/m);
    expect(help.stdout).toMatch(/^\s+operator\s/m);
    expect(help.status).toBe(0);
    const operator = run(img, as, [...img.config.Entrypoint!, 'operator', '--help']);
    expect(operator.stderr).toBe('');
    expect(operator.stdout).toContain('usage: sidecar-monitor operator');
    expect(operator.status).toBe(0);
  });

  it('sidecar-monitor: `exporter` answers /metrics as 65532 with no capabilities on a read-only root, stops on SIGTERM', async () => {
    const img = image('sidecarMonitor');
    // A process of the same uid to watch, as in a pod whose app runs as 65532 (on the host:
    // the exporter reaches it through /proc, as through a shared PID namespace).
    const app = spawn(
      'setpriv',
      [`--reuid=${NONROOT}`, `--regid=${NONROOT}`, '--clear-groups', 'sleep', '600'],
      { stdio: 'ignore' },
    );
    reapOnExit(app);
    children.push(app);
    const port = await freePort();
    const exporter = start(img, imageUser(img.config), [
      ...img.config.Entrypoint!,
      'exporter',
      `--listen=127.0.0.1:${port}`,
      `--pid=${app.pid!}`,
    ]);
    const res = await until(
      '/metrics answering',
      () => fetch(`http://127.0.0.1:${port}/metrics`),
      exporter.log,
    );
    const body = await res.text();
    expect(res.status, body).toBe(200);
    expect(body).toMatch(/^sidecar_monitor_build_info\{/m);
    expect(body).toMatch(/^sidecar_monitor_process_threads\{container="[^"]+"\} 1$/m);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    // What the kernel says about the process, not what we asked for: the image's node.
    const pid = exporter.child.pid!;
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe('/nodejs/bin/node');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(
      new RegExp(`^Uid:\\s+${NONROOT}\\s+${NONROOT}\\s+${NONROOT}\\s+${NONROOT}$`, 'm'),
    );
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^CapBnd:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    const rootMount = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
      .split('\n')
      .find((l) => l.split(' ')[4] === '/');
    expect(rootMount?.split(' ')[5]).toMatch(/^ro\b/);
    exporter.child.kill('SIGTERM');
    expect(await exited(exporter.child)).toBe(0);
    app.kill('SIGKILL');
    await exited(app);
  });

  it('sample-app: by default serves /healthz and the knobs on 0.0.0.0:8080, as any uid on a read-only root', async () => {
    const img = image('sampleApp');
    expect(img.config.User).toBe(`${NONROOT}:${NONROOT}`);
    expect(img.config.Entrypoint).toEqual(['/nodejs/bin/node', '/app/main.js']);
    expect(Object.keys(img.config.ExposedPorts ?? {})).toEqual(['8080/tcp']);
    expect(lstatSync(path.join(img.rootfs, 'bin/sh'), { throwIfNoEntry: false })).toBeUndefined();
    // An arbitrary uid/gid the image never heard of (as OpenShift assigns), in a network
    // namespace of its own, so port 8080 is its own.
    const as = { uid: 1_000_680_000, gid: 1_000_680_000, ownNetwork: true };
    const app = start(img, as, [...img.config.Entrypoint!, ...img.config.Cmd!]);
    const pid = app.child.pid!;
    // 0.0.0.0:8080 listening (state 0A), from the app's own view of its network namespace.
    await until(
      'a listener on 0.0.0.0:8080',
      () =>
        Promise.resolve(
          /^\s*\d+: 00000000:1F90 00000000:0000 0A /m.test(
            readFileSync(`/proc/${pid}/net/tcp`, 'utf8'),
          )
            ? true
            : undefined,
        ),
      app.log,
    );
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(
      /^Uid:\s+1000680000\s+1000680000\s+1000680000\s+1000680000$/m,
    );
    const get = (urlPath: string) => {
      const r = spawnSync(
        'nsenter',
        [
          `--net=/proc/${pid}/ns/net`,
          process.execPath,
          '-e',
          `fetch('http://127.0.0.1:8080${urlPath}').then(async (r) => console.log(r.status, (await r.text()).trim()))`,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      return r.stdout.trim() + r.stderr;
    };
    expect(get('/healthz')).toBe('200 ok');
    expect(get('/work?cpu_ms=5')).toMatch(/^200 \{"latencyMs":0\}$/);
    expect(get('/hold?mb=2')).toMatch(/^200 \{"heldMiB":2,/);
    // /spawn's children are the image's own `sleep` (the runtime base has none), same uid.
    expect(get('/spawn?n=3')).toMatch(/^200 \{.*"children":3,/);
    const sleeping = await until(
      'three sleep children',
      () => {
        const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ');
        const argv0 = kids.map((k) => readFileSync(`/proc/${k}/cmdline`, 'utf8').split('\0')[0]);
        return Promise.resolve(argv0.filter((a) => a === 'sleep').length === 3 ? kids : undefined);
      },
      app.log,
    );
    for (const kid of sleeping) {
      expect(readFileSync(`/proc/${kid}/status`, 'utf8')).toMatch(/^Uid:\s+1000680000\s/m);
    }
    expect(get('/unspawn')).toMatch(/^200 \{.*"children":0,/);
    expect(app.log()).toMatch(/"event":"listening","port":8080/);
    app.child.kill('SIGTERM');
    expect(await exited(app.child)).toBe(0);
  });

  it('pause: one static /pause run as 65535, which answers -v and exits 0 on SIGTERM', async () => {
    const img = image('pause');
    expect(img.config.Entrypoint).toEqual(['/pause']);
    expect(img.config.User).toBe('65535:65535');
    expect(readdirSync(img.rootfs)).toEqual(['pause']);
    const elf = readFileSync(path.join(img.rootfs, 'pause'));
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    // No PT_INTERP program header: nothing to load from an image that has only /pause.
    expect(
      spawnSync('readelf', ['-l', path.join(img.rootfs, 'pause')], { encoding: 'utf8' }).stdout,
    ).not.toContain('INTERP');
    const version = spawnSync(
      'unshare',
      ['--root', img.rootfs, '--setuid', '65535', '--setgid', '65535', '/pause', '-v'],
      { encoding: 'utf8' },
    );
    expect(version.stdout).toMatch(/^pause\.c v3\.10/);
    expect(version.status).toBe(0);
    const pause = spawn(
      'unshare',
      ['--root', img.rootfs, '--setuid', '65535', '--setgid', '65535', '/pause'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    reapOnExit(pause);
    children.push(pause);
    let stderr = '';
    pause.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // SIGTERM once pause catches it (SigCgt bit 15), not before its handler is installed.
    await until(
      'pause catching SIGTERM',
      () => {
        const caught = /^SigCgt:\s+([0-9a-f]+)$/m.exec(
          readFileSync(`/proc/${pause.pid!}/status`, 'utf8'),
        );
        return Promise.resolve(
          caught && (BigInt(`0x${caught[1]!}`) >> 14n) & 1n ? true : undefined,
        );
      },
      () => stderr,
    );
    pause.kill('SIGTERM');
    expect(await exited(pause)).toBe(0);
    expect(stderr).toContain('Shutting down, got signal: Terminated');
  });
});
