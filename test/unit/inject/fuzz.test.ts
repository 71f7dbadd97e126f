// Bad input gets a clear result, never a crash: any text to `inject`, any value where a
// workload field should be, any template to removeInjection.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../operator/api/duration.ts';
import {
  currentInjection,
  desiredPodTemplate,
  removeInjection,
  type PodTemplateSpec,
} from '../../../operator/inject/index.ts';
import { processStream } from '../../../operator/inject/offline.ts';
import { deployment, facts, monitor } from './fixtures.ts';

const FRAGMENTS = [
  'apiVersion: apps/v1\n',
  'kind: Deployment\n',
  'metadata:\n  name: w\n  labels: {app: web}\n',
  'spec:\n  template:\n    spec:\n      containers:\n',
  '      - name: app\n',
  '        env: x\n',
  '        ports: [1, 2]\n',
  '      initContainers: {}\n',
  '---\n',
  '...\n',
  '&a [*a, *a]\n',
  'x: *b\n',
  '- ',
  ': ',
  '\t',
  '"',
  "'",
  '{',
  '}',
  '[',
  ']',
  '# c\n',
  '%YAML 1.1\n',
  '!!binary ',
  '<<: {a: 1}\n',
];

const yamlish = fc
  .array(fc.constantFrom(...FRAGMENTS), { maxLength: 30 })
  .map((parts) => parts.join(''));

describe('processStream never throws', () => {
  it.each([
    ['arbitrary text', fc.string({ unit: 'binary', maxLength: 300 })],
    ['YAML-like fragments', yamlish],
  ])('%s', (_name, text) => {
    fc.assert(
      fc.property(text, (t) => {
        const injected = processStream(t, {
          mode: 'inject',
          monitor: monitor({ selector: { matchLabels: { app: 'web' } } }),
          facts: facts(),
        });
        const removed = processStream(t, { mode: 'remove' });
        for (const r of [injected, removed]) {
          if (r.ok) expect(typeof r.text).toBe('string');
          else expect(r.errors.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses an alias bomb with a line number', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      ...Array.from({ length: 8 }, (_, i) => {
        const prev = i === 0 ? 'a' : `l${i - 1}`;
        return `l${i}: &l${i} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`;
      }),
    ].join('\n');
    const result = processStream(`${bomb}\n`, { mode: 'remove' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]?.line).toBe(1);
  });
});

/** Paths in a Deployment where junk may appear. */
const PATHS: (string | number)[][] = [
  ['metadata'],
  ['metadata', 'labels'],
  ['spec', 'template'],
  ['spec', 'template', 'metadata'],
  ['spec', 'template', 'metadata', 'annotations'],
  ['spec', 'template', 'spec'],
  ['spec', 'template', 'spec', 'containers'],
  ['spec', 'template', 'spec', 'containers', 0],
  ['spec', 'template', 'spec', 'containers', 0, 'name'],
  ['spec', 'template', 'spec', 'containers', 0, 'env'],
  ['spec', 'template', 'spec', 'containers', 0, 'ports'],
  ['spec', 'template', 'spec', 'containers', 0, 'ports', 0],
  ['spec', 'template', 'spec', 'containers', 0, 'readinessProbe'],
  ['spec', 'template', 'spec', 'containers', 0, 'readinessProbe', 'httpGet'],
  ['spec', 'template', 'spec', 'containers', 0, 'readinessProbe', 'httpGet', 'port'],
  ['spec', 'template', 'spec', 'containers', 0, 'securityContext'],
  ['spec', 'template', 'spec', 'containers', 0, 'resources'],
  ['spec', 'template', 'spec', 'initContainers'],
  ['spec', 'template', 'spec', 'volumes'],
  ['spec', 'template', 'spec', 'securityContext'],
  ['spec', 'template', 'spec', 'nodeSelector'],
];

function setPath(target: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  let node: Record<string | number, unknown> = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) return;
    node = next as Record<string | number, unknown>;
  }
  node[path.at(-1)!] = value;
}

describe('the core never throws on junk where a workload field should be', () => {
  const base = deployment({
    containers: [
      {
        name: 'app',
        env: [{ name: 'A', value: '1' }],
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { port: 'http' } },
        securityContext: { runAsUser: 1000, runAsGroup: 1000 },
        resources: { requests: { cpu: '100m' } },
      },
    ],
  });

  it('desiredPodTemplate returns a result, injected or skipped', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PATHS), fc.anything(), fc.boolean(), (path, junk, native) => {
        const w = structuredClone(base) as unknown as Record<string, unknown>;
        setPath(w, path, junk);
        const result = desiredPodTemplate(w, monitor(), facts({ nativeSidecars: native }));
        expect(['Injected', 'Skipped']).toContain(result.outcome);
      }),
      { numRuns: 1000 },
    );
  });

  // Found by the property above (seed -2120096400): String() of an object whose toString is
  // not a function throws, and the note quoting a bad port used String().
  it('a probe port that cannot be turned into a string is noted, not a crash', () => {
    for (const grpc of [false, true]) {
      const w = structuredClone(base) as unknown as Record<string, unknown>;
      const port = { toString: [] };
      setPath(
        w,
        ['spec', 'template', 'spec', 'containers', 0, 'readinessProbe'],
        grpc ? { grpc: { port } } : { httpGet: { port } },
      );
      const result = desiredPodTemplate(w, monitor(), facts());
      expect(['Injected', 'Skipped']).toContain(result.outcome);
    }
  });

  it('removeInjection and currentInjection accept any template', () => {
    const injected = desiredPodTemplate(base, monitor(), facts());
    if (injected.outcome !== 'Injected') throw new Error('expected an injection');
    fc.assert(
      fc.property(
        fc.constantFrom(...PATHS.filter((p) => p.length > 2)),
        fc.anything(),
        (path, junk) => {
          const w = { spec: { template: structuredClone(injected.template) } } as Record<
            string,
            unknown
          >;
          setPath(w, path, junk);
          const template = (w.spec as { template: PodTemplateSpec }).template;
          expect(removeInjection(template)).toBeDefined();
          currentInjection(template);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('parseDuration', () => {
  it('returns seconds or undefined for any string', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const v = parseDuration(s);
        expect(v === undefined || (Number.isFinite(v) && v >= 0)).toBe(true);
      }),
    );
  });
});
