// The SidecarMonitor CRD on a real API server: it is accepted and Established, and every
// row of the API's table of valid and invalid monitors gets the server's verdict the table
// states, with the rejected field named. CEL rules, formats and defaults only run here.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { releaseMonitors } from '../operator/support.ts';
import { KubeApiError, testCluster, type KubeObject, type TestNamespace } from './harness.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const CRD_FILE = 'crds/sidecarmonitor.io_sidecarmonitors.yaml';
const CRD_NAME = 'sidecarmonitors.sidecarmonitor.io';

interface Case {
  name: string;
  valid: boolean;
  field?: string;
  monitor: KubeObject;
}

const cases = parse(
  readFileSync(path.join(REPO, 'test/fixtures/monitors/cases.yaml'), 'utf8'),
) as Case[];
const crdRef = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  name: CRD_NAME,
};
const cluster = testCluster();
let ns: TestNamespace;

beforeAll(async () => {
  ns = await cluster.namespace('crd');
});

afterAll(async () => {
  // Deleting the CRD deletes every monitor; it must be gone before the next file may
  // want to install it fresh. The namespace controller finishes in the background.
  // Monitors another file left with the operator's finalizer (no operator runs now)
  // would hold the CRD in Terminating.
  await releaseMonitors(cluster);
  await cluster.remove(crdRef);
  await cluster.waitForDeletion(crdRef);
  await ns.delete();
});

describe('SidecarMonitor CRD', () => {
  test('applies and becomes Established, with its names accepted', async () => {
    await cluster.applyFile(CRD_FILE);
    const crd = await cluster.waitForCondition(crdRef, 'Established');
    expect(crd.status).toMatchObject({
      acceptedNames: { kind: 'SidecarMonitor', shortNames: ['smon'] },
    });
    await cluster.waitForCondition(crdRef, 'NamesAccepted');
  });

  test('the table has both kinds of rows', () => {
    expect(cases.filter((c) => c.valid).length).toBeGreaterThan(0);
    expect(cases.filter((c) => !c.valid).length).toBeGreaterThan(0);
  });

  test.for(cases.filter((c) => c.valid))('accepts $name', async (c) => {
    const created = await cluster.create(c.monitor, { namespace: ns.name });
    expect(created.metadata.uid).toBeTruthy();
    // Defaults come from the schema: what was stored has at least what was sent.
    expect(created.spec).toMatchObject(c.monitor.spec as object);
  });

  test.for(cases.filter((c) => !c.valid))('rejects $name, naming $field', async (c) => {
    const error = await cluster.create(c.monitor, { namespace: ns.name }).then(
      (created) => new Error(`accepted: ${JSON.stringify(created.spec)}`),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KubeApiError);
    const rejection = error as KubeApiError;
    expect({ status: rejection.status, reason: rejection.reason }).toEqual({
      status: 422,
      reason: 'Invalid',
    });
    expect(
      rejection.causes.map((cause) => cause.field),
      rejection.message,
    ).toContain(c.field);
  });
});
