// One informer per watched namespace (--namespace, repeatable) behind one cache
// interface; a single cluster-wide informer when no namespace is given.
import { Informer, type InformerHandlers, type InformerOptions } from './informer.ts';
import type { KubeObject } from './resources.ts';

export class InformerGroup<T extends KubeObject = KubeObject> {
  readonly #all: Informer<T> | undefined;
  readonly #byNamespace = new Map<string, Informer<T>>();

  constructor(namespaces: readonly string[], options: Omit<InformerOptions<T>, 'namespace'>) {
    if (namespaces.length === 0 || !options.resource.namespaced) {
      this.#all = new Informer(options);
    } else {
      for (const ns of namespaces)
        this.#byNamespace.set(ns, new Informer({ ...options, namespace: ns }));
    }
  }

  get #informers(): Informer<T>[] {
    return this.#all ? [this.#all] : [...this.#byNamespace.values()];
  }

  addHandlers(handlers: InformerHandlers<T>): void {
    for (const i of this.#informers) i.addHandlers(handlers);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    if (this.#all) return this.#all.get(namespace, name);
    return namespace === undefined
      ? undefined
      : this.#byNamespace.get(namespace)?.get(namespace, name);
  }

  list(namespace?: string): T[] {
    if (this.#all) return this.#all.list(namespace);
    if (namespace !== undefined) return this.#byNamespace.get(namespace)?.list(namespace) ?? [];
    return this.#informers.flatMap((i) => i.list());
  }

  get size(): number {
    return this.#informers.reduce((n, i) => n + i.size, 0);
  }

  get hasSynced(): boolean {
    return this.#informers.every((i) => i.hasSynced);
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.waitForSync()));
  }

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.run(signal)));
  }
}
