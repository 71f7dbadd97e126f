// Kubeconfig files read and merged exactly as kubectl (client-go's clientcmd) does, up to
// what `kubectl config view --minify --raw --flatten` prints for one context:
// - $KUBECONFIG lists files (duplicates once); a missing file is skipped, but an error in
//   any file that exists is an error (never a silent fall back to another file);
// - the first file that defines a cluster, user or context name wins for that name, whole
//   entry; the first non-empty current-context wins; a name defined twice in one file is
//   an error;
// - relative paths (certificate-authority, client-certificate, client-key, tokenFile, and
//   an exec command containing a '/') are relative to the file that defined the entry;
// - --context replaces current-context; the selected context must name an existing cluster,
//   and an existing user when it names one.
import path from 'node:path';
import { parse } from 'yaml';
import { KubeconfigError } from './errors.ts';

type Rec = Record<string, unknown>;

export interface Entry {
  name: string;
  /** The cluster, user or context object. */
  value: Rec;
  /** The file that defined it (relative paths resolve from its directory). */
  file: string;
}

export interface KubeconfigDoc {
  /** The files merged, in order. */
  files: string[];
  currentContext: string | undefined;
  clusters: Map<string, Entry>;
  users: Map<string, Entry>;
  contexts: Map<string, Entry>;
}

/** One context with its cluster and user: what `kubectl config view --minify` shows. */
export interface Minified {
  contextName: string;
  context: Rec;
  clusterName: string;
  cluster: Rec;
  userName: string | undefined;
  user: Rec;
  /** Where each part came from, for messages. */
  files: { context: string; cluster: string; user: string | undefined };
}

function rec(v: unknown): Rec | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
}

const LISTS = [
  ['clusters', 'cluster'],
  ['users', 'user'],
  ['contexts', 'context'],
] as const;

/** Parses one kubeconfig file; every structural problem is an error naming the file. */
export function parseKubeconfig(text: string, file: string): KubeconfigDoc {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new KubeconfigError(`${file}: not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const doc: KubeconfigDoc = {
    files: [file],
    currentContext: undefined,
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  // An empty file is an empty config, as client-go reads it.
  if (raw === null || raw === undefined) return doc;
  const top = rec(raw);
  if (!top) throw new KubeconfigError(`${file}: not a kubeconfig (a YAML mapping)`);
  if (top.kind !== undefined && top.kind !== 'Config') {
    throw new KubeconfigError(
      `${file}: kind ${JSON.stringify(top.kind)} is not a kubeconfig (Config)`,
    );
  }
  if (top.apiVersion !== undefined && top.apiVersion !== 'v1') {
    throw new KubeconfigError(`${file}: apiVersion ${JSON.stringify(top.apiVersion)} is not v1`);
  }
  const current = top['current-context'];
  if (current !== undefined && current !== null && typeof current !== 'string') {
    throw new KubeconfigError(`${file}: current-context must be a string`);
  }
  doc.currentContext = current || undefined;
  for (const [list, field] of LISTS) {
    const items = top[list];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) throw new KubeconfigError(`${file}: ${list} must be a list`);
    const map = list === 'clusters' ? doc.clusters : list === 'users' ? doc.users : doc.contexts;
    for (const item of items) {
      const named = rec(item);
      const name = named?.name;
      if (!named || typeof name !== 'string') {
        throw new KubeconfigError(`${file}: every entry of ${list} needs a name`);
      }
      if (map.has(name)) {
        throw new KubeconfigError(`${file}: duplicate name "${name}" in ${list}`);
      }
      const value = named[field] ?? {};
      if (!rec(value))
        throw new KubeconfigError(`${file}: ${list} "${name}": ${field} must be a mapping`);
      map.set(name, { name, value: value as Rec, file });
    }
  }
  return doc;
}

/** Merges files in order: the first definition of each name wins, and the first current-context. */
export function mergeKubeconfigs(docs: readonly KubeconfigDoc[]): KubeconfigDoc {
  const merged: KubeconfigDoc = {
    files: docs.flatMap((d) => d.files),
    currentContext: docs.find((d) => d.currentContext !== undefined)?.currentContext,
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const doc of docs) {
    for (const key of ['clusters', 'users', 'contexts'] as const) {
      for (const [name, entry] of doc[key]) {
        if (!merged[key].has(name)) merged[key].set(name, entry);
      }
    }
  }
  return merged;
}

function describeFiles(doc: KubeconfigDoc): string {
  return doc.files.length === 1 ? (doc.files[0] ?? '') : `[${doc.files.join(', ')}]`;
}

/** Picks one context (--context, else current-context) with its cluster and user. */
export function minify(doc: KubeconfigDoc, contextOverride?: string): Minified {
  const where = describeFiles(doc);
  const contextName = contextOverride || doc.currentContext;
  if (!contextName) {
    throw new KubeconfigError(`${where}: no current-context (set one, or pass --context)`);
  }
  const ctx = doc.contexts.get(contextName);
  if (!ctx) throw new KubeconfigError(`${where}: no context named "${contextName}"`);
  const clusterName = typeof ctx.value.cluster === 'string' ? ctx.value.cluster : '';
  if (!clusterName) {
    throw new KubeconfigError(`${ctx.file}: context "${contextName}" names no cluster`);
  }
  const cluster = doc.clusters.get(clusterName);
  if (!cluster) {
    throw new KubeconfigError(
      `${where}: no cluster named "${clusterName}" (context "${contextName}")`,
    );
  }
  const userName =
    typeof ctx.value.user === 'string' && ctx.value.user ? ctx.value.user : undefined;
  const user = userName === undefined ? undefined : doc.users.get(userName);
  if (userName !== undefined && !user) {
    throw new KubeconfigError(`${where}: no user named "${userName}" (context "${contextName}")`);
  }
  return {
    contextName,
    context: ctx.value,
    clusterName,
    cluster: resolvePaths(cluster, ['certificate-authority']),
    userName,
    user: user ? resolveUserPaths(user) : {},
    files: { context: ctx.file, cluster: cluster.file, user: user?.file },
  };
}

function resolvePaths(entry: Entry, keys: readonly string[]): Rec {
  const out: Rec = { ...entry.value };
  const base = path.dirname(path.resolve(entry.file));
  for (const key of keys) {
    const v = out[key];
    if (typeof v === 'string' && v !== '') out[key] = path.resolve(base, v);
  }
  return out;
}

function resolveUserPaths(entry: Entry): Rec {
  const out = resolvePaths(entry, ['client-certificate', 'client-key', 'tokenFile']);
  const exec = rec(out.exec);
  // A bare command name is looked up in $PATH; one with a '/' is a path from the file.
  if (exec && typeof exec.command === 'string' && exec.command.includes('/')) {
    out.exec = {
      ...exec,
      command: path.resolve(path.dirname(path.resolve(entry.file)), exec.command),
    };
  }
  return out;
}

export interface FileReader {
  readFile(file: string): Promise<Buffer>;
}

function isMissing(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ENOENT';
}

/**
 * Reads and merges kubeconfig files. With `skipMissing` (the $KUBECONFIG list), files that do
 * not exist are skipped as kubectl skips them; any other failure of any file is an error.
 */
export async function readKubeconfigs(
  files: readonly string[],
  io: FileReader,
  skipMissing: boolean,
): Promise<KubeconfigDoc> {
  const docs: KubeconfigDoc[] = [];
  const errors: string[] = [];
  for (const file of [...new Set(files.filter((f) => f !== ''))]) {
    let text: string;
    try {
      text = (await io.readFile(file)).toString('utf8');
    } catch (err) {
      if (skipMissing && isMissing(err)) continue;
      errors.push(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
      continue;
    }
    try {
      docs.push(parseKubeconfig(text, file));
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (errors.length > 0) throw new KubeconfigError(errors.join('; '));
  if (docs.length === 0) {
    throw new KubeconfigError(`no kubeconfig found: none of ${files.join(', ')} exists`);
  }
  return mergeKubeconfigs(docs);
}
