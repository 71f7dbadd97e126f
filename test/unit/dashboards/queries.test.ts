// The query helpers the Prometheus test relies on: variables are filled in the way Grafana's
// Prometheus data source does it, or the test would run other queries than Grafana.
import { describe, expect, it } from 'vitest';
import {
  interpolate,
  parseLabelValues,
  referencedVariables,
  type Interpolation,
  type Selection,
  type VariableDef,
} from './queries.ts';

const single: VariableDef = { name: 'namespace', type: 'query', multi: false, includeAll: false };
const multi: VariableDef = { name: 'pod', type: 'query', multi: true, includeAll: true };
const withAll: VariableDef = { ...multi, name: 'container', allValue: '.*' };

function ctx(selections: [VariableDef, Selection][]): Interpolation {
  return {
    variables: new Map(selections.map(([def, selection]) => [def.name, { def, selection }])),
    rateInterval: '1m',
    interval: '15s',
    range: '6h',
  };
}

describe('interpolate', () => {
  it("fills Grafana's built-in intervals", () => {
    expect(
      interpolate('rate(x[$__rate_interval]) + increase(x[$__range]) + y[$__interval]', ctx([])),
    ).toBe('rate(x[1m]) + increase(x[6h]) + y[15s]');
  });

  it('puts a single value as it is, in all three syntaxes', () => {
    const c = ctx([[single, { values: ['shop'] }]]);
    expect(interpolate('a{namespace="$namespace", b="${namespace}", c="[[namespace]]"}', c)).toBe(
      'a{namespace="shop", b="shop", c="shop"}',
    );
  });

  it('joins several values of a multi-value variable as an escaped alternation', () => {
    const c = ctx([[multi, { values: ['web-1', 'web.2'] }]]);
    expect(interpolate('a{pod=~"$pod"}', c)).toBe('a{pod=~"(web-1|web\\\\.2)"}');
  });

  it('"All" is every value, or the allValue when the variable has one', () => {
    expect(interpolate('a{pod=~"$pod"}', ctx([[multi, { all: ['x', 'y'] }]]))).toBe(
      'a{pod=~"(x|y)"}',
    );
    expect(interpolate('a{container=~"$container"}', ctx([[withAll, { all: ['app'] }]]))).toBe(
      'a{container=~".*"}',
    );
  });

  it('refuses a variable it does not know', () => {
    expect(() => interpolate('a{x="$nope"}', ctx([]))).toThrow(/unknown variable \$nope/);
  });
});

describe('referencedVariables and parseLabelValues', () => {
  it('lists the variables a query uses, not the built-ins', () => {
    expect(referencedVariables('a{n="$namespace", p=~"${pod}"}[$__rate_interval]').sort()).toEqual([
      'namespace',
      'pod',
    ]);
  });

  it('splits label_values(selector, label)', () => {
    expect(parseLabelValues('label_values(up{job="a, b"}, instance)')).toEqual({
      selector: 'up{job="a, b"}',
      label: 'instance',
    });
    expect(parseLabelValues('query_result(up)')).toBeUndefined();
  });
});
