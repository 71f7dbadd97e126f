// The injection core's output against the real API server, for every workload fixture in
// ../shared/fixtures/workloads/, with regular and native-sidecar cluster facts:
// 1. what desiredPodTemplate makes of a fixture is accepted (server-side apply, dry run), and
//    so is what the real `sidecar-monitor inject` prints for the same files, read by the real
//    kubectl exactly as the core meant it; fixtures the core does not inject are skipped with
//    the reason the table below gives, and the CLI passes them through byte for byte.
// 2. the server-side apply round trip the operator relies on, over workloads created by
//    another field manager (kubectl client-side apply, or a GitOps tool's server-side apply):
//    applyConfiguration(...) applied as `sidecar-monitor` makes the live template
//    desiredPodTemplate's (as the server defaults it) and managedFields give sidecar-monitor
//    exactly the injected fields; the empty apply then gives back the server's original
//    template exactly and leaves sidecar-monitor owning nothing.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, type Document } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_EXPORTER_RESOURCES, FIELD_MANAGER } from '../../operator/api/constants.ts';
import type { SidecarMonitor } from '../../operator/api/v1alpha1.ts';
import {
  applyConfiguration,
  desiredPodTemplate,
  removeInjection,
  type ClusterFacts,
  type PodTemplateSpec,
  type SkipReason,
  type Workload,
} from '../../operator/inject/index.ts';
import {
  testCluster,
  type KubeObject,
  type ObjectRef,
  type TestNamespace,
  type ToolResult,
} from './harness.ts';
import { coveredPart, fieldSetOf, type FieldSet } from './ssa-fields.ts';

const cluster = testCluster();

// Deleted (not waited for) when the file ends, whatever state a test left them in.
const namespaces: TestNamespace[] = [];
async function freshNamespace(prefix: string): Promise<TestNamespace> {
  const ns = await cluster.namespace(prefix);
  namespaces.push(ns);
  return ns;
}
afterAll(async () => {
  await Promise.all(namespaces.splice(0).map((ns) => ns.delete()));
});

const REPO = path.resolve(import.meta.dirname, '..', '..');
const FIXTURES = path.resolve(REPO, '..', 'shared', 'fixtures', 'workloads');
/** Ours, with the probe forms the derivation recognises (gRPC, grpc_health_probe, curl, wget). */
const PROBE_FIXTURES = path.resolve(REPO, 'test', 'fixtures', 'workloads');
const NODE = path.join(REPO, 'node_modules', '.bin', 'node');
const IMAGE = 'ghcr.io/sidecar-monitor/sidecar-monitor:v0.1.0';
const MONITOR_NAME = 'every-workload';

/**
 * The fixtures the core must not inject, and why (the spec, like the goldens): every other
 * fixture must be injected. A new fixture that is skipped fails here until it is listed.
 */
const EXPECTED_SKIPS: Readonly<Record<string, SkipReason>> = {
  'ingress-nginx__job-ingress-nginx-admission-create.yaml': 'UnsupportedKind',
  'istio__cronjob-hellocron.yaml': 'UnsupportedKind',
  // batch/v1beta1 CronJob: removed in Kubernetes 1.25; passed through, never dry-run here.
  'linkerd2__cronjob-hello-batch-v1beta1.yaml': 'UnsupportedKind',
  'kube-prometheus__daemonset-node-exporter.yaml': 'HostPID',
};

interface Fixture {
  readonly file: string;
  /** The text as on disk. */
  readonly text: string;
  readonly kind: string;
  /** Unique among the fixtures (istio's test workloads are all called hello). */
  readonly name: string;
}

/** Documents that hold an object (some fixtures end with an empty `---` one). */
function objectDocuments(text: string): Document[] {
  return parseAllDocuments(text, { version: '1.1' }).filter((d) => {
    const value: unknown = d.toJS();
    return typeof value === 'object' && value !== null;
  });
}

/** The one object document of a fixture. */
function objectDocument(text: string, source: string): Document {
  const docs = objectDocuments(text);
  const [doc] = docs;
  if (doc === undefined || docs.length !== 1 || doc.errors.length > 0) {
    throw new Error(`${source}: expected exactly one object document`);
  }
  return doc;
}

function loadFixtures(): Fixture[] {
  const raw = [FIXTURES, PROBE_FIXTURES]
    .flatMap((dir) =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .sort()
        .map((file) => ({ dir, file })),
    )
    .map(({ dir, file }) => {
      const text = readFileSync(path.join(dir, file), 'utf8');
      const object = objectDocument(text, file).toJS() as Workload;
      return { file, text, kind: object.kind ?? '', name: object.metadata?.name ?? '' };
    });
  const seen = new Map<string, number>();
  const count = (name: string): number => raw.filter((f) => f.name === name).length;
  return raw.map((f) => {
    if (count(f.name) === 1) return f;
    const n = (seen.get(f.name) ?? 0) + 1;
    seen.set(f.name, n);
    return { ...f, name: `${f.name}-${n}` };
  });
}

/**
 * The fixture's text with metadata.name set to its unique name and metadata.namespace (when it
 * names one) to `namespace`, edited in place: every other byte stays as on disk, so the CLI
 * reads the fixture as written and pass-through can be checked byte for byte.
 */
function retarget(fixture: Fixture, namespace: string): string {
  const source = objectDocument(fixture.text, fixture.file);
  const edits: { range: [number, number]; value: string }[] = [];
  for (const [key, value] of [
    ['name', fixture.name],
    ['namespace', namespace],
  ] as const) {
    const node = source.getIn(['metadata', key], true) as { range?: number[] } | undefined;
    const [start, end] = node?.range ?? [];
    if (start !== undefined && end !== undefined) edits.push({ range: [start, end], value });
  }
  let text = fixture.text;
  for (const { range, value } of edits.sort((a, b) => b.range[0] - a.range[0])) {
    text = text.slice(0, range[0]) + value + text.slice(range[1]);
  }
  return text;
}

/** The fixture as the API server would take it into `namespace` (as `kubectl apply -n`). */
function workloadIn(fixture: Fixture, namespace: string): Workload {
  const object = objectDocument(retarget(fixture, namespace), fixture.file).toJS() as Workload;
  object.metadata = { ...object.metadata, namespace };
  return object;
}

function monitorIn(namespace: string): SidecarMonitor {
  return {
    apiVersion: 'sidecarmonitor.io/v1alpha1',
    kind: 'SidecarMonitor',
    metadata: { name: MONITOR_NAME, namespace },
    // Selects every workload that has not opted out, whatever its labels.
    spec: {
      selector: {
        matchExpressions: [
          { key: 'sidecarmonitor.io/inject', operator: 'NotIn', values: ['false'] },
        ],
      },
    },
  };
}

function facts(native: boolean, allowedExporterImages: readonly string[]): ClusterFacts {
  return {
    nativeSidecars: native,
    podMonitors: false,
    defaultExporterImage: IMAGE,
    allowedExporterImages,
    defaultExporterResources: structuredClone(DEFAULT_EXPORTER_RESOURCES),
  };
}

const refOf = (object: Workload): ObjectRef => ({
  apiVersion: object.apiVersion ?? '',
  kind: object.kind ?? '',
  name: object.metadata?.name ?? '',
  namespace: object.metadata?.namespace ?? '',
});

const templateOf = (object: KubeObject): PodTemplateSpec =>
  (object.spec as { template: PodTemplateSpec }).template;

/** The fields `manager` holds on the main resource; undefined when it holds none. */
function fieldsOf(object: KubeObject, manager: string): FieldSet | undefined {
  const entries = (object.metadata.managedFields ?? []).filter(
    (e) => e.manager === manager && (e as { subresource?: string }).subresource === undefined,
  );
  if (entries.length > 1) throw new Error(`${manager} has ${entries.length} managedFields entries`);
  return entries[0]?.fieldsV1 as FieldSet | undefined;
}

/** `sidecar-monitor inject`, the real CLI in its own process. */
function runInject(args: readonly string[]): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, ['bin/sidecar-monitor.ts', 'inject', ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error('cannot run sidecar-monitor inject', { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout,
        stderr: signal ? `${stderr}\nkilled by ${signal}` : stderr,
        code: code ?? -1,
      });
    });
  });
}

/** The object documents of a stream as raw text (from the object on: no `---`), in order. */
function documentTexts(text: string): string[] {
  return objectDocuments(text).map((d) =>
    text.slice(d.contents?.range?.[0] ?? 0, d.range?.[1] ?? text.length),
  );
}

/** kubectl -o json prints several objects one after another, each closed by `}` at column 0. */
function concatenatedJson(text: string): KubeObject[] {
  return JSON.parse(`[${text.trim().replace(/^\}\n\{$/gm, '},\n{')}]`) as KubeObject[];
}

const warningsOf = (stderr: string): string[] =>
  stderr.split('\n').filter((line) => line.startsWith('Warning: '));

const fixtures = loadFixtures();
const injectable = fixtures.filter((f) => EXPECTED_SKIPS[f.file] === undefined);
const apiName = (f: Fixture): string => `${f.kind.toLowerCase()}.apps/${f.name}`;

const VARIANTS = [
  { variant: 'regular container', native: false },
  { variant: 'native sidecar', native: true },
] as const;

describe('every fixture is accepted by the API server once injected', () => {
  let ns: TestNamespace;
  let dir: string;
  let originalWarnings: string[];

  beforeAll(async () => {
    ns = await freshNamespace('inject-dry-run');
    dir = mkdtempSync(path.join(cluster.info.dir, 'inject-dry-run-'));
    for (const f of fixtures) writeFileSync(path.join(dir, f.file), retarget(f, ns.name));
    const monitor: SidecarMonitor = { ...monitorIn(ns.name), metadata: { name: MONITOR_NAME } };
    writeFileSync(path.join(dir, 'monitor.yaml'), JSON.stringify(monitor));
    // The originals' own warnings (istio hello-probes names two ports `http`): the injection
    // may keep them, never add one.
    const originals = await cluster.kubectl(
      ['apply', '--dry-run=server', '-n', ns.name, '-o', 'name', '-f', '-'],
      { input: injectable.map((f) => retarget(f, ns.name)).join('\n---\n') },
    );
    originalWarnings = warningsOf(originals.stderr);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe.each(VARIANTS)('$variant', ({ native }) => {
    const coreFacts = facts(native, ['*']); // the CLI's defaults: any image, no PodMonitor CRD
    let cli: ToolResult;
    let outputs: Map<string, string>;
    let applied: ToolResult;
    let readByKubectl: Map<string, KubeObject>;

    beforeAll(async () => {
      cli = await runInject([
        '--monitor',
        path.join(dir, 'monitor.yaml'),
        '--namespace',
        ns.name,
        '--exporter-image',
        IMAGE,
        ...(native ? ['--kube-version', cluster.info.kubeVersion] : []),
        ...fixtures.flatMap((f) => ['-f', path.join(dir, f.file)]),
      ]);
      const docs = documentTexts(cli.stdout);
      if (docs.length !== fixtures.length) {
        throw new Error(
          `inject printed ${docs.length} objects for ${fixtures.length} files (exit ${cli.code}):\n${cli.stderr}`,
        );
      }
      outputs = new Map(fixtures.map((f, i) => [f.file, docs[i] ?? '']));
      // The CLI's text as it is: kubectl reads its YAML, the API server validates.
      const stream = injectable.map((f) => outputs.get(f.file)).join('\n---\n');
      applied = await cluster.kubectl(
        ['apply', '--dry-run=server', '-n', ns.name, '-o', 'name', '-f', '-'],
        { input: stream, allowFailure: true },
      );
      const read = await cluster.kubectl(
        ['create', '--dry-run=client', '-n', ns.name, '-o', 'json', '-f', '-'],
        { input: stream },
      );
      readByKubectl = new Map(concatenatedJson(read.stdout).map((o) => [o.metadata.name ?? '', o]));
    });

    test('inject exits 1 and reports exactly the expected skips', () => {
      const skipped = cli.stderr
        .split('\n')
        .filter((line) => line.includes(': skipped ('))
        .map(
          (line) =>
            `${path.basename(line.slice(0, line.indexOf(':')))} ${/skipped \((\w+)\)/.exec(line)?.[1] ?? '?'}`,
        )
        .sort();
      expect(skipped).toEqual(
        Object.entries(EXPECTED_SKIPS)
          .map(([file, reason]) => `${file} ${reason}`)
          .sort(),
      );
      expect(cli.code, cli.stderr).toBe(1);
    });

    test('the injected workloads raise no API warning the originals did not', () => {
      expect(applied.code, applied.stderr).toBe(0);
      expect(new Set(warningsOf(applied.stderr))).toEqual(new Set(originalWarnings));
    });

    test.for(fixtures.map((f) => [f.file, f] as const))('%s', async ([, fixture]) => {
      const workload = workloadIn(fixture, ns.name);
      const result = desiredPodTemplate(workload, monitorIn(ns.name), coreFacts);
      const skip = EXPECTED_SKIPS[fixture.file];
      if (skip !== undefined) {
        expect(result).toMatchObject({ outcome: 'Skipped', reason: skip });
        // Never injected, so nothing to remove: the operator sends nothing for a kind it does
        // not support, and for the others only the empty apply (checked on the server below).
        // `inject` copies the document as it read it.
        if (result.outcome === 'Skipped' && result.template !== undefined) {
          expect(result.template).toEqual(workload.spec?.template);
        }
        expect(applyConfiguration(workload, result)).toEqual(
          skip === 'UnsupportedKind'
            ? undefined
            : {
                apiVersion: workload.apiVersion,
                kind: workload.kind,
                metadata: { name: fixture.name, namespace: ns.name },
              },
        );
        expect(outputs.get(fixture.file)).toBe(documentTexts(retarget(fixture, ns.name))[0]);
        return;
      }
      expect(result.outcome, JSON.stringify(result)).toBe('Injected');
      if (result.outcome !== 'Injected') return;
      expect(result.nativeSidecar).toBe(native);

      // The whole injected object through server-side apply, dry run: schema, list-map keys,
      // validation and admission of the complete template. The original first, so that a
      // failure says whether the fixture or the injection is at fault.
      const injected = { ...workload, spec: { ...workload.spec, template: result.template } };
      await expect(dryRunApply(workload), 'the original fixture').resolves.toBeDefined();
      const stored = await dryRunApply(injected);
      // What the server stores (defaults and all) is what the operator reads back from a
      // GitOps pipeline that applied `inject`'s output: it must find its own hash, or it
      // would rewrite the workload and fight the pipeline.
      expect(desiredPodTemplate(stored, monitorIn(ns.name), coreFacts)).toMatchObject({
        outcome: 'Injected',
        hash: result.hash,
      });

      // The CLI's text: accepted by the API server, and read by kubectl as the core meant it.
      const errors = applied.stderr.split('\n').filter((l) => l.includes(`"${fixture.name}"`));
      expect(errors, 'kubectl apply --dry-run=server errors').toEqual([]);
      expect(applied.stdout.split('\n')).toContain(apiName(fixture));
      const read = readByKubectl.get(fixture.name);
      expect(read, 'the object kubectl read from inject').toBeDefined();
      expect(read?.spec).toEqual(injected.spec);
    });
  });
});

/** Server-side apply with dryRun=All: validation, defaulting and admission, nothing stored. */
async function dryRunApply(object: Workload): Promise<KubeObject> {
  return cluster.rest.request<KubeObject>('PATCH', await cluster.objects.path(refOf(object)), {
    body: object,
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: FIELD_MANAGER, force: true, dryRun: 'All' },
  });
}

/** The server's defaulting of `template` in place of the live one (an update, dry run). */
async function defaulted(live: KubeObject, template: PodTemplateSpec): Promise<PodTemplateSpec> {
  const metadata = { ...live.metadata };
  delete metadata.resourceVersion; // Deployments, StatefulSets and DaemonSets allow unconditional updates
  delete metadata.managedFields;
  const object = { ...live, metadata, spec: { ...(live.spec as object), template } };
  const stored = await cluster.rest.request<KubeObject>(
    'PUT',
    await cluster.objects.path(refOf(live)),
    { body: object, query: { dryRun: 'All' } },
  );
  return templateOf(stored);
}

/**
 * The fixture with its controller kept calm: the test is about the template, and rollouts
 * of a hundred workloads would only load the shared machine.
 */
function calm(workload: Workload): Workload {
  const spec = { ...workload.spec };
  if (workload.kind === 'Deployment') spec.paused = true;
  if (workload.kind === 'StatefulSet') spec.replicas = 0;
  if (workload.kind === 'DaemonSet') spec.updateStrategy = { type: 'OnDelete' };
  return { ...workload, spec };
}

const CREATORS = [
  {
    creator: 'kubectl client-side apply',
    manager: 'kubectl-client-side-apply',
    create: async (namespace: string, objects: Workload[]): Promise<void> => {
      await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
      });
    },
  },
  {
    creator: 'a GitOps server-side apply',
    manager: 'gitops',
    create: async (namespace: string, objects: Workload[]): Promise<void> => {
      await cluster.apply(objects as KubeObject[], {
        namespace,
        fieldManager: 'gitops',
        force: false,
      });
    },
  },
] as const;

// Workloads the core skips but whose template it still decides (it would remove an injection):
// the removal apply of one never injected must change nothing.
const roundTrip = fixtures.filter(
  (f) => EXPECTED_SKIPS[f.file] === undefined || EXPECTED_SKIPS[f.file] === 'HostPID',
);

describe.each(CREATORS.flatMap((c) => VARIANTS.map((v) => ({ ...c, ...v }))))(
  'server-side apply round trip over workloads created by $creator, $variant',
  ({ manager, create, native }) => {
    const operatorFacts = facts(native, []); // the operator's defaults: only its own image
    let ns: TestNamespace;

    beforeAll(async () => {
      ns = await freshNamespace(`ssa-${native ? 'native' : 'regular'}`);
      await create(
        ns.name,
        roundTrip.map((f) => calm(workloadIn(f, ns.name))),
      );
    });

    test.for(roundTrip.map((f) => [f.file, f] as const))('%s', async ([, fixture]) => {
      const monitor = monitorIn(ns.name);
      const ref = refOf(workloadIn(fixture, ns.name));
      const original = await cluster.get(ref);
      const originalTemplate = templateOf(original);
      const creatorFields = fieldsOf(original, manager);
      expect(creatorFields, `${manager}'s managedFields`).toBeDefined();

      const result = desiredPodTemplate(original, monitor, operatorFacts);
      const config = applyConfiguration(original, result);
      const identity = {
        apiVersion: original.apiVersion,
        kind: original.kind,
        metadata: { name: ref.name, namespace: ref.namespace },
      };
      const sidecarMonitorApply = async (body: object): Promise<KubeObject> => {
        const [stored] = await cluster.apply(body as KubeObject, {
          fieldManager: FIELD_MANAGER,
          force: false,
        });
        if (stored === undefined) throw new Error('the apply returned nothing');
        return stored;
      };

      if (result.outcome === 'Skipped') {
        expect(result.reason).toBe(EXPECTED_SKIPS[fixture.file]);
        expect(config).toEqual(identity);
        const after = await sidecarMonitorApply(identity);
        expect(templateOf(after)).toEqual(originalTemplate);
        expect(fieldsOf(after, FIELD_MANAGER)).toBeUndefined();
        return;
      }
      if (config === undefined) throw new Error('no apply configuration for an injection');

      const injected = await sidecarMonitorApply(config);
      const live = templateOf(injected);
      // Every field we own holds what we sent...
      expect(coveredPart(live, result.owned)).toEqual(result.owned);
      // ...and the whole template is desiredPodTemplate's, defaulted by the server: the merge
      // moved nothing (order of containers, env and volumes included).
      expect(live).toEqual(await defaulted(original, result.template));
      // We own exactly the injected fields; the creator's ownership is untouched.
      expect(fieldsOf(injected, FIELD_MANAGER)).toEqual(fieldSetOf(config));
      expect(fieldsOf(injected, manager)).toEqual(creatorFields);

      // The operator's next reconcile reads this live object: no new write, and the inverse
      // gives back the server's original.
      const again = desiredPodTemplate(injected, monitor, operatorFacts);
      expect(again).toMatchObject({ outcome: 'Injected', hash: result.hash });
      expect(applyConfiguration(injected, again)).toEqual(config);
      expect(removeInjection(live)).toEqual(originalTemplate);

      const removed = await sidecarMonitorApply(identity);
      expect(templateOf(removed)).toEqual(originalTemplate);
      expect(fieldsOf(removed, FIELD_MANAGER)).toBeUndefined();
      expect(fieldsOf(removed, manager)).toEqual(creatorFields);
    });
  },
);
