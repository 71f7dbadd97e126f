// The examples a newcomer applies must work: a valid monitor that selects the sample app,
// an injection with the full (mirrored) security, and the same hash offline and in-cluster.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createMonitorValidator } from '../../../operator/api/validate.ts';
import {
  desiredPodTemplate,
  monitorSelects,
  type Workload,
} from '../../../operator/inject/index.ts';
import { processStream } from '../../../operator/inject/offline.ts';
import { facts } from './fixtures.ts';

const EXAMPLES = join(import.meta.dirname, '../../../examples');
const appText = readFileSync(join(EXAMPLES, 'sample-app.yaml'), 'utf8');
const app = parse(appText) as Workload;
const validation = createMonitorValidator().validate(
  parse(readFileSync(join(EXAMPLES, 'sidecarmonitor.yaml'), 'utf8')),
);

describe('examples', () => {
  it('the monitor is valid and selects the sample app', () => {
    expect(validation.valid ? [] : validation.errors).toEqual([]);
    if (!validation.valid) return;
    expect(monitorSelects(validation.monitor, app)).toBe(true);
  });

  it('the sample app gets the exporter with its own uid and gid, and its probes', () => {
    if (!validation.valid) throw new Error('invalid example monitor');
    const result = desiredPodTemplate(app, validation.monitor, facts());
    expect(result.outcome).toBe('Injected');
    if (result.outcome !== 'Injected') return;
    expect(result.security).toEqual({ mode: 'mirrored', runAsUser: 101, runAsGroup: 101 });
    expect(result.notes).toEqual([]);
    expect(result.config.probes.map((p) => `${p.name}:${p.port}`)).toEqual([
      'web-readiness:8080',
      'home:8080',
    ]);
  });

  it('inject -n gives the hash the operator computes for the applied objects', () => {
    if (!validation.valid) throw new Error('invalid example monitor');
    const offline = processStream(appText, {
      mode: 'inject',
      monitor: validation.monitor,
      facts: facts(),
      namespace: 'demo',
    });
    if (!offline.ok) throw new Error('bad example YAML');
    const rendered = parseAllDocuments(offline.text)[0]?.toJS() as Workload;
    expect(rendered.metadata?.namespace).toBeUndefined();
    const inCluster = desiredPodTemplate(
      { ...app, metadata: { ...app.metadata, namespace: 'demo' } },
      { ...validation.monitor, metadata: { ...validation.monitor.metadata, namespace: 'demo' } },
      facts(),
    );
    const hash =
      rendered.spec?.template?.metadata?.annotations?.['sidecarmonitor.io/injection-hash'];
    expect(inCluster.outcome === 'Injected' && inCluster.hash).toBe(hash);
    // Another namespace is another injection (the exporter's config names it).
    const elsewhere = processStream(appText, {
      mode: 'inject',
      monitor: validation.monitor,
      facts: facts(),
      namespace: 'other',
    });
    expect(elsewhere.ok && elsewhere.text).not.toBe(offline.text);
  });
});
