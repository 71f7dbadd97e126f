// The table of valid and invalid monitors, checked offline: the CRD schema (ajv) and the
// TypeScript mirror of its CEL rules must say what the real API server says. The cluster
// suite applies the same table to a kube-apiserver.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createMonitorValidator } from '../../../operator/api/validate.ts';

interface Case {
  name: string;
  valid: boolean;
  field?: string;
  monitor: Record<string, unknown> & { metadata: { name: string } };
}

const cases = parse(
  readFileSync(join(import.meta.dirname, '../../fixtures/monitors/cases.yaml'), 'utf8'),
) as Case[];
const validator = createMonitorValidator();

describe('monitor cases table', () => {
  it('is well formed', () => {
    expect(cases.length).toBeGreaterThan(40);
    // Unique object names let the cluster suite apply every case into one namespace.
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(new Set(cases.map((c) => c.monitor.metadata.name)).size).toBe(cases.length);
    for (const c of cases) expect(c.valid || typeof c.field === 'string', c.name).toBe(true);
    expect(cases.filter((c) => c.valid).length).toBeGreaterThan(5);
  });

  it.each(cases.filter((c) => c.valid).map((c) => [c.name, c] as const))(
    'accepts %s',
    (_name, c) => {
      const result = validator.validate(c.monitor);
      expect(result.valid ? [] : result.errors).toEqual([]);
    },
  );

  it.each(cases.filter((c) => !c.valid).map((c) => [c.name, c] as const))(
    'rejects %s, naming the field',
    (_name, c) => {
      const result = validator.validate(c.monitor);
      expect(result.valid).toBe(false);
      if (!result.valid) expect(result.errors.map((e) => e.field)).toContain(c.field);
    },
  );
});
