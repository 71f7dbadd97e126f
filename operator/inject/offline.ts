// The pure core of `sidecar-monitor inject`: a multi-document YAML text in, the same text
// out with the selected workloads injected (or the injection removed). Documents that do
// not change are copied byte for byte; changed ones keep their comments, key order and
// quoting wherever the YAML library allows. YAML is read as YAML 1.1, as kubectl reads it
// (so `on`, `yes` and `0644` mean what the API server will think they mean).

import { isMap, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { SidecarMonitor } from '../api/v1alpha1.ts';
import { canonicalJson } from './canonical.ts';
import { desiredPodTemplate } from './desired.ts';
import type { PodTemplateSpec, Workload } from './k8s-types.ts';
import { currentInjection } from './record.ts';
import { removeInjection } from './remove.ts';
import { monitorSelects } from './select.ts';
import type { ClusterFacts } from './types.ts';
import { patchNode } from './yaml-patch.ts';

export type OfflineOptions = (
  | { mode: 'inject'; monitor: SidecarMonitor; facts: ClusterFacts }
  /** Removes every injection, or only the monitor's when one is given. */
  | { mode: 'remove'; monitor?: SidecarMonitor }
) & {
  /** The namespace of objects that name none, as with `kubectl apply -n`. */
  namespace?: string;
};

export interface Report {
  line: number;
  /** Kind/name of the object. */
  object: string;
  level: 'skipped' | 'warning' | 'info';
  /** A SkipReason, a SecurityReason or a NoteCode. */
  reason: string;
  message: string;
}

export type StreamResult =
  | { ok: true; text: string; reports: Report[]; changed: number }
  | { ok: false; errors: { line: number; column: number; message: string }[] };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Skips that are the workload owner's explicit choice: reported, but not a failure. */
const CHOSEN: readonly string[] = ['OptedOut'];

function decide(
  workload: Workload,
  options: OfflineOptions,
  report: (level: Report['level'], reason: string, message: string) => void,
): PodTemplateSpec | undefined {
  const template = workload.spec?.template;
  if (options.mode === 'remove') {
    const current = currentInjection(template);
    if (!template || !current) return undefined;
    if (options.monitor && current.monitor !== options.monitor.metadata?.name) return undefined;
    return removeInjection(template);
  }
  // The namespace decides selection and goes into the exporter's config (and so the hash):
  // take it as the API server will, so the operator finds the same injection.
  const ns = options.namespace;
  const target =
    ns && !workload.metadata?.namespace
      ? { ...workload, metadata: { ...workload.metadata, namespace: ns } }
      : workload;
  const monitor =
    ns && !options.monitor.metadata?.namespace
      ? { ...options.monitor, metadata: { ...options.monitor.metadata, namespace: ns } }
      : options.monitor;
  if (!monitorSelects(monitor, target)) return undefined;
  const result = desiredPodTemplate(target, monitor, options.facts);
  if (result.outcome === 'Skipped') {
    report(CHOSEN.includes(result.reason) ? 'info' : 'skipped', result.reason, result.message);
    return result.template;
  }
  if (result.security.reason) {
    report('warning', result.security.reason, result.security.message ?? '');
  }
  for (const note of result.notes) report('info', note.code, note.message);
  return result.template;
}

/** Whether sequences in the source are indented under their key (`key:\n  - x`). */
function indentsSequences(text: string): boolean {
  const m = /^( *)[^\s#-][^\n]*:[ \t]*\n(?:[ \t]*(?:#[^\n]*)?\n)*( *)- /m.exec(text);
  return !m || (m[2] ?? '').length > (m[1] ?? '').length;
}

export function processStream(text: string, options: OfflineOptions): StreamResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    version: '1.1',
    lineCounter,
    prettyErrors: false,
    logLevel: 'error',
  });
  if (!Array.isArray(docs)) return { ok: true, text, reports: [], changed: 0 };
  const errors = docs.flatMap((doc) =>
    doc.errors.map((e) => {
      const pos = lineCounter.linePos(e.pos[0]);
      return { line: pos.line, column: pos.col, message: e.message.split('\n')[0] ?? e.message };
    }),
  );
  if (errors.length > 0) return { ok: false, errors };
  const values: unknown[] = [];
  for (const doc of docs) {
    try {
      values.push(doc.toJS({ maxAliasCount: 1000 }));
    } catch (err) {
      // The YAML library refuses alias bombs (resource exhaustion) this way.
      const pos = lineCounter.linePos(doc.range[0]);
      const message = err instanceof Error ? err.message : String(err);
      return { ok: false, errors: [{ line: pos.line, column: pos.col, message }] };
    }
  }

  const reports: Report[] = [];
  const indentSeq = indentsSequences(text);
  let changed = 0;
  let out = '';
  let cursor = 0;
  docs.forEach((doc, i) => {
    const [start, , end] = doc.range;
    const gap = text.slice(cursor, start);
    cursor = end;
    if (processDocument(doc, values[i], options, lineCounter, reports)) {
      changed++;
      // A first document's leading comments live in its commentBefore: printed by toString.
      out += (i === 0 ? '' : gap) + doc.toString({ lineWidth: 0, indentSeq });
    } else {
      out += gap + text.slice(start, end);
    }
  });
  out += text.slice(cursor);
  return { ok: true, text: out, reports, changed };
}

function processDocument(
  doc: Document,
  value: unknown,
  options: OfflineOptions,
  lineCounter: LineCounter,
  reports: Report[],
): boolean {
  if (!isObject(value)) return false;
  // kubectl's `kind: List` wraps objects in items.
  const objects: { path: (string | number)[]; object: unknown }[] =
    value.kind === 'List' && Array.isArray(value.items)
      ? value.items.map((object: unknown, i) => ({ path: ['items', i], object }))
      : [{ path: [], object: value }];
  let changed = false;
  for (const { path, object } of objects) {
    if (!isObject(object)) continue;
    const workload = object as Workload;
    const node = path.length > 0 ? doc.getIn(path, true) : doc.contents;
    const offset = (isMap(node) || isSeq(node) ? node.range?.[0] : undefined) ?? 0;
    const line = lineCounter.linePos(offset).line;
    const name = `${workload.kind ?? '?'}/${workload.metadata?.name ?? '?'}`;
    const template = decide(workload, options, (level, reason, message) =>
      reports.push({ line, object: name, level, reason, message }),
    );
    if (!template || canonicalJson(template) === canonicalJson(workload.spec?.template)) continue;
    const templatePath = [...path, 'spec', 'template'];
    doc.setIn(templatePath, patchNode(doc, doc.getIn(templatePath, true), template));
    changed = true;
  }
  return changed;
}
