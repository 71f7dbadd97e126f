import { describe, expect, it } from 'vitest';
import { METRICS, metricByName } from '../../../exporter/metrics/catalog.ts';
import {
  capSeries,
  formatValue,
  renderText,
  type Family,
} from '../../../exporter/scrape/exposition.ts';

const groupOf = (name: string) => metricByName(name)?.group;

function family(name: string, values: Family['values']): Family {
  return { name, help: 'h', type: 'gauge', values };
}

const containerFamily = (containers: string[]) =>
  family(
    METRICS.containerMemoryUsageBytes.name,
    containers.map((c) => ({ labels: { container: c }, value: 1 })),
  );
const processFamily = (containers: string[]) =>
  family(
    METRICS.processThreads.name,
    containers.map((c) => ({ labels: { container: c }, value: 1 })),
  );

describe('series cap', () => {
  it('keeps everything under the limit', () => {
    const families = [containerFamily(['a', 'b']), processFamily(['a', 'b'])];
    expect(capSeries(families, 100, { containers: ['a'], probes: [] }, groupOf)).toEqual({
      families,
      dropped: { series: 0, exporter: [], containers: [], probes: [], runtime: [] },
    });
  });

  it('drops whole containers, lowest priority first, and counts their series', () => {
    const build = family(METRICS.buildInfo.name, [{ labels: {}, value: 1 }]);
    const families = [build, containerFamily(['a', 'b', 'c']), processFamily(['a', 'b', 'c'])];
    const { families: kept, dropped } = capSeries(
      families,
      5,
      { containers: ['c', 'a', 'b'], probes: [] },
      groupOf,
    );
    expect(dropped).toMatchObject({ series: 2, containers: ['b'] });
    expect(kept[0]).toBe(build);
    for (const f of kept.slice(1))
      expect(f.values.map((v) => v.labels.container)).toEqual(['a', 'c']);
  });

  it('keeps or drops a probe whole (its histogram too), after the containers', () => {
    const hist = {
      name: METRICS.probeDurationSeconds.name,
      help: 'h',
      type: 'histogram',
      values: [
        {
          labels: { probe: 'p', le: 0.1 },
          value: 1,
          metricName: `${METRICS.probeDurationSeconds.name}_bucket`,
        },
        {
          labels: { probe: 'p', le: '+Inf' },
          value: 1,
          metricName: `${METRICS.probeDurationSeconds.name}_bucket`,
        },
        {
          labels: { probe: 'p' },
          value: 0.05,
          metricName: `${METRICS.probeDurationSeconds.name}_sum`,
        },
        {
          labels: { probe: 'p' },
          value: 1,
          metricName: `${METRICS.probeDurationSeconds.name}_count`,
        },
      ],
    };
    const { families, dropped } = capSeries(
      [hist, containerFamily(['a'])],
      3,
      { containers: [], probes: ['p'] },
      groupOf,
    );
    expect(families.map((f) => [f.name, f.values.length])).toEqual([
      [METRICS.probeDurationSeconds.name, 0],
      [METRICS.containerMemoryUsageBytes.name, 1],
    ]);
    expect(dropped).toMatchObject({ series: 4, probes: ['p'] });
  });

  it('holds the cap whatever the number of containers', () => {
    const names = Array.from({ length: 200 }, (_, i) => `c${i}`);
    const { families, dropped } = capSeries(
      [containerFamily(names), processFamily(names)],
      300,
      { containers: [], probes: [] },
      groupOf,
    );
    const total = families.reduce((n, f) => n + f.values.length, 0);
    expect(total).toBe(300);
    expect(dropped.series).toBe(100);
  });

  it('priority: essential exporter families, then containers, then probes in config order, runtime last', () => {
    const probe = (name: string) =>
      family(METRICS.probeSuccess.name, [{ labels: { probe: name }, value: 1 }]);
    const probeStatus = (name: string) =>
      family(METRICS.probeStatusCode.name, [{ labels: { probe: name }, value: 200 }]);
    const families = [
      family(METRICS.runtimeProcessOpenFds.name, [{ labels: {}, value: 9 }]),
      probe('p2'),
      probe('p1'),
      probeStatus('p2'),
      probeStatus('p1'),
      containerFamily(['app']),
      processFamily(['app']),
      family(METRICS.buildInfo.name, [{ labels: {}, value: 1 }]),
    ];
    const { families: kept, dropped } = capSeries(
      families,
      5,
      { containers: ['app'], probes: ['p1', 'p2'] },
      groupOf,
    );
    const names = kept.flatMap((f) => f.values.map((v) => `${f.name}${JSON.stringify(v.labels)}`));
    expect(names).toEqual([
      `${METRICS.probeSuccess.name}{"probe":"p1"}`,
      `${METRICS.probeStatusCode.name}{"probe":"p1"}`,
      `${METRICS.containerMemoryUsageBytes.name}{"container":"app"}`,
      `${METRICS.processThreads.name}{"container":"app"}`,
      `${METRICS.buildInfo.name}{}`,
    ]);
    expect(dropped).toEqual({
      series: 3,
      exporter: [],
      containers: [],
      probes: ['p2'],
      runtime: [METRICS.runtimeProcessOpenFds.name],
    });
  });
});

describe('text format', () => {
  it('renders HELP, TYPE and samples with escaped labels and special values', () => {
    const text = renderText([
      {
        name: 'm',
        help: 'a\\b\nc',
        type: 'gauge',
        values: [
          { labels: { l: 'x"y\\z\nw' }, value: Infinity },
          { labels: {}, value: NaN },
          { labels: { skip: undefined, n: 2 }, value: -Infinity },
        ],
      },
    ]);
    expect(text).toBe(
      [
        '# HELP m a\\\\b\\nc',
        '# TYPE m gauge',
        'm{l="x\\"y\\\\z\\nw"} +Inf',
        'm NaN',
        'm{n="2"} -Inf',
        '',
      ].join('\n'),
    );
    expect(formatValue(0.1)).toBe('0.1');
    expect(formatValue(1e21)).toBe('1e+21');
  });
});
