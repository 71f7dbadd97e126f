// Structural-schema defaulting as the API server does it, so an offline monitor (the
// `inject` command, tests) reads exactly like one the operator gets from the cluster:
// nulls of non-nullable fields are dropped, then every absent property with a default gets
// it, recursively (a parent's `default: {}` lets its children's defaults apply).

import type { JSONSchemaProps } from './meta.ts';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns a defaulted copy of value; the input is never modified. */
export function applySchemaDefaults(schema: JSONSchemaProps, value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = schema.items;
    return items ? value.map((v) => applySchemaDefaults(items, v)) : structuredClone(value);
  }
  if (!isObject(value)) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const prop = schema.properties?.[key];
    if (v === null && prop && !prop.nullable) continue;
    const additional =
      typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
    const child = prop ?? additional;
    out[key] = child ? applySchemaDefaults(child, v) : structuredClone(v);
  }
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (out[key] === undefined && prop.default !== undefined) {
      out[key] = applySchemaDefaults(prop, prop.default);
    }
  }
  return out;
}
