// Offline validation of a SidecarMonitor, as the API server applies it: unknown fields
// first (strict field validation, kubectl's default, refuses them before anything else is
// checked), then defaults, the CRD's openAPIV3Schema (ajv) and list keys, and the semantic
// checks that mirror the CEL rules. Like the server, it skips the CEL mirror only after a
// "blocking" schema error (a wrong type, a missing required field, a value outside an enum,
// too long or too many), saying so; after any other error (a bound, a pattern, a duplicate
// key) it runs them too, so every error is named at once. The result is the defaulted
// monitor or every error by field path.

import { Ajv, type ErrorObject } from 'ajv';
import { API_VERSION, KIND } from './constants.ts';
import { applySchemaDefaults } from './defaults.ts';
import { childPath, type FieldError } from './field-error.ts';
import { isDnsSubdomain } from './labels.ts';
import { semanticErrors } from './semantic.ts';
import { structuralErrors, UNKNOWN_FIELD } from './structural.ts';
import { openAPIV3Schema, type SidecarMonitor } from './v1alpha1.ts';

export type MonitorValidation =
  { valid: true; monitor: SidecarMonitor } | { valid: false; errors: FieldError[] };

export interface MonitorValidator {
  validate(value: unknown): MonitorValidation;
}

const KUBERNETES_KEYWORDS = [
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
  'x-kubernetes-embedded-resource',
];

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** ajv's JSON pointer ("/spec/health/endpoints/0") as a Kubernetes field path. */
function fieldOf(error: ErrorObject): string {
  let path = '';
  for (const raw of error.instancePath.split('/').slice(1)) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    path = /^\d+$/.test(seg) ? childPath(path, Number(seg)) : childPath(path, seg);
  }
  if (error.keyword === 'required') {
    path = childPath(path, (error.params as { missingProperty: string }).missingProperty);
  }
  return path;
}

/** The keywords whose failure makes the API server skip CEL rules (hasBlockingErr). */
const BLOCKING = new Set(['type', 'required', 'enum', 'maxLength', 'maxItems', 'maxProperties']);

/** What the API server adds when a blocking error kept it from running the CEL rules. */
export const NOT_CHECKED: FieldError = {
  field: '',
  message:
    'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
};

function isBlocking(errors: readonly ErrorObject[]): boolean {
  // An int-or-string of the wrong type fails as anyOf: a type error.
  return errors.some((e) => BLOCKING.has(e.keyword) || e.keyword === 'anyOf');
}

function schemaErrors(errors: readonly ErrorObject[]): FieldError[] {
  // An int-or-string of the wrong type fails both anyOf branches: say it once.
  const anyOf = new Set(errors.filter((e) => e.keyword === 'anyOf').map(fieldOf));
  const out = new Map<string, FieldError>();
  for (const error of errors) {
    const field = fieldOf(error);
    let message: string;
    if (anyOf.has(field) && (error.keyword === 'type' || error.keyword === 'anyOf')) {
      message = 'must be an integer or a string';
    } else if (error.keyword === 'required') {
      message = 'required value';
    } else if (error.keyword === 'enum') {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
      message = `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
    } else {
      message = error.message ?? error.keyword;
    }
    const key = `${field}\0${message}`;
    if (!out.has(key)) out.set(key, { field, message });
  }
  return [...out.values()];
}

function metadataErrors(value: Record<string, unknown>): FieldError[] {
  const metadata = value.metadata;
  if (!isObject(metadata)) return [{ field: 'metadata', message: 'required value' }];
  const errors: FieldError[] = [];
  const { name, namespace } = metadata;
  if (typeof name !== 'string' || name === '') {
    errors.push({ field: 'metadata.name', message: 'required value' });
  } else if (!isDnsSubdomain(name)) {
    errors.push({
      field: 'metadata.name',
      message: 'must be a lowercase DNS subdomain (letters, digits, - and .)',
    });
  }
  if (namespace !== undefined && (typeof namespace !== 'string' || !isDnsSubdomain(namespace))) {
    errors.push({ field: 'metadata.namespace', message: 'must be a namespace name' });
  }
  return errors;
}

/** Compiles the CRD schema once; keep the validator for the life of the caller. */
export function createMonitorValidator(): MonitorValidator {
  const ajv = new Ajv({ allErrors: true, strictTypes: false });
  ajv.addVocabulary(KUBERNETES_KEYWORDS);
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('date-time', RFC3339);
  const check = ajv.compile(openAPIV3Schema);

  return {
    validate(value: unknown): MonitorValidation {
      if (!isObject(value)) {
        return { valid: false, errors: [{ field: '', message: 'must be an object' }] };
      }
      const errors: FieldError[] = [];
      if (value.apiVersion !== API_VERSION) {
        errors.push({ field: 'apiVersion', message: `must be ${API_VERSION}` });
      }
      if (value.kind !== KIND) errors.push({ field: 'kind', message: `must be ${KIND}` });
      const defaulted = applySchemaDefaults(openAPIV3Schema, value);
      const structural = structuralErrors(openAPIV3Schema, defaulted);
      const unknown = structural.filter((e) => e.message === UNKNOWN_FIELD);
      if (unknown.length > 0) return { valid: false, errors: [...errors, ...unknown] };
      errors.push(...metadataErrors(value));
      const schemaValid = check(defaulted);
      const ajvErrors = schemaValid ? [] : (check.errors ?? []);
      errors.push(...schemaErrors(ajvErrors), ...structural);
      if (isBlocking(ajvErrors)) return { valid: false, errors: [...errors, NOT_CHECKED] };
      const monitor = defaulted as SidecarMonitor;
      errors.push(...semanticErrors(monitor));
      return errors.length > 0 ? { valid: false, errors } : { valid: true, monitor };
    },
  };
}
