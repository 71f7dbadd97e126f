// Makes a parsed YAML node say a new value while changing as little of it as possible, so
// comments, quoting and key order survive wherever the value did not change: unchanged
// scalars keep their node, maps keep their pairs in order (new keys appended, like the
// injection appends them), and list items are matched by name (containers, env, volumes)
// or by equal value before anything is created.

import { isMap, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';
import { canonicalJson } from './canonical.ts';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function keyOf(pair: Pair): unknown {
  return isScalar(pair.key) ? pair.key.value : pair.key;
}

function nameOf(node: unknown): unknown {
  return isMap(node) ? node.get('name') : undefined;
}

function same(node: unknown, value: unknown): boolean {
  const current: unknown = isScalar(node) || isMap(node) || isSeq(node) ? node.toJSON() : node;
  return canonicalJson(current) === canonicalJson(value);
}

/** Returns the node to use for value: the given node updated in place, or a new one. */
export function patchNode(doc: Document, node: unknown, value: unknown): Node {
  if (isMap(node) && isPlainObject(value)) {
    node.items = node.items.filter((pair) => Object.hasOwn(value, String(keyOf(pair))));
    for (const [key, v] of Object.entries(value)) {
      const pair = node.items.find((p) => String(keyOf(p)) === key);
      if (pair) pair.value = patchNode(doc, pair.value, v);
      else node.items.push(doc.createPair(key, v));
    }
    return node;
  }
  if (isSeq(node) && Array.isArray(value)) {
    const old = node.items;
    const next: unknown[] = [];
    let from = 0;
    for (const v of value) {
      const name = isPlainObject(v) ? v.name : undefined;
      const at = old.findIndex(
        (item, i) => i >= from && (name !== undefined ? nameOf(item) === name : same(item, v)),
      );
      if (at === -1) {
        next.push(doc.createNode(v));
      } else {
        next.push(patchNode(doc, old[at], v));
        from = at + 1;
      }
    }
    node.items = next;
    return node;
  }
  if (isScalar(node) && same(node, value)) return node;
  return doc.createNode(value);
}
