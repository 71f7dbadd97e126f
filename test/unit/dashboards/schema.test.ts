// The shipped dashboards against Grafana's dashboard JSON schema, loosened only where
// Grafana itself is more lenient; the community dashboards beside the schema show each
// loosening point is needed and that together they are enough.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DASHBOARDS } from '../../../charts/sidecar-monitor/dashboards/index.ts';
import {
  describeErrors,
  GRAFANA_FIXTURES,
  LOOSENED,
  loosenDashboardSchema,
  readSchema,
  validator,
  type LooseningPoint,
} from './grafana-schema.ts';
import { panelsOf } from './queries.ts';

const strict = readSchema('dashboard');
const loose = validator(loosenDashboardSchema(strict));

const community = readdirSync(path.join(GRAFANA_FIXTURES, 'dashboards'))
  .filter((f) => f.endsWith('.json'))
  .map((file) => ({
    file,
    json: JSON.parse(
      readFileSync(path.join(GRAFANA_FIXTURES, 'dashboards', file), 'utf8'),
    ) as unknown,
  }));

const ours = DASHBOARDS.map((d) => ({ file: d.file, json: d.build() }));

describe('community dashboards', () => {
  it('are the three real dashboards of the fixtures', () => {
    expect(community.map((d) => d.file).sort()).toEqual([
      'grafana-dashboards-kubernetes__k8s-views-pods.json',
      'kube-prometheus__k8s-resources-pod.json',
      'kube-prometheus__k8s-resources-workload.json',
    ]);
  });

  it.each(community)('$file fails the strict schema', ({ json }) => {
    expect(validator(strict).validate(json).length).toBeGreaterThan(0);
  });

  it.each(community)('$file passes the loosened schema', ({ json }) => {
    expect(describeErrors(loose.validate(json))).toEqual([]);
  });

  // Dropping any one point makes some real dashboard fail again: none is superfluous.
  it.each(LOOSENED.map((point) => ({ point })))(
    'the loosening point $point is needed by a real dashboard',
    ({ point }) => {
      const others = LOOSENED.filter((p): p is LooseningPoint => p !== point);
      const v = validator(loosenDashboardSchema(strict, others));
      const failing = community.filter(({ json }) => v.validate(json).length > 0);
      expect(failing.length).toBeGreaterThan(0);
    },
  );
});

describe('the loosened schema stays strict elsewhere', () => {
  const base = ours[0]!.json;

  it('rejects an unknown top-level property', () => {
    expect(loose.validate({ ...base, colour: 'red' }).length).toBeGreaterThan(0);
  });

  it('rejects a panel with an unknown property', () => {
    const panels = [...(base.panels ?? []), { type: 'timeseries', title: 'x', colour: 'red' }];
    expect(loose.validate({ ...base, panels }).length).toBeGreaterThan(0);
  });

  it('rejects a dashboard without schemaVersion', () => {
    const rest: Record<string, unknown> = { ...base };
    delete rest.schemaVersion;
    expect(loose.validate(rest).length).toBeGreaterThan(0);
  });

  it('rejects a wrongly typed field (gridPos.w as a string)', () => {
    const panels = [{ type: 'stat', gridPos: { x: 0, y: 0, h: 4, w: '6' } }];
    expect(loose.validate({ ...base, panels }).length).toBeGreaterThan(0);
  });
});

describe('shipped dashboards', () => {
  it.each(ours)('$file passes the loosened schema', ({ json }) => {
    expect(describeErrors(loose.validate(json))).toEqual([]);
  });

  // Ours lean on one point only: override values (a dashed line style is an object, but
  // the matcher's regexp is a string, as in every real dashboard).
  it.each(ours)('$file needs no loosening but override values', ({ json }) => {
    const v = validator(loosenDashboardSchema(strict, ['override-values']));
    expect(describeErrors(v.validate(json))).toEqual([]);
  });

  const timeseriesOptions = validator(readSchema('timeseries'), '#/definitions/Options');
  const timeseriesField = validator(readSchema('timeseries'), '#/definitions/FieldConfig');
  it.each(ours)("$file: time series panels' options match the timeseries schema", ({ json }) => {
    const series = panelsOf(json).filter((p) => p.type === 'timeseries');
    expect(series.length).toBeGreaterThan(0);
    for (const p of series) {
      expect(describeErrors(timeseriesOptions.validate(p.options)), p.title).toEqual([]);
      expect(
        describeErrors(timeseriesField.validate(p.fieldConfig?.defaults.custom)),
        p.title,
      ).toEqual([]);
    }
  });
});
