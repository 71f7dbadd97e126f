// Generates operator/api/v1alpha1.ts (TypeScript types, the CRD revision and the
// openAPIV3Schema as data) and the chart's copy of the CRD from the CRD YAML, the single
// source of truth. Run it with `npm run generate:api`; `--check` exits 1 when a committed
// output is stale.
// A unit test regenerates the module and compares, so the two can never drift.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { JSONSchemaProps } from './meta.ts';
import { CRD_REVISION_ANNOTATION } from './constants.ts';

export const CRD_PATH = join(
  import.meta.dirname,
  '../../crds/sidecarmonitor.io_sidecarmonitors.yaml',
);
export const OUTPUT_PATH = join(import.meta.dirname, 'v1alpha1.ts');
/** Helm installs the CRD from the chart's own crds/: a byte-for-byte copy. */
export const CHART_CRD_PATH = join(
  import.meta.dirname,
  '../../charts/sidecar-monitor/crds/sidecarmonitor.io_sidecarmonitors.yaml',
);

/** Readable names for schema nodes, by path; other objects get a PascalCase path name. */
const TYPE_NAMES: Record<string, string> = {
  '': 'SidecarMonitor',
  spec: 'SidecarMonitorSpec',
  status: 'SidecarMonitorStatus',
  'spec.selector': 'LabelSelector',
  'spec.selector.matchExpressions[]': 'LabelSelectorRequirement',
  'spec.health': 'HealthSpec',
  'spec.health.endpoints[]': 'HealthEndpoint',
  'spec.health.endpoints[].headers[]': 'HealthEndpointHeader',
  'spec.health.endpoints[].headers[].valueFrom': 'HeaderValueSource',
  'spec.health.endpoints[].headers[].valueFrom.secretKeyRef': 'SecretKeySelector',
  'spec.exporter': 'ExporterSpec',
  'spec.exporter.resources': 'ExporterResources',
  'spec.exporter.resources.requests': 'CpuMemory',
  'spec.exporter.resources.limits': 'CpuMemory',
  'spec.rollout': 'RolloutSpec',
  'spec.prometheus': 'PrometheusSpec',
  'status.conditions[]': 'Condition',
  'status.workloads[]': 'WorkloadStatus',
};

/** Enums worth a name (and a list of their values); others are inline unions. */
const ENUM_NAMES: Record<string, string> = {
  'spec.workloadKinds[]': 'WorkloadKind',
  'spec.selector.matchExpressions[].operator': 'SelectorOperator',
  'spec.health.endpoints[].type': 'EndpointType',
  'spec.health.endpoints[].scheme': 'EndpointScheme',
  'spec.exporter.nativeSidecar': 'Mode',
  'spec.prometheus.podMonitor': 'Mode',
  'spec.prometheus.scrapeAnnotations': 'Mode',
  'status.workloads[].state': 'WorkloadState',
};

export class GenerateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GenerateError';
  }
}

interface Crd {
  metadata?: { annotations?: Record<string, string> };
  spec?: { versions?: { name?: string; schema?: { openAPIV3Schema?: JSONSchemaProps } }[] };
}

function pascal(path: string): string {
  return path
    .split(/[.[\]]+/)
    .filter(Boolean)
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

/** Greedy word wrap, so generated comments read like hand-written ones. */
function wrap(line: string, width: number): string[] {
  const out: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    if (current && current.length + word.length + 1 > width) {
      out.push(current);
      current = word;
    } else {
      current = current ? `${current} ${word}` : word;
    }
  }
  if (current) out.push(current);
  return out;
}

function jsdoc(lines: string[], indent = ''): string {
  const text = lines.filter((l) => l.length > 0).flatMap((l) => wrap(l, 96 - indent.length));
  if (text.length === 0) return '';
  return `${indent}/**\n${text.map((l) => `${indent} * ${l.replaceAll('*/', '*\\/')}`).join('\n')}\n${indent} */\n`;
}

class Emitter {
  readonly declarations = new Map<string, string>();
  readonly enums = new Map<string, string[]>();

  typeOf(schema: JSONSchemaProps, path: string): string {
    if (schema['x-kubernetes-int-or-string']) return 'number | string';
    if (schema.enum) return this.enumType(schema.enum, path);
    switch (schema.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'array': {
        if (!schema.items) throw new GenerateError(`${path}: array without items`);
        const item = this.typeOf(schema.items, `${path}[]`);
        return item.includes(' ') ? `(${item})[]` : `${item}[]`;
      }
      case 'object':
        return this.objectType(schema, path);
      default:
        throw new GenerateError(`${path || '<root>'}: no type (structural schemas need one)`);
    }
  }

  private enumType(values: unknown[], path: string): string {
    const literals = values.map((v) => JSON.stringify(v));
    const name = ENUM_NAMES[path];
    if (name === undefined) return literals.join(' | ');
    const existing = this.enums.get(name);
    if (existing && existing.join() !== literals.join()) {
      throw new GenerateError(`${path}: enum ${name} is declared with different values elsewhere`);
    }
    this.enums.set(name, literals);
    return name;
  }

  private objectType(schema: JSONSchemaProps, path: string): string {
    if (path === 'metadata') return 'ObjectMeta';
    if (!schema.properties) {
      const values = schema.additionalProperties;
      if (typeof values === 'object') return `Record<string, ${this.typeOf(values, `${path}{}`)}>`;
      return 'Record<string, unknown>';
    }
    const name = TYPE_NAMES[path] ?? pascal(path);
    // Reserve the name first, so declarations come out parent before children.
    if (!this.declarations.has(name)) this.declarations.set(name, '');
    const required = new Set(schema.required ?? []);
    const fields = Object.entries(schema.properties).map(([key, prop]) => {
      const childPath = path ? `${path}.${key}` : key;
      const type = this.typeOf(prop, childPath);
      const doc = [...(prop.description ?? '').split('\n')];
      if (prop.default !== undefined) doc.push(`@default ${JSON.stringify(prop.default)}`);
      return `${jsdoc(doc, '  ')}  ${key}${required.has(key) ? '' : '?'}: ${type};`;
    });
    const body = `${jsdoc((schema.description ?? '').split('\n'))}export interface ${name} {\n${fields.join('\n')}\n}`;
    const existing = this.declarations.get(name);
    if (existing && existing !== body) {
      throw new GenerateError(`${path}: type ${name} is declared with a different shape elsewhere`);
    }
    this.declarations.set(name, body);
    return name;
  }
}

/** Returns the source of operator/api/v1alpha1.ts for a CRD document, before formatting. */
export function generateApiSource(crdText: string): string {
  let crd: Crd;
  try {
    crd = parse(crdText) as Crd;
  } catch (err) {
    throw new GenerateError('the CRD is not valid YAML', { cause: err });
  }
  const version = crd.spec?.versions?.find((v) => v.name === 'v1alpha1');
  const schema = version?.schema?.openAPIV3Schema;
  if (!schema) throw new GenerateError('the CRD has no v1alpha1 openAPIV3Schema');
  const revision = Number(crd.metadata?.annotations?.[CRD_REVISION_ANNOTATION]);
  if (!Number.isInteger(revision) || revision < 1) {
    throw new GenerateError(
      `the CRD needs a positive integer ${CRD_REVISION_ANNOTATION} annotation`,
    );
  }

  const emitter = new Emitter();
  emitter.typeOf(schema, '');
  const enums = [...emitter.enums].map(
    ([name, literals]) =>
      `export type ${name} = ${literals.join(' | ')};\n` +
      `export const ${name.charAt(0).toLowerCase()}${name.slice(1)}Values: readonly ${name}[] = [${literals.join(', ')}];`,
  );
  return [
    '// Generated by operator/api/generate.ts from crds/sidecarmonitor.io_sidecarmonitors.yaml.',
    '// Do not edit: change the CRD and run `npm run generate:api`.',
    '',
    "import type { JSONSchemaProps, ObjectMeta } from './meta.ts';",
    '',
    '/** The schema revision of the CRD these types were generated from. */',
    `export const CRD_REVISION = ${revision};`,
    '',
    ...enums,
    '',
    [...emitter.declarations.values()].join('\n\n'),
    '',
    "/** The CRD's openAPIV3Schema, for offline validation and defaulting. */",
    `export const openAPIV3Schema: JSONSchemaProps = ${JSON.stringify(schema)};`,
    '',
  ].join('\n');
}

/** The generated module, formatted with the repository's prettier settings. */
export async function generateApiModule(crdText: string): Promise<string> {
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(OUTPUT_PATH)) ?? {};
  return prettier.format(generateApiSource(crdText), { ...options, parser: 'typescript' });
}

export async function main(argv: string[]): Promise<number> {
  const check = argv.includes('--check');
  const crd = await readFile(CRD_PATH, 'utf8');
  const outputs: [string, string][] = [
    [OUTPUT_PATH, await generateApiModule(crd)],
    [CHART_CRD_PATH, crd],
  ];
  if (check) {
    let stale = 0;
    for (const [file, wanted] of outputs) {
      if ((await readFile(file, 'utf8').catch(() => '')) === wanted) continue;
      console.error(`${file} is stale: run npm run generate:api`);
      stale = 1;
    }
    return stale;
  }
  for (const [file, text] of outputs) await writeFile(file, text);
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
