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
    expect(capSeries(families, 100, ['a'], groupOf)).toEqual({ families, dropped: 0 });
  });

  it('drops whole containers, lowest priority first, and counts their series', () => {
    const build = family(METRICS.buildInfo.name, [{ labels: {}, value: 1 }]);
    const families = [build, containerFamily(['a', 'b', 'c']), processFamily(['a', 'b', 'c'])];
    const { families: kept, dropped } = capSeries(families, 5, ['c', 'a', 'b'], groupOf);
    expect(dropped).toBe(2);
    expect(kept[0]).toBe(build);
    for (const f of kept.slice(1))
      expect(f.values.map((v) => v.labels.container)).toEqual(['a', 'c']);
  });

  it('never splits a fixed family (a histogram stays whole)', () => {
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
    const { families, dropped } = capSeries([hist, containerFamily(['a'])], 3, [], groupOf);
    expect(families.map((f) => [f.name, f.values.length])).toEqual([
      [METRICS.containerMemoryUsageBytes.name, 1],
    ]);
    expect(dropped).toBe(4);
  });

  it('holds the cap whatever the number of containers', () => {
    const names = Array.from({ length: 200 }, (_, i) => `c${i}`);
    const { families, dropped } = capSeries(
      [containerFamily(names), processFamily(names)],
      300,
      [],
      groupOf,
    );
    const total = families.reduce((n, f) => n + f.values.length, 0);
    expect(total).toBe(300);
    expect(dropped).toBe(100);
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
