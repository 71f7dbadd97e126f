import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../operator/inject/cli.ts';
import { processStream } from '../../../operator/inject/offline.ts';
import { facts, IMAGE, loadAllFixtures, monitor, PROBE_WORKLOADS_DIR } from './fixtures.ts';

const MONITOR = `apiVersion: sidecarmonitor.io/v1alpha1
kind: SidecarMonitor
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
`;

const APP = `# The shop's web tier.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web # selected
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: app # the main container
        image: "example/web:1"
        args: [--port, '8080']
        enabled: yes
        ports:
        - containerPort: 8080
          name: http
`;

const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
spec:
  ports: [{ port: 80, targetPort: http }]   # flow style kept
`;

const JOB = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  labels:
    app: web
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: example/migrate:1
`;

function inject(text: string) {
  const result = processStream(text, { mode: 'inject', monitor: monitor(), facts: facts() });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result;
}

function toJs(text: string): unknown[] {
  return parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS() as unknown);
}

describe('processStream', () => {
  it('injects selected workloads, keeps comments and quoting, copies the rest byte for byte', () => {
    const text = `${APP}---\n${SERVICE}`;
    const result = inject(text);
    expect(result.changed).toBe(1);
    const [app, service] = result.text.split(/^---\n/m);
    expect(service).toBe(SERVICE);
    expect(app).toMatch(/^# The shop's web tier\.\n/);
    expect(app).toContain('app: web # selected');
    expect(app).toContain('- name: app # the main container');
    expect(app).toContain('image: "example/web:1"');
    expect(app).toContain("args: [ --port, '8080' ]");
    // YAML 1.1 as kubectl reads it: the scalar keeps its spelling.
    expect(app).toContain('enabled: yes');
    expect(app).toContain('name: sidecar-monitor-exporter');
    // The source's unindented sequences stay unindented.
    expect(app).toContain('      containers:\n      - name: app');
    const [doc] = toJs(result.text) as {
      spec: { template: { spec: { containers: unknown[] } } };
    }[];
    expect(doc?.spec.template.spec.containers).toHaveLength(2);
  });

  it('is idempotent on text and removal gives back the objects', () => {
    const once = inject(APP).text;
    const twice = inject(once);
    expect(twice.changed).toBe(0);
    expect(twice.text).toBe(once);
    const removed = processStream(once, { mode: 'remove' });
    expect(removed.ok && JSON.stringify(toJs(removed.text))).toBe(JSON.stringify(toJs(APP)));
  });

  it('removes only the named monitor injections with --remove --monitor', () => {
    const once = inject(APP).text;
    const other = processStream(once, { mode: 'remove', monitor: monitor({}, 'other') });
    expect(other.ok && other.changed).toBe(0);
    const mine = processStream(once, { mode: 'remove', monitor: monitor() });
    expect(mine.ok && mine.changed).toBe(1);
  });

  it('reports a selected Job as skipped and passes it through', () => {
    const result = inject(JOB);
    expect(result.text).toBe(JOB);
    expect(result.reports).toEqual([
      {
        line: 1,
        object: 'Job/migrate',
        level: 'skipped',
        reason: 'UnsupportedKind',
        message: expect.stringMatching(/Job is not supported/) as string,
      },
    ]);
  });

  it('handles kind: List, empty documents and a comment-only stream', () => {
    const list = `apiVersion: v1\nkind: List\nitems:\n- ${APP.replace(/^# .*\n/, '')
      .split('\n')
      .join('\n  ')
      .trimEnd()}\n`;
    const result = inject(`---\n${list}---\n# nothing here\n`);
    expect(result.changed).toBe(1);
    expect(result.text).toContain('sidecar-monitor-exporter');
    expect(result.text).toMatch(/# nothing here\n$/);
    expect(inject('# only a comment\n').text).toBe('# only a comment\n');
    expect(inject('').text).toBe('');
  });

  it('reports bad YAML with its line', () => {
    const result = processStream('a: 1\nb: [1, 2\nc: 3\n', { mode: 'remove' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it('keeps every fixture file intact outside the injected template', () => {
    const everything = monitor({
      selector: { matchExpressions: [{ key: 'example.com/none', operator: 'DoesNotExist' }] },
    });
    for (const fixture of loadAllFixtures()) {
      const result = processStream(fixture.text, {
        mode: 'inject',
        monitor: everything,
        facts: facts(),
      });
      expect(result.ok, fixture.file).toBe(true);
      if (!result.ok) continue;
      const injectable =
        /^kind: (Deployment|StatefulSet|DaemonSet)$/m.test(fixture.text) &&
        !/hostPID: true/.test(fixture.text);
      expect(result.changed, fixture.file).toBe(injectable ? 1 : 0);
      if (!injectable) expect(result.text, fixture.file).toBe(fixture.text);
      const removed = processStream(result.text, { mode: 'remove' });
      expect(removed.ok && JSON.stringify(toJs(removed.text)), fixture.file).toBe(
        JSON.stringify(toJs(fixture.text)),
      );
    }
  });
});

function memoryIo(
  files: Record<string, string>,
  stdin = '',
  version = '0.1.0',
): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    env: {},
    readFile: (path: string) => {
      const text = files[path];
      return text === undefined
        ? Promise.reject(
            Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' }),
          )
        : Promise.resolve(text);
    },
    readStdin: () => Promise.resolve(stdin),
    version: () => Promise.resolve(version),
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
  };
  return io;
}

describe('sidecar-monitor inject (in process)', () => {
  const image = ['--exporter-image', IMAGE];

  it('exit 0: prints the stream, files joined by ---', async () => {
    const io = memoryIo({ 'm.yaml': MONITOR, 'app.yaml': APP, 'svc.yaml': SERVICE });
    expect(await main(['-m', 'm.yaml', '-f', 'app.yaml', '-f', 'svc.yaml', ...image], io)).toBe(0);
    expect(io.out).toContain('sidecar-monitor-exporter');
    expect(io.out.endsWith(`---\n${SERVICE}`)).toBe(true);
    expect(io.err).toMatch(/warning: uid-unknown/);
  });

  it('exit 1: skipped objects on stderr with file, line, object and reason', async () => {
    const io = memoryIo({ 'm.yaml': MONITOR }, `${APP}---\n${JOB}`);
    expect(await main(['-m', 'm.yaml', ...image], io)).toBe(1);
    expect(io.err).toMatch(/^<stdin>:\d+: Job\/migrate: skipped \(UnsupportedKind\): /m);
    expect(io.out).toContain(JOB);
  });

  it('gRPC and exec probes: derived into the config, unrecognised ones reported with the reason', async () => {
    const dir = PROBE_WORKLOADS_DIR;
    const files = [
      'grpc__deployment-currency-grpc-health-probe.yaml',
      'http__statefulset-ledger-exec-not-probed.yaml',
    ];
    const io = memoryIo({
      'm.yaml': MONITOR.replace(/matchLabels:\n(\s+)app: web/, 'matchLabels:\n$1x: y').replace(
        /selector:\n(\s+)matchLabels:\n\s+x: y/,
        'selector:\n$1matchExpressions: [{ key: app, operator: In, values: [currency, ledger] }]',
      ),
      ...Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f), 'utf8')])),
    });
    expect(await main(['-m', 'm.yaml', ...files.flatMap((f) => ['-f', f]), ...image], io)).toBe(0);
    const configs = [...io.out.matchAll(/value: '(\{"version":1.*\})'/g)].map(
      (m) => JSON.parse(m[1] ?? '') as { probes: { type: string; port: number; tls?: boolean }[] },
    );
    expect(configs.map((c) => c.probes.map((p) => `${p.type}:${p.port}:${p.tls ?? '-'}`))).toEqual([
      ['grpc:7000:false', 'grpc:7443:true'],
      [],
    ]);
    expect(io.err).toMatch(
      /Deployment\/currency: info: ProbeNotSupported: startupProbe .*flag -tls-ca-cert/,
    );
    expect(io.err).toMatch(
      /StatefulSet\/ledger: info: ProbeNotSupported: livenessProbe .*program "ledger-ctl"/,
    );
    expect(io.err).toMatch(
      /StatefulSet\/ledger: info: ProbeNotSupported: readinessProbe .*shell syntax/,
    );
  });

  it('an opted-out workload is reported but is not a failure', async () => {
    const optedOut = APP.replace(
      'app: web # selected',
      'app: web\n    sidecarmonitor.io/inject: "false"',
    );
    const io = memoryIo({ 'm.yaml': MONITOR }, optedOut);
    expect(await main(['-m', 'm.yaml', ...image], io)).toBe(0);
    expect(io.err).toMatch(/info: OptedOut/);
    expect(io.out).toBe(optedOut);
  });

  it('--kube-version picks native sidecars; --pod-monitor drops the scrape annotations', async () => {
    const io = memoryIo({ 'm.yaml': MONITOR }, APP);
    expect(
      await main(['-m', 'm.yaml', '--kube-version', 'v1.31.2', '--pod-monitor', ...image], io),
    ).toBe(0);
    expect(io.out).toMatch(/initContainers:\n\s+- name: sidecar-monitor-exporter/);
    expect(io.out).toContain('restartPolicy: Always');
    expect(io.out).not.toContain('prometheus.io/scrape');
    const old = memoryIo({ 'm.yaml': MONITOR }, APP);
    expect(await main(['-m', 'm.yaml', '--kube-version', '1.28', ...image], old)).toBe(0);
    expect(old.out).not.toContain('initContainers');
  });

  it('--namespace: objects without one are taken to live there', async () => {
    const io = memoryIo({ 'm.yaml': MONITOR }, APP);
    expect(await main(['-m', 'm.yaml', '-n', 'shop', ...image], io)).toBe(0);
    expect(io.out).toContain('"namespace":"shop"');
    expect(io.out).not.toMatch(/^ {2}namespace:/m);
    const elsewhere = memoryIo(
      { 'm.yaml': MONITOR.replace('name: web\n', 'name: web\n  namespace: other\n') },
      APP,
    );
    expect(await main(['-m', 'm.yaml', '-n', 'shop', ...image], elsewhere)).toBe(0);
    expect(elsewhere.out).toBe(APP);
    const bad = memoryIo({ 'm.yaml': MONITOR }, APP);
    expect(await main(['-m', 'm.yaml', '-n', 'Shop!', ...image], bad)).toBe(2);
  });

  it('--allowed-exporter-images: a monitor image outside the list is skipped', async () => {
    const m = `${MONITOR}  exporter:\n    image: evil.example.com/x:1\n`;
    const io = memoryIo({ 'm.yaml': m }, APP);
    expect(
      await main(['-m', 'm.yaml', '--allowed-exporter-images', 'ghcr.io/sidecar-monitor/*'], io),
    ).toBe(1);
    expect(io.err).toMatch(/skipped \(ImageNotAllowed\)/);
  });

  it('--remove undoes the injection', async () => {
    const injected = memoryIo({ 'm.yaml': MONITOR }, APP);
    await main(['-m', 'm.yaml', ...image], injected);
    const io = memoryIo({}, injected.out);
    expect(await main(['--remove'], io)).toBe(0);
    expect(JSON.stringify(toJs(io.out))).toBe(JSON.stringify(toJs(APP)));
  });

  it.each([
    [['--nope'], /Unknown option '--nope'/],
    [['-f', 'app.yaml'], /--monitor is required/],
    [['-m', 'm.yaml', '-f', 'missing.yaml', ...image], /cannot read missing\.yaml: ENOENT/],
    [['-m', 'm.yaml', '-f', 'bad.yaml', ...image], /invalid YAML:\nbad\.yaml:\d+:\d+: /],
    [['-m', 'm.yaml', '--kube-version', 'latest', ...image], /--kube-version: "latest"/],
    [['-m', '-', '-f', '-', ...image], /stdin \(-\) can be read only once/],
    [['-m', 'two.yaml', ...image], /must hold exactly one SidecarMonitor \(found 2\)/],
  ])('exit 2 for %j', async (argv, message) => {
    const io = memoryIo({
      'm.yaml': MONITOR,
      'app.yaml': APP,
      'bad.yaml': 'kind: Deployment\nspec:\n  template: [\n',
      'two.yaml': `${MONITOR}---\n${MONITOR}`,
    });
    expect(await main(argv, io)).toBe(2);
    expect(io.err).toMatch(message);
    expect(io.out).toBe('');
  });

  it("defaults to the release's own image, as the chart installs the operator", async () => {
    const io = memoryIo({ 'm.yaml': MONITOR, 'app.yaml': APP }, '', '1.2.3');
    expect(await main(['-m', 'm.yaml', '-f', 'app.yaml'], io)).toBe(0);
    expect(io.out).toContain('image: ghcr.io/sidecar-monitor/sidecar-monitor:1.2.3');
    const fromEnv = memoryIo({ 'm.yaml': MONITOR, 'app.yaml': APP }, '', '1.2.3');
    fromEnv.env = { SIDECAR_MONITOR_IMAGE: 'registry.example/smon:9' };
    expect(await main(['-m', 'm.yaml', '-f', 'app.yaml'], fromEnv)).toBe(0);
    expect(fromEnv.out).toContain('image: registry.example/smon:9');
    // A build that does not know its version cannot name its image.
    const unknown = memoryIo({ 'm.yaml': MONITOR, 'app.yaml': APP }, '', 'unknown');
    expect(await main(['-m', 'm.yaml', '-f', 'app.yaml'], unknown)).toBe(2);
    expect(unknown.err).toMatch(/no exporter image/);
    expect(unknown.out).toBe('');
  });

  it('names every error of an invalid monitor at once, as the API server does', async () => {
    const bad = `apiVersion: sidecarmonitor.io/v1alpha1
kind: SidecarMonitor
metadata:
  name: web
spec:
  selector: {}
  health:
    endpoints:
      - name: ready
        port: 70000
      - name: ready
        port: 8080
`;
    const io = memoryIo({ 'm.yaml': bad, 'app.yaml': APP });
    expect(await main(['-m', 'm.yaml', '-f', 'app.yaml'], io)).toBe(2);
    expect(io.err).toContain('m.yaml:11: spec.health.endpoints[1]: duplicate value ["ready"]');
    expect(io.err).toContain('m.yaml:10: spec.health.endpoints[0].port: must be a port number');
    expect(io.err).toContain('m.yaml:6: spec.selector: must not be empty');
    expect(io.out).toBe('');
  });

  it('exit 2 for an invalid monitor, naming file, line and field; nothing printed', async () => {
    const bad = MONITOR.replace(
      'app: web',
      'app: web\n  health:\n    endpoints:\n      - name: ready\n        port: 70000',
    );
    const io = memoryIo({ 'm.yaml': bad, 'app.yaml': APP });
    expect(await main(['-m', 'm.yaml', '-f', 'app.yaml', ...image], io)).toBe(2);
    expect(io.err).toContain(
      'invalid SidecarMonitor:\nm.yaml:12: spec.health.endpoints[0].port: must be a port number',
    );
    expect(io.out).toBe('');
  });

  it('prints nothing when a later file is bad', async () => {
    const io = memoryIo({ 'm.yaml': MONITOR, 'app.yaml': APP, 'bad.yaml': 'a: [\n' });
    expect(await main(['-m', 'm.yaml', '-f', 'app.yaml', '-f', 'bad.yaml', ...image], io)).toBe(2);
    expect(io.out).toBe('');
  });

  it('--help prints the usage', async () => {
    const io = memoryIo({});
    expect(await main(['--help'], io)).toBe(0);
    expect(io.out).toMatch(/^usage: sidecar-monitor inject --monitor FILE/);
  });
});

describe('sidecar-monitor inject (the real CLI)', () => {
  const exec = promisify(execFile);
  const root = join(import.meta.dirname, '../../..');
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smon-inject-'));
    await writeFile(join(dir, 'monitor.yaml'), MONITOR);
    await writeFile(join(dir, 'app.yaml'), `${APP}---\n${JOB}`);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads files, prints YAML with the release image, exits 1 for the skipped Job', async () => {
    const env = { ...process.env };
    delete env.SIDECAR_MONITOR_IMAGE;
    const run = exec(
      process.execPath,
      [
        join(root, 'bin/sidecar-monitor.ts'),
        'inject',
        '-m',
        join(dir, 'monitor.yaml'),
        '-f',
        join(dir, 'app.yaml'),
      ],
      { env },
    );
    const error = await run.then(
      () => undefined,
      (e: unknown) => e as { code: number; stdout: string; stderr: string },
    );
    const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(error?.code).toBe(1);
    expect(error?.stdout).toContain('name: sidecar-monitor-exporter');
    expect(error?.stdout).toContain(`image: ghcr.io/sidecar-monitor/sidecar-monitor:${version}`);
    expect(error?.stderr).toMatch(/Job\/migrate: skipped \(UnsupportedKind\)/);
  });

  it('reads stdin with -f - and exits 2 on an invalid monitor', async () => {
    const child = execFile(process.execPath, [
      join(root, 'bin/sidecar-monitor.ts'),
      'inject',
      '--remove',
      '-f',
      '-',
    ]);
    child.stdin?.end(SERVICE);
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      let stdout = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (code) => {
        resolve({ code, stdout });
      });
    });
    expect(out).toEqual({ code: 0, stdout: SERVICE });
    await writeFile(
      join(dir, 'bad-monitor.yaml'),
      MONITOR.replace('matchLabels:\n      app: web', 'matchLabels: {}'),
    );
    const bad = await exec(process.execPath, [
      join(root, 'bin/sidecar-monitor.ts'),
      'inject',
      '-m',
      join(dir, 'bad-monitor.yaml'),
    ]).then(
      () => undefined,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(bad?.code).toBe(2);
    expect(bad?.stderr).toMatch(/bad-monitor\.yaml:\d+: spec\.selector/);
  });
});
