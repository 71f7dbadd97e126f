import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cpuCores,
  memoryBytes,
  parseQuantity,
  QuantityError,
} from '../../../operator/api/quantity.ts';
import { parseDuration } from '../../../operator/api/duration.ts';

describe('parseQuantity', () => {
  it.each([
    ['250m', 0.25],
    ['1', 1],
    [2, 2],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['100u', 0.0001],
    ['5n', 5e-9],
    ['1k', 1000],
    ['1M', 1e6],
    ['128Mi', 134217728],
    ['1Gi', 1073741824],
    ['2Ei', 2 * 2 ** 60],
    ['1e3', 1000],
    ['1E-3', 0.001],
    ['+7', 7],
    ['0E400', 0],
    ['1.5e3', 1500],
    ['.5e1', 5],
    ['-1Mi', -1048576],
  ] as const)('%s is %d', (input, expected) => {
    expect(parseQuantity(input)).toBe(expected);
  });

  it.each([
    '',
    ' 1',
    '1 ',
    '1mi',
    '1KiB',
    'lots',
    '1.2.3',
    'e3',
    '0x10',
    '1e',
    'Infinity',
    '1e1.5',
  ])('%j is an error', (input) => {
    expect(parseQuantity(input)).toBeInstanceOf(QuantityError);
  });

  it('rejects non-numbers and non-finite numbers', () => {
    expect(parseQuantity(null)).toBeInstanceOf(QuantityError);
    expect(parseQuantity(Number.POSITIVE_INFINITY)).toBeInstanceOf(QuantityError);
    expect(parseQuantity('1e400')).toBeInstanceOf(QuantityError);
  });

  it('returns a number or a QuantityError for any input, never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.anything()), (input) => {
        const v = parseQuantity(input);
        expect(typeof v === 'number' || v instanceof QuantityError).toBe(true);
      }),
    );
  });

  it('agrees with the CRD pattern on what is a quantity', () => {
    const pattern =
      /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;
    const quantityLike = fc.stringMatching(
      /^[+-]?[0-9.]{0,4}(Ki|Mi|[numkMGTPE]|[eE][+-]?[0-9.]{0,3})?$/,
    );
    fc.assert(
      fc.property(quantityLike, (s) => {
        const v = parseQuantity(s);
        const fractionalExponent = /[eE][+-]?[0-9]*\./.test(s);
        // A quantity beyond a double (1E400) is an error, never Infinity.
        const inRange = typeof v === 'number' || /out of range/.test(v.message);
        if (pattern.test(s) && !fractionalExponent) expect(inRange).toBe(true);
        if (!pattern.test(s)) expect(v).toBeInstanceOf(QuantityError);
      }),
    );
  });
});

describe('cpuCores and memoryBytes', () => {
  it('round up as the kubelet does', () => {
    expect(cpuCores('250m')).toBe(0.25);
    expect(cpuCores('1n')).toBe(0.001);
    expect(cpuCores('1500u')).toBe(0.002);
    expect(cpuCores(3)).toBe(3);
    expect(memoryBytes('1.5')).toBe(2);
    expect(memoryBytes('64Mi')).toBe(67108864);
    expect(memoryBytes('1G')).toBe(1e9);
    expect(cpuCores('x')).toBeInstanceOf(QuantityError);
  });
});

describe('parseDuration', () => {
  it.each([
    ['10s', 10],
    ['500ms', 0.5],
    ['1m30s', 90],
    ['1h', 3600],
    ['1h1s', 3601],
    ['0s', 0],
    ['1.5s', 1.5],
  ] as const)('%s is %d seconds', (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  it.each(['', '10', 's', '1d', '1 s', '-1s', '1s ', 'ms'])('%j is not a duration', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});
