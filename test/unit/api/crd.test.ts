import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EXPORTER_PORT,
  EXPORTER_CONTAINER,
  MESH_SIDECARS,
} from '../../../operator/api/constants.ts';
import { CRD_PATH } from '../../../operator/api/generate.ts';
import type { JSONSchemaProps } from '../../../operator/api/meta.ts';

interface Crd {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; shortNames: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status?: object };
      additionalPrinterColumns: { name: string; jsonPath: string }[];
      schema: { openAPIV3Schema: JSONSchemaProps };
    }[];
  };
}

const crd = parse(await readFile(CRD_PATH, 'utf8')) as Crd;
const version = crd.spec.versions[0]!;
const schema = version.schema.openAPIV3Schema;

/** Every schema node with its path, depth first. */
function walk(node: JSONSchemaProps, path: string, out: [string, JSONSchemaProps][] = []) {
  out.push([path, node]);
  for (const [k, v] of Object.entries(node.properties ?? {}))
    walk(v, path ? `${path}.${k}` : k, out);
  if (node.items) walk(node.items, `${path}[]`, out);
  if (typeof node.additionalProperties === 'object')
    walk(node.additionalProperties, `${path}{}`, out);
  return out;
}

const nodes = walk(schema, '');
// apiVersion, kind and metadata are the API server's own, validated by it.
const ours = nodes.filter(([path]) => /^(spec|status)/.test(path));

describe('the SidecarMonitor CRD', () => {
  it('is sidecarmonitors.sidecarmonitor.io v1alpha1, namespaced, short name smon, status subresource', () => {
    expect(crd.metadata.name).toBe('sidecarmonitors.sidecarmonitor.io');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names.shortNames).toEqual(['smon']);
    expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([
      ['v1alpha1', true, true],
    ]);
    expect(version.subresources.status).toEqual({});
    expect(version.additionalPrinterColumns.map((c) => c.name)).toEqual([
      'Ready',
      'Matched',
      'Injected',
      'Age',
    ]);
  });

  it('bounds every string, list and map (CEL cost limits reject unbounded ones)', () => {
    const unbounded = ours.flatMap(([path, n]) => {
      if (n.type === 'string' && n.maxLength === undefined && n.enum === undefined) return [path];
      if (n['x-kubernetes-int-or-string'] && n.maxLength === undefined) return [path];
      if (n.type === 'array' && n.maxItems === undefined) return [path];
      if (typeof n.additionalProperties === 'object' && n.maxProperties === undefined)
        return [path];
      return [];
    });
    expect(unbounded).toEqual([]);
  });

  it('documents every field', () => {
    const undocumented = ours
      .filter(([path]) => !path.endsWith('[]') && !path.endsWith('{}'))
      .filter(([, n]) => !n.description)
      .map(([path]) => path);
    expect(undocumented).toEqual([]);
  });

  it('keys endpoints, headers, conditions and workload states as list maps', () => {
    const listMaps = Object.fromEntries(
      ours
        .filter(([, n]) => n['x-kubernetes-list-type'] === 'map')
        .map(([path, n]) => [path, n['x-kubernetes-list-map-keys']]),
    );
    expect(listMaps).toEqual({
      'spec.health.endpoints': ['name'],
      'spec.health.endpoints[].headers': ['name'],
      'status.conditions': ['type'],
      'status.workloads': ['kind', 'name'],
    });
  });

  it('limits monitor names to 63 characters, a label value', () => {
    expect(schema.properties?.metadata?.properties?.name?.maxLength).toBe(63);
  });
});

describe('constants', () => {
  it('match the CRD defaults and the names its CEL rules refuse', () => {
    const spec = schema.properties?.spec?.properties;
    expect(spec?.exporter?.properties?.port?.default).toBe(DEFAULT_EXPORTER_PORT);
    const rule = spec?.targetContainers?.items?.['x-kubernetes-validations']?.[0]?.rule ?? '';
    for (const name of [...MESH_SIDECARS, EXPORTER_CONTAINER]) expect(rule).toContain(`'${name}'`);
  });
});
