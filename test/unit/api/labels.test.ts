import { describe, expect, it } from 'vitest';
import { isDnsSubdomain, isLabelKey, isLabelValue } from '../../../operator/api/labels.ts';

describe('label syntax', () => {
  it.each([
    ['app', true],
    ['app.kubernetes.io/name', true],
    ['sidecarmonitor.io/inject', true],
    ['A_b.c-D', true],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    [`${'a.'.repeat(126)}a/x`, true],
    [`${'a.'.repeat(126)}ab/x`, false],
    ['-app', false],
    ['app/', false],
    ['/app', false],
    ['a/b/c', false],
    ['Example.com/x', false],
    ['app name', false],
    ['', false],
  ] as const)('key %j is %s', (key, ok) => {
    expect(isLabelKey(key)).toBe(ok);
  });

  it('checks values and DNS subdomains', () => {
    expect(isLabelValue('')).toBe(true);
    expect(isLabelValue('v1.2_3-x')).toBe(true);
    expect(isLabelValue('web server')).toBe(false);
    expect(isLabelValue('x'.repeat(64))).toBe(false);
    expect(isDnsSubdomain('cert-manager.io')).toBe(true);
    expect(isDnsSubdomain('Cert')).toBe(false);
  });
});
