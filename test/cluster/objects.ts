// Object-level operations over the raw REST client: kind → resource mapping from the
// server's discovery (so CRDs applied a moment ago work), server-side apply, create, get,
// list, delete. Objects go in and come out as plain JSON.
import { parseAllDocuments } from 'yaml';
import { KubeApiError, type KubeObject, type RestClient } from './rest.ts';

export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

export interface ApplyOptions {
  /** Default namespace for namespaced objects that name none. */
  readonly namespace?: string;
  /** Field manager of the apply (default `sidecar-monitor-test`). */
  readonly fieldManager?: string;
  /** Take ownership of fields another manager holds (default true, like a test fixture). */
  readonly force?: boolean;
}

export interface ObjectClient {
  readonly rest: RestClient;
  /** API path of a collection (no name) or of one object. */
  path(ref: Omit<ObjectRef, 'name'> & { name?: string }): Promise<string>;
  /** Server-side apply of each object; returns what the server stored. */
  apply(objects: KubeObject | readonly KubeObject[], options?: ApplyOptions): Promise<KubeObject[]>;
  create(object: KubeObject, options?: { namespace?: string }): Promise<KubeObject>;
  get(ref: ObjectRef): Promise<KubeObject>;
  /** Like get, but `undefined` for NotFound. */
  tryGet(ref: ObjectRef): Promise<KubeObject | undefined>;
  list(
    ref: { apiVersion: string; kind: string; namespace?: string },
    options?: { labelSelector?: string; fieldSelector?: string },
  ): Promise<KubeObject[]>;
  /**
   * Deletes; NotFound counts as done. Background propagation (kubectl's default) unless
   * told otherwise: the call returns before dependents are gone.
   */
  remove(
    ref: ObjectRef,
    options?: { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan' },
  ): Promise<void>;
}

/** Parses multi-document YAML into objects, skipping empty documents. */
export function parseObjects(text: string, source = 'YAML'): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (!isKubeObject(value)) {
      throw new Error(
        `${source}: a document is not a Kubernetes object (apiVersion, kind, metadata)`,
      );
    }
    objects.push(value);
  }
  return objects;
}

function isKubeObject(value: unknown): value is KubeObject {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.apiVersion === 'string' &&
    typeof v.kind === 'string' &&
    typeof v.metadata === 'object' &&
    v.metadata !== null
  );
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

export function createObjectClient(rest: RestClient): ObjectClient {
  // Discovery per group-version, refreshed on a miss: a CRD established a moment ago
  // adds kinds to a group-version this client may already have looked at.
  const discovered = new Map<string, ApiResource[]>();

  const discover = async (apiVersion: string, refresh: boolean): Promise<ApiResource[]> => {
    const cached = discovered.get(apiVersion);
    if (cached !== undefined && !refresh) return cached;
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const list = await rest.request<{ resources: ApiResource[] }>('GET', base);
    const resources = list.resources.filter((r) => !r.name.includes('/'));
    discovered.set(apiVersion, resources);
    return resources;
  };

  const resourceFor = async (apiVersion: string, kind: string): Promise<ApiResource> => {
    const find = (list: ApiResource[]): ApiResource | undefined =>
      list.find((r) => r.kind === kind);
    const hit = find(await discover(apiVersion, false)) ?? find(await discover(apiVersion, true));
    if (hit === undefined) {
      throw new Error(`the API server serves no kind ${kind} in ${apiVersion}`);
    }
    return hit;
  };

  const path = async (ref: Omit<ObjectRef, 'name'> & { name?: string }): Promise<string> => {
    const resource = await resourceFor(ref.apiVersion, ref.kind);
    const base = ref.apiVersion.includes('/')
      ? `/apis/${ref.apiVersion}`
      : `/api/${ref.apiVersion}`;
    let out = base;
    if (resource.namespaced) {
      if (ref.namespace === undefined || ref.namespace === '') {
        if (ref.name !== undefined) {
          throw new Error(`${ref.kind} ${ref.name} is namespaced: give it a namespace`);
        }
      } else {
        out += `/namespaces/${encodeURIComponent(ref.namespace)}`;
      }
    }
    out += `/${resource.name}`;
    if (ref.name !== undefined) out += `/${encodeURIComponent(ref.name)}`;
    return out;
  };

  const refOf = (object: KubeObject, namespace?: string): ObjectRef => {
    const name = object.metadata.name;
    if (name === undefined) throw new Error(`a ${object.kind} without metadata.name`);
    const ns = object.metadata.namespace ?? namespace;
    return {
      apiVersion: object.apiVersion,
      kind: object.kind,
      name,
      ...(ns === undefined ? {} : { namespace: ns }),
    };
  };

  const get = async (ref: ObjectRef): Promise<KubeObject> =>
    rest.request<KubeObject>('GET', await path(ref));

  return {
    rest,
    path,
    async apply(objects, options = {}) {
      const list: readonly KubeObject[] = Array.isArray(objects)
        ? objects
        : [objects as KubeObject];
      const applied: KubeObject[] = [];
      for (const object of list) {
        const ref = refOf(object, options.namespace);
        const resource = await resourceFor(ref.apiVersion, ref.kind);
        const body =
          resource.namespaced && object.metadata.namespace === undefined
            ? { ...object, metadata: { ...object.metadata, namespace: ref.namespace } }
            : object;
        applied.push(
          await rest.request<KubeObject>('PATCH', await path(ref), {
            body,
            contentType: 'application/apply-patch+yaml',
            query: {
              fieldManager: options.fieldManager ?? 'sidecar-monitor-test',
              force: options.force ?? true,
            },
          }),
        );
      }
      return applied;
    },
    async create(object, options = {}) {
      const namespace = object.metadata.namespace ?? options.namespace;
      const collection = await path({
        apiVersion: object.apiVersion,
        kind: object.kind,
        ...(namespace === undefined ? {} : { namespace }),
      });
      return rest.request<KubeObject>('POST', collection, { body: object });
    },
    get,
    async tryGet(ref) {
      try {
        return await get(ref);
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 404) return undefined;
        throw error;
      }
    },
    async list(ref, options = {}) {
      const result = await rest.request<{ items: KubeObject[] }>('GET', await path(ref), {
        query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector },
      });
      // List items carry no apiVersion/kind of their own.
      return result.items.map((item) => ({ ...item, apiVersion: ref.apiVersion, kind: ref.kind }));
    },
    async remove(ref, options = {}) {
      try {
        await rest.request('DELETE', await path(ref), {
          body: {
            kind: 'DeleteOptions',
            apiVersion: 'v1',
            propagationPolicy: options.propagationPolicy ?? 'Background',
          },
        });
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 404)) throw error;
      }
    },
  };
}
