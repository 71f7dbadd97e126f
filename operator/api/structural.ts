// The schema checks the API server makes beyond JSON Schema keywords: unknown fields
// (what `kubectl apply` rejects with strict field validation, its default) and unique keys
// in x-kubernetes-list-type map and set lists.

import { childPath, type FieldError } from './field-error.ts';
import type { JSONSchemaProps } from './meta.ts';

/** The message of a field the schema does not know (the server refuses it before validating). */
export const UNKNOWN_FIELD = 'unknown field';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function listKey(schema: JSONSchemaProps, item: unknown): string {
  if (schema['x-kubernetes-list-type'] === 'map' && isObject(item)) {
    return JSON.stringify((schema['x-kubernetes-list-map-keys'] ?? []).map((k) => item[k]));
  }
  return JSON.stringify(item);
}

export function structuralErrors(
  schema: JSONSchemaProps,
  value: unknown,
  path = '',
  out: FieldError[] = [],
): FieldError[] {
  if (Array.isArray(value)) {
    const listType = schema['x-kubernetes-list-type'];
    if (listType === 'map' || listType === 'set') {
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const key = listKey(schema, item);
        if (seen.has(key))
          out.push({ field: childPath(path, i), message: `duplicate value ${key}` });
        seen.add(key);
      });
    }
    const items = schema.items;
    if (items) value.forEach((item, i) => structuralErrors(items, item, childPath(path, i), out));
    return out;
  }
  if (!isObject(value) || schema['x-kubernetes-preserve-unknown-fields']) return out;
  // The API server validates metadata itself; the CRD may only constrain name and generateName.
  if (path === 'metadata') return out;
  const additional =
    typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
  for (const [key, v] of Object.entries(value)) {
    const prop = schema.properties?.[key] ?? additional;
    if (prop) structuralErrors(prop, v, childPath(path, key), out);
    else if (schema.properties) out.push({ field: childPath(path, key), message: UNKNOWN_FIELD });
  }
  return out;
}
