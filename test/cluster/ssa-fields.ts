// What a server-side apply configuration of a workload claims, computed independently of the
// API server so a test can hold the server to it:
// - fieldSetOf: the fieldsV1 set the server records in managedFields for the applier;
// - coveredPart: the part of a live object those fields cover (to compare with what was sent).
//
// Lists follow the pod template's schema (x-kubernetes-list-type/map-keys of k8s.io/api):
// associative lists are matched by their keys, atomic lists are one field. A list this table
// does not know is an error, never a guess: a wrong guess would make the test lie. Maps are
// taken as granular; an atomic struct would show as a mismatch, never pass unnoticed.

const MAP_KEYS: Readonly<Record<string, readonly string[]>> = {
  containers: ['name'],
  initContainers: ['name'],
  env: ['name'],
  volumes: ['name'],
  volumeMounts: ['mountPath'],
  ports: ['containerPort', 'protocol'],
};
const ATOMIC_LISTS: readonly string[] = ['args', 'command', 'add', 'drop'];

/** The identity fields server-side apply never records as owned (its "strip meta" step). */
const IDENTITY = ['apiVersion', 'kind'];
const IDENTITY_META = ['name', 'namespace'];

export type FieldSet = { [key: string]: FieldSet };

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function listKeys(field: string, path: string): readonly string[] | 'atomic' {
  const keys = MAP_KEYS[field];
  if (keys !== undefined) return keys;
  if (ATOMIC_LISTS.includes(field)) return 'atomic';
  throw new Error(`${path}: a list ssa-fields.ts does not know; add its list type`);
}

function keyOf(item: unknown, keys: readonly string[], path: string): Json {
  if (!isObject(item)) throw new Error(`${path}: an associative list item that is not an object`);
  const key: Json = {};
  for (const name of [...keys].sort()) {
    if (item[name] === undefined) throw new Error(`${path}: item without its key field ${name}`);
    key[name] = item[name];
  }
  return key;
}

function setOfValue(value: unknown, field: string, path: string): FieldSet {
  if (Array.isArray(value)) {
    const keys = listKeys(field, path);
    if (keys === 'atomic') return {};
    const out: FieldSet = {};
    value.forEach((item, i) => {
      const itemPath = `${path}[${i}]`;
      out[`k:${JSON.stringify(keyOf(item, keys, itemPath))}`] = {
        '.': {},
        ...setOfObject(item as Json, itemPath),
      };
    });
    return out;
  }
  return isObject(value) ? setOfObject(value, path) : {};
}

function setOfObject(object: Json, path: string): FieldSet {
  const out: FieldSet = {};
  for (const [key, value] of Object.entries(object)) {
    out[`f:${key}`] = setOfValue(value, key, path === '' ? key : `${path}.${key}`);
  }
  return out;
}

/** The fieldsV1 that server-side apply records for the manager that applied `config`. */
export function fieldSetOf(config: object): FieldSet {
  const { metadata, ...rest } = Object.fromEntries(
    Object.entries(config).filter(([key]) => !IDENTITY.includes(key)),
  );
  const owned = isObject(metadata)
    ? Object.fromEntries(Object.entries(metadata).filter(([key]) => !IDENTITY_META.includes(key)))
    : {};
  return setOfObject(Object.keys(owned).length > 0 ? { ...rest, metadata: owned } : rest, '');
}

/**
 * The part of `live` at the fields `applied` sets: objects cut to `applied`'s keys, associative
 * list items matched by key (an item missing from `live` is `undefined`), atomic lists and
 * scalars whole. Equal to `applied` exactly when the live object holds every applied value.
 */
export function coveredPart(live: unknown, applied: unknown, field = '', path = ''): unknown {
  if (Array.isArray(applied)) {
    const keys = listKeys(field, path);
    if (keys === 'atomic' || !Array.isArray(live)) return live;
    return applied.map((item, i) => {
      const itemPath = `${path}[${i}]`;
      const key = keyOf(item, keys, itemPath);
      const match = (live as unknown[]).find(
        (l) => isObject(l) && keys.every((k) => l[k] === key[k]),
      );
      return match === undefined ? undefined : coveredPart(match, item, '', itemPath);
    });
  }
  if (!isObject(applied) || !isObject(live)) return live;
  const out: Json = {};
  for (const [key, value] of Object.entries(applied)) {
    if (key in live) out[key] = coveredPart(live[key], value, key, path ? `${path}.${key}` : key);
  }
  return out;
}
