// One shape for every validation finding, named by the field path the API server would use
// (spec.health.endpoints[0].timeout), so offline errors and server errors read alike.

export interface FieldError {
  /** Field path, e.g. "spec.selector" or "spec.health.endpoints[1].port". */
  field: string;
  message: string;
}

export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent ? `${parent}.${key}` : key;
}

export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.field || '<root>'}: ${e.message}`).join('\n');
}
