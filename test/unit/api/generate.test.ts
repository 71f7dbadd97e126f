import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  CRD_PATH,
  GenerateError,
  generateApiModule,
  generateApiSource,
  OUTPUT_PATH,
} from '../../../operator/api/generate.ts';

describe('generated API types', () => {
  it('match the CRD (run `npm run generate:api` after changing the CRD)', async () => {
    const crd = await readFile(CRD_PATH, 'utf8');
    const committed = await readFile(OUTPUT_PATH, 'utf8');
    expect(await generateApiModule(crd)).toBe(committed);
  });

  it('carry every spec field of the CRD with its description', async () => {
    const source = generateApiSource(await readFile(CRD_PATH, 'utf8'));
    expect(source).toContain('export interface HealthEndpoint {');
    expect(source).toMatch(/port: number \| string;/);
    expect(source).toContain('export type Mode = "Auto" | "Enabled" | "Disabled";');
    expect(source).toContain('@default "10s"');
  });

  it('refuse a CRD without a revision or without a v1alpha1 schema', async () => {
    const crd = await readFile(CRD_PATH, 'utf8');
    expect(() =>
      generateApiSource(crd.replace(/sidecarmonitor.io\/crd-revision: .*/, 'x: y')),
    ).toThrow(/crd-revision/);
    expect(() => generateApiSource(crd.replace('name: v1alpha1', 'name: v1beta9'))).toThrow(
      GenerateError,
    );
    expect(() => generateApiSource('a: [')).toThrow(/not valid YAML/);
  });

  it('refuse a schema node without a type (not structural)', async () => {
    const crd = await readFile(CRD_PATH, 'utf8');
    const broken = crd.replace(
      /( +)fromProbes:\n( +)description:/,
      '$1fromProbes:\n$2x-kubernetes-preserve-unknown-fields: true\n$2description:',
    );
    const untyped = broken.replace(/(fromProbes:[\s\S]*?)type: boolean\n/, '$1');
    expect(() => generateApiSource(untyped)).toThrow(/spec\.health\.fromProbes: no type/);
  });
});
