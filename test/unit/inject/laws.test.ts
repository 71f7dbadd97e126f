// The laws of the injection, checked over generated pod specs (fast-check) and over every
// real-world fixture: inject∘inject = inject; remove∘inject = identity (key order included);
// the hash does not depend on key order; nothing outside what sidecar-monitor owns changes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONFIG_ENV, CONTAINER_ENV, parseExporterConfig } from '../../../exporter/config.ts';
import {
  CREATED_ANNOTATION,
  EXPORTER_CONTAINER,
  HASH_ANNOTATION,
  MONITOR_LABEL,
  NO_TOKEN_VOLUME,
} from '../../../operator/api/constants.ts';
import type { SidecarMonitor } from '../../../operator/api/v1alpha1.ts';
import { canonicalJson } from '../../../operator/inject/canonical.ts';
import {
  applyConfiguration,
  desiredPodTemplate,
  removeInjection,
  type ClusterFacts,
  type PodTemplateSpec,
  type Workload,
} from '../../../operator/inject/index.ts';
import { facts, IMAGE, loadAllFixtures, monitor } from './fixtures.ts';

// ---- generators ----

const NAMES = [
  'app',
  'web',
  'worker',
  'db',
  'istio-proxy',
  'linkerd-proxy',
  'log-shipper',
  'setup',
];
const extra = fc.dictionary(
  fc.constantFrom('x-unknown', 'terminationMessagePath', 'zzz'),
  fc.jsonValue({ maxDepth: 2 }),
  {
    maxKeys: 2,
  },
);
/** Mostly ordinary values, now and then one that clashes with ours. */
function mostly<T>(usual: fc.Arbitrary<T>, rare: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 60, arbitrary: usual }, { weight: 1, arbitrary: rare });
}
const port = mostly<number | string>(
  fc.oneof(
    fc.integer({ min: 1, max: 65535 }),
    fc.constantFrom(80, 8080, 8081),
    fc.constantFrom('http', 'metrics', 'admin'),
  ),
  fc.constant(9477),
);
const probe = fc.record(
  {
    httpGet: fc.record(
      {
        port,
        path: fc.constantFrom('/', '/healthz', 'ready', '/a b'),
        host: fc.constantFrom('localhost', '10.1.2.3', ''),
        scheme: fc.constantFrom('HTTP', 'HTTPS'),
        httpHeaders: fc.array(
          fc.record({ name: fc.constantFrom('Host', 'X-A'), value: fc.string({ maxLength: 5 }) }),
          {
            maxLength: 2,
          },
        ),
      },
      { requiredKeys: ['port'] },
    ),
    tcpSocket: fc.record({ port }),
    grpc: fc.record(
      {
        port: fc.integer({ min: 1, max: 65535 }),
        service: fc.constantFrom('', 'shop.Cart', 'a b'),
      },
      { requiredKeys: ['port'] },
    ),
    exec: fc.record({
      command: fc.constantFrom(
        ['grpc_health_probe', '-addr=:9000'],
        ['/bin/grpc_health_probe', '-addr=localhost:9443', '-tls', '-tls-no-verify', '-service=x'],
        ['curl', '-fsS', 'http://localhost:8080/healthz'],
        ['sh', '-c', 'wget -q -O- http://127.0.0.1:9477/metrics || exit 1'],
        ['curl', '-f', 'http://10.0.0.1/'],
        ['cat', '/tmp/healthy'],
      ),
    }),
    periodSeconds: fc.integer({ min: 1, max: 120 }),
    timeoutSeconds: fc.integer({ min: 1, max: 60 }),
  },
  { requiredKeys: [] },
);
const securityContext = fc.record(
  {
    runAsUser: fc.constantFrom(0, 1000, 65534),
    runAsGroup: fc.constantFrom(0, 1000, 65534),
    privileged: fc.boolean(),
    capabilities: fc.record(
      { add: fc.constantFrom(['NET_ADMIN'], ['SYS_ADMIN']), drop: fc.constant(['ALL']) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);
const envList = fc.array(
  fc.record({
    name: fc.constantFrom('A', 'B', 'PORT', 'A', 'B', 'PORT', CONTAINER_ENV),
    value: fc.constantFrom('app', 'x', ''),
  }),
  { maxLength: 3 },
);
function container(name: string) {
  return fc
    .record(
      {
        image: fc.constant('example/app:1'),
        env: envList,
        ports: fc.array(
          fc.record(
            {
              name: mostly(
                fc.constantFrom('http', 'metrics', 'admin'),
                fc.constant('smon-metrics'),
              ),
              containerPort: mostly(fc.constantFrom(80, 8080, 9090), fc.constant(9477)),
              hostPort: mostly(fc.constantFrom(80, 8080), fc.constant(9477)),
            },
            { requiredKeys: ['containerPort'] },
          ),
          { maxLength: 2 },
        ),
        readinessProbe: probe,
        livenessProbe: probe,
        startupProbe: probe,
        securityContext,
        resources: fc.record({
          requests: fc.record({ cpu: fc.constantFrom('100m', '1', 'bogus') }),
        }),
        restartPolicy: fc.constant('Always'),
      },
      { requiredKeys: [] },
    )
    .chain((c) => extra.map((x) => ({ name, ...x, ...c })));
}
const podSpec = fc
  .record({
    names: fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 }),
    initNames: fc.uniqueArray(fc.constantFrom('init-a', 'init-b', 'sidecar-x'), { maxLength: 2 }),
    hasInit: fc.boolean(),
  })
  .chain(({ names, initNames, hasInit }) =>
    fc.record(
      {
        containers: fc.tuple(...names.map(container)),
        initContainers: hasInit ? fc.tuple(...initNames.map(container)) : fc.constant(undefined),
        volumes: fc.uniqueArray(
          fc.record({ name: fc.constantFrom('data', 'cache'), emptyDir: fc.constant({}) }),
          { selector: (v) => v.name, maxLength: 2 },
        ),
        shareProcessNamespace: fc.constant(true),
        hostPID: fc.constant(false),
        hostNetwork: fc.constantFrom(false, false, false, true),
        os: fc.record({ name: fc.constant('linux') }),
        securityContext,
        serviceAccountName: fc.constant('sa'),
      },
      { requiredKeys: ['containers'] },
    ),
  )
  .map((spec) => {
    if (spec.initContainers === undefined) delete spec.initContainers;
    return spec;
  });
const templateMeta = fc.record(
  {
    labels: fc.dictionary(fc.constantFrom('app', 'tier'), fc.constantFrom('web', 'x'), {
      maxKeys: 2,
    }),
    annotations: fc.dictionary(
      fc.constantFrom('kubectl.kubernetes.io/default-container', 'prometheus.io/port', 'note'),
      fc.constantFrom('app', 'worker', 'istio-proxy', '8080'),
      { maxKeys: 3 },
    ),
  },
  { requiredKeys: [] },
);
/** One reason to skip, applied to a workload that would otherwise mostly be injected. */
const SKIP_CAUSES = [
  'optOutWorkload',
  'optOutTemplate',
  'hostPID',
  'windows',
  'processNamespaceOff',
  'job',
] as const;
const workload: fc.Arbitrary<Workload> = fc
  .record({
    kind: fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet'),
    namespace: fc.option(fc.constantFrom('shop', 'default'), { nil: undefined }),
    meta: fc.option(templateMeta, { nil: undefined }),
    spec: podSpec,
    cause: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom(...SKIP_CAUSES) },
    ),
  })
  .map(({ kind, namespace, meta, spec, cause }) => {
    // The generator's literal types are narrower than the Kubernetes shapes.
    const template = (meta === undefined ? { spec } : { metadata: meta, spec }) as PodTemplateSpec;
    const w: Workload = {
      apiVersion: 'apps/v1',
      kind,
      metadata: { name: 'w', labels: { app: 'web' } },
      spec: { replicas: 2, template },
    };
    if (namespace !== undefined) w.metadata!.namespace = namespace;
    const pod = template.spec!;
    if (cause === 'optOutWorkload') w.metadata!.labels!['sidecarmonitor.io/inject'] = 'false';
    if (cause === 'optOutTemplate')
      template.metadata = { labels: { 'sidecarmonitor.io/inject': 'false' } };
    if (cause === 'hostPID') pod.hostPID = true;
    if (cause === 'windows') pod.os = { name: 'windows' };
    if (cause === 'processNamespaceOff') pod.shareProcessNamespace = false;
    if (cause === 'job') Object.assign(w, { apiVersion: 'batch/v1', kind: 'Job' });
    return w;
  });
const monitorArb: fc.Arbitrary<SidecarMonitor> = fc
  .tuple(
    fc.record(
      {
        targetContainers: fc.uniqueArray(
          fc.constantFrom('app', 'web', 'worker', 'db', 'log-shipper', 'sidecar-x', 'missing'),
          { minLength: 1, maxLength: 4 },
        ),
        health: fc.record(
          {
            fromProbes: fc.boolean(),
            endpoints: fc.uniqueArray(
              fc.record({
                name: fc.constantFrom('a', 'app-readiness', 'c'),
                port: fc.oneof(
                  fc.constantFrom('http', 'admin'),
                  fc.integer({ min: 1, max: 65535 }),
                ),
                headers: fc.constantFrom(undefined, [
                  { name: 'X-T', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
                ]),
              }),
              { selector: (e) => e.name, maxLength: 2 },
            ),
          },
          { requiredKeys: [] },
        ),
        exporter: fc.record(
          {
            nativeSidecar: fc.constantFrom(
              'Auto' as const,
              'Enabled' as const,
              'Disabled' as const,
            ),
            port: fc.constantFrom(9477, 9100),
            image: fc.constantFrom(IMAGE, IMAGE, 'other.example.com/x:1'),
          },
          { requiredKeys: [] },
        ),
        prometheus: fc.record(
          {
            podMonitor: fc.constantFrom('Auto' as const, 'Disabled' as const),
            scrapeAnnotations: fc.constantFrom(
              'Auto' as const,
              'Enabled' as const,
              'Disabled' as const,
            ),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    ),
    // Explicit targets and images in one monitor out of four: the defaults matter most.
    fc.nat(3),
    fc.nat(3),
  )
  .map(([spec, explicitTargets, explicitImage]) => {
    if (explicitTargets !== 0) delete spec.targetContainers;
    if (explicitImage !== 0) delete spec.exporter?.image;
    // Drop headers the generator left undefined: absent, not null.
    for (const e of spec.health?.endpoints ?? []) if (e.headers === undefined) delete e.headers;
    return monitor(spec as Partial<SidecarMonitor['spec']>);
  });
const factsArb: fc.Arbitrary<ClusterFacts> = fc
  .record({ nativeSidecars: fc.boolean(), podMonitors: fc.boolean(), allowAll: fc.boolean() })
  .map(({ nativeSidecars, podMonitors, allowAll }) =>
    facts({ nativeSidecars, podMonitors, allowedExporterImages: allowAll ? ['*'] : [] }),
  );

// ---- the laws ----

function withTemplate(w: Workload, template: PodTemplateSpec | undefined): Workload {
  if (!template) return w;
  const next = structuredClone(w);
  next.spec!.template = structuredClone(template);
  return next;
}

function lawIdempotent(w: Workload, m: SidecarMonitor, f: ClusterFacts): void {
  const first = desiredPodTemplate(w, m, f);
  const next = withTemplate(w, first.template);
  const second = desiredPodTemplate(next, m, f);
  expect(second.outcome).toBe(first.outcome);
  expect(JSON.stringify(second.template ?? next.spec?.template)).toBe(
    JSON.stringify(first.template ?? w.spec?.template),
  );
  if (first.outcome === 'Injected' && second.outcome === 'Injected') {
    expect(second.hash).toBe(first.hash);
  }
  if (first.outcome === 'Skipped' && second.outcome === 'Skipped') {
    expect(second.reason).toBe(first.reason);
  }
}

function lawRemoveInverts(w: Workload, m: SidecarMonitor, f: ClusterFacts): void {
  const original = w.spec?.template;
  if (!original) return;
  expect(JSON.stringify(removeInjection(original))).toBe(JSON.stringify(original));
  const result = desiredPodTemplate(w, m, f);
  if (result.outcome === 'Injected') {
    expect(JSON.stringify(removeInjection(result.template))).toBe(JSON.stringify(original));
  } else if (result.template) {
    // A skip of a template we never injected leaves it exactly as it was.
    expect(JSON.stringify(result.template)).toBe(JSON.stringify(original));
  }
}

/** A copy with every object's keys in a pseudo-random order (seeded). */
function shuffleKeys<T>(value: T, seed: number): T {
  let state = seed >>> 0;
  const next = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    const entries = Object.entries(v);
    for (let i = entries.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [entries[i], entries[j]] = [entries[j]!, entries[i]!];
    }
    return Object.fromEntries(entries.map(([k, x]) => [k, walk(x)]));
  };
  return walk(value) as T;
}

function lawKeyOrder(w: Workload, m: SidecarMonitor, f: ClusterFacts, seed: number): void {
  const a = desiredPodTemplate(w, m, f);
  const b = desiredPodTemplate(
    shuffleKeys(w, seed),
    shuffleKeys(m, seed + 1),
    shuffleKeys(f, seed + 2),
  );
  expect(b.outcome).toBe(a.outcome);
  if (a.outcome === 'Injected' && b.outcome === 'Injected') {
    expect(b.hash).toBe(a.hash);
    expect(canonicalJson(b.template)).toBe(canonicalJson(a.template));
  }
}

const normal = (path: string) => path.replace(/\[\d+\]/g, '[]');
const OWNED_ANNOTATIONS = [
  HASH_ANNOTATION,
  CREATED_ANNOTATION,
  'prometheus.io/scrape',
  'prometheus.io/port',
  'prometheus.io/path',
];

/** Whether an item added to the list at path is one of ours. */
function ownedItem(path: string, item: unknown): boolean {
  const name = (item as { name?: unknown } | null)?.name;
  switch (normal(path)) {
    case 'spec.containers':
    case 'spec.initContainers':
      return name === EXPORTER_CONTAINER;
    case 'spec.containers[].env':
    case 'spec.initContainers[].env':
      return name === CONTAINER_ENV;
    case 'spec.volumes':
      return name === NO_TOKEN_VOLUME;
    default:
      return false;
  }
}

/** Whether a key added to the object at path (with its value) is one of ours. */
function ownedKey(path: string, key: string, value: unknown): boolean {
  const all = (v: unknown, p: string) => Array.isArray(v) && v.every((item) => ownedItem(p, item));
  const keysIn = (v: unknown, keys: string[]) =>
    typeof v === 'object' && v !== null && Object.keys(v).every((k) => keys.includes(k));
  const at = normal(path);
  const child = path ? `${path}.${key}` : key;
  if (at === '' && key === 'metadata') return keysIn(value, ['labels', 'annotations']);
  if (at === 'metadata' && key === 'labels') return keysIn(value, [MONITOR_LABEL]);
  if (at === 'metadata' && key === 'annotations') return keysIn(value, OWNED_ANNOTATIONS);
  if (at === 'metadata.labels') return key === MONITOR_LABEL;
  if (at === 'metadata.annotations') return OWNED_ANNOTATIONS.includes(key);
  if (at === 'spec' && key === 'shareProcessNamespace') return value === true;
  if (at === 'spec' && (key === 'volumes' || key === 'initContainers')) return all(value, child);
  if ((at === 'spec.containers[]' || at === 'spec.initContainers[]') && key === 'env')
    return all(value, child);
  return false;
}

/** Everything of the original is in out, in order, unchanged; additions are ours, at the end. */
function expectOnlyOwnedAdded(original: unknown, out: unknown, path = ''): void {
  if (Array.isArray(original)) {
    expect(Array.isArray(out), path).toBe(true);
    const list = out as unknown[];
    original.forEach((item, i) => {
      expectOnlyOwnedAdded(item, list[i], `${path}[${i}]`);
    });
    list.slice(original.length).forEach((item) => {
      expect(ownedItem(path, item), `${path} +${JSON.stringify(item)}`).toBe(true);
    });
    return;
  }
  if (typeof original === 'object' && original !== null) {
    const record = out as Record<string, unknown>;
    const before = Object.keys(original);
    const after = Object.keys(record);
    expect(after.slice(0, before.length), path).toEqual(before);
    for (const [k, v] of Object.entries(original)) {
      // The only value we may change in place: a label we own, and annotations we own.
      if (
        (path === 'metadata.labels' && k === MONITOR_LABEL) ||
        (path === 'metadata.annotations' && OWNED_ANNOTATIONS.includes(k))
      )
        continue;
      expectOnlyOwnedAdded(v, record[k], path ? `${path}.${k}` : k);
    }
    for (const k of after.slice(before.length)) {
      expect(ownedKey(path, k, record[k]), `${path}.${k}`).toBe(true);
    }
    return;
  }
  expect(out, path).toEqual(original);
}

function lawOnlyOwned(w: Workload, m: SidecarMonitor, f: ClusterFacts): void {
  const result = desiredPodTemplate(w, m, f);
  if (result.outcome !== 'Injected') return;
  expectOnlyOwnedAdded(w.spec?.template, result.template);
  // The exporter's config, as injected, is exactly what the exporter parses.
  const spec = result.template.spec!;
  const exporter = [...spec.containers, ...(spec.initContainers ?? [])].find(
    (c) => c.name === EXPORTER_CONTAINER,
  );
  expect(
    parseExporterConfig(exporter?.env?.find((e) => e.name === CONFIG_ENV)?.value ?? ''),
  ).toEqual(result.config);
  // The apply configuration holds only fields of the desired template.
  const applied = applyConfiguration(w, result)?.spec?.template;
  expect(applied).toEqual(result.owned);
  expectSubset(result.owned, result.template);
}

/** Every leaf of part is in whole (list items matched by name). */
function expectSubset(part: unknown, whole: unknown, path = ''): void {
  const named = (v: unknown): v is { name: string } =>
    typeof v === 'object' && v !== null && typeof (v as { name?: unknown }).name === 'string';
  if (Array.isArray(part) && !part.every(named)) {
    expect(whole, path).toEqual(part);
  } else if (Array.isArray(part)) {
    for (const item of part as { name: string }[]) {
      const match = (whole as unknown[]).find((w) => named(w) && w.name === item.name);
      expect(match, `${path}[${item.name}]`).toBeDefined();
      expectSubset(item, match, `${path}[${item.name}]`);
    }
  } else if (typeof part === 'object' && part !== null) {
    for (const [k, v] of Object.entries(part))
      expectSubset(v, (whole as Record<string, unknown>)[k], `${path}.${k}`);
  } else {
    expect(whole, path).toEqual(part);
  }
}

// ---- runs ----

const RUNS = { numRuns: 300 };

describe('laws over generated workloads', () => {
  it('inject∘inject = inject', () => {
    fc.assert(
      fc.property(workload, monitorArb, factsArb, (w, m, f) => {
        lawIdempotent(w, m, f);
      }),
      RUNS,
    );
  });
  it('remove∘inject = identity', () => {
    fc.assert(
      fc.property(workload, monitorArb, factsArb, (w, m, f) => {
        lawRemoveInverts(w, m, f);
      }),
      RUNS,
    );
  });
  it('the result does not depend on key order', () => {
    fc.assert(
      fc.property(workload, monitorArb, factsArb, fc.nat(), (w, m, f, seed) => {
        lawKeyOrder(w, m, f, seed);
      }),
      RUNS,
    );
  });
  it('nothing outside what we own changes', () => {
    fc.assert(
      fc.property(workload, monitorArb, factsArb, (w, m, f) => {
        lawOnlyOwned(w, m, f);
      }),
      RUNS,
    );
  });
  it('generates workloads that get injected, and ones that get skipped', () => {
    // Guards the generator: laws over only skipped workloads would prove nothing.
    const samples = fc.sample(fc.tuple(workload, monitorArb, factsArb), { numRuns: 400, seed: 42 });
    const outcomes = samples.map(([w, m, f]) => {
      const r = desiredPodTemplate(w, m, f);
      return r.outcome === 'Injected' ? 'Injected' : r.reason;
    });
    expect(outcomes.filter((o) => o === 'Injected').length).toBeGreaterThan(100);
    expect(new Set(outcomes).size).toBeGreaterThan(8);
  });
});

describe('laws over every fixture', () => {
  const settings: [string, SidecarMonitor, ClusterFacts][] = [
    ['defaults', monitor(), facts()],
    ['native, PodMonitor', monitor(), facts({ nativeSidecars: true, podMonitors: true })],
    [
      'explicit targets and endpoints',
      monitor({
        targetContainers: ['hello', 'world', 'server', 'main'],
        health: {
          endpoints: [
            {
              name: 'e',
              port: 'http',
              headers: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }],
            },
          ],
        },
        prometheus: { scrapeAnnotations: 'Enabled' },
      }),
      facts(),
    ],
  ];
  const cases = loadAllFixtures().flatMap((fixture) =>
    settings.map(
      ([label, m, f]) => [`${fixture.file} (${label})`, fixture.workload, m, f] as const,
    ),
  );
  it.each(cases)('%s', (_name, w, m, f) => {
    lawIdempotent(w, m, f);
    lawRemoveInverts(w, m, f);
    lawKeyOrder(w, m, f, 7);
    lawOnlyOwned(w, m, f);
  });
});
