import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CRD_PATH } from '../../../operator/api/generate.ts';
import type { JSONSchemaProps } from '../../../operator/api/meta.ts';
import { MESSAGES, SEMANTIC_RULES, semanticErrors } from '../../../operator/api/semantic.ts';
import { createMonitorValidator, NOT_CHECKED } from '../../../operator/api/validate.ts';

/** Every CEL rule of a schema as "path (with [] for items) + fieldPath: message". */
function celRules(schema: JSONSchemaProps, path: string, out: string[] = []): string[] {
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    out.push(`${path}${rule.fieldPath ?? ''}: ${rule.message ?? ''}`);
  }
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    celRules(prop, path ? `${path}.${key}` : key, out);
  }
  if (schema.items) celRules(schema.items, `${path}[]`, out);
  if (typeof schema.additionalProperties === 'object') {
    celRules(schema.additionalProperties, `${path}{}`, out);
  }
  return out;
}

const base = {
  apiVersion: 'sidecarmonitor.io/v1alpha1',
  kind: 'SidecarMonitor',
  metadata: { name: 'm' },
};

describe('semantic checks', () => {
  it('mirror every CEL rule of the CRD, and only those, as server-checked rules', async () => {
    const crd = parse(await readFile(CRD_PATH, 'utf8')) as {
      spec: { versions: { schema: { openAPIV3Schema: JSONSchemaProps } }[] };
    };
    const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
    const inCrd = celRules(schema, '').sort();
    const mirrored = SEMANTIC_RULES.filter((r) => r.server)
      .map((r) => `${r.field}: ${r.message}`)
      .sort();
    expect(mirrored).toEqual(inCrd);
  });

  const validator = createMonitorValidator();

  it('reject requests above limits, which only the operator and inject check', () => {
    const result = validator.validate({
      ...base,
      spec: {
        selector: { matchLabels: { app: 'x' } },
        exporter: {
          resources: {
            requests: { cpu: '1', memory: '256Mi' },
            limits: { cpu: '500m', memory: '1Gi' },
          },
        },
      },
    });
    expect(result).toEqual({
      valid: false,
      errors: [
        { field: 'spec.exporter.resources.requests.cpu', message: MESSAGES.requestOverLimit },
      ],
    });
  });

  it('reject negative quantities', () => {
    const errors = semanticErrors({
      spec: {
        selector: { matchLabels: { app: 'x' } },
        exporter: { resources: { limits: { memory: '-1Mi' } } },
      },
    });
    expect(errors).toEqual([
      { field: 'spec.exporter.resources.limits.memory', message: MESSAGES.quantityNegative },
    ]);
  });

  it('accept requests equal to limits and quantities written differently', () => {
    const result = validator.validate({
      ...base,
      spec: {
        selector: { matchLabels: { app: 'x' } },
        exporter: {
          resources: {
            requests: { cpu: '0.5', memory: '1Gi' },
            limits: { cpu: '500m', memory: 1073741824 },
          },
        },
      },
    });
    expect(result.valid).toBe(true);
  });

  it('run after a bound or a duplicate, but not after a blocking error, as the API server does', () => {
    // A bound is not a blocking error: the empty selector (a CEL rule) is named too.
    const bound = validator.validate({ ...base, spec: { selector: {}, exporter: { port: 0 } } });
    expect(bound.valid ? [] : bound.errors.map((e) => e.field)).toEqual([
      'spec.exporter.port',
      'spec.selector',
    ]);
    // A wrong type is: the CEL rules are skipped, and the result says so.
    const type = validator.validate({ ...base, spec: { selector: {}, exporter: { port: 'x' } } });
    expect(type.valid ? [] : type.errors).toEqual([
      { field: 'spec.exporter.port', message: 'must be integer' },
      NOT_CHECKED,
    ]);
  });
});

describe('monitor validator', () => {
  const validator = createMonitorValidator();

  it('returns the monitor with the defaults the API server applies', () => {
    const result = validator.validate({
      ...base,
      spec: { selector: { matchLabels: { app: 'x' } } },
    });
    // As kube-apiserver 1.35 stored the same object.
    expect(result).toEqual({
      valid: true,
      monitor: {
        ...base,
        spec: {
          selector: { matchLabels: { app: 'x' } },
          workloadKinds: ['Deployment', 'StatefulSet', 'DaemonSet'],
          health: { fromProbes: true },
          exporter: { port: 9477, nativeSidecar: 'Auto' },
          rollout: { maxConcurrent: 1, progressDeadlineSeconds: 600 },
          prometheus: { podMonitor: 'Auto', scrapeAnnotations: 'Auto' },
        },
      },
    });
  });

  it('defaults each endpoint and keeps what the user set', () => {
    const result = validator.validate({
      ...base,
      spec: {
        selector: { matchLabels: { app: 'x' } },
        health: { fromProbes: false, endpoints: [{ name: 'a', port: 80, interval: '30s' }] },
      },
    });
    expect(result.valid && result.monitor.spec.health).toEqual({
      fromProbes: false,
      endpoints: [{ name: 'a', port: 80, interval: '30s', type: 'HTTP', timeout: '1s' }],
    });
  });

  it('names the wrong apiVersion, kind and missing name', () => {
    const result = validator.validate({
      apiVersion: 'v1',
      kind: 'Monitor',
      metadata: {},
      spec: { selector: { matchLabels: { a: 'b' } } },
    });
    expect(result.valid ? [] : result.errors).toEqual([
      { field: 'apiVersion', message: 'must be sidecarmonitor.io/v1alpha1' },
      { field: 'kind', message: 'must be SidecarMonitor' },
      { field: 'metadata.name', message: 'required value' },
    ]);
  });

  it('refuses unknown fields before any other check, as strict field validation does', () => {
    const result = validator.validate({
      ...base,
      spec: { selector: {}, sidecar: true, exporter: { port: 0, extra: 1 } },
    });
    expect(result.valid ? [] : result.errors).toEqual([
      { field: 'spec.sidecar', message: 'unknown field' },
      { field: 'spec.exporter.extra', message: 'unknown field' },
    ]);
  });

  it('rejects what is not an object, and a namespace that is not a name', () => {
    expect(validator.validate('spec: {}')).toEqual({
      valid: false,
      errors: [{ field: '', message: 'must be an object' }],
    });
    const result = validator.validate({
      ...base,
      metadata: { name: 'UPPER', namespace: 'a b' },
      spec: { selector: { matchLabels: { a: 'b' } } },
    });
    expect(result.valid ? [] : result.errors.map((e) => e.field)).toEqual([
      'metadata.name',
      'metadata.namespace',
    ]);
  });

  it('does not modify its input', () => {
    const input = { ...base, spec: { selector: { matchLabels: { app: 'x' } } } };
    const before = structuredClone(input);
    validator.validate(input);
    expect(input).toEqual(before);
  });
});
