import { describe, expect, it } from 'vitest';
import {
  nativeSidecarSupport,
  parseKubeVersion,
} from '../../../operator/controller/cluster-facts.ts';

describe('parseKubeVersion', () => {
  it.each([
    ['v1.29.3', { major: 1, minor: 29 }],
    ['v1.28.5-eks-5e0fdde', { major: 1, minor: 28 }],
    ['v1.30.2+k3s1', { major: 1, minor: 30 }],
    ['1.31', { major: 1, minor: 31 }],
    ['v1.35.4', { major: 1, minor: 35 }],
    ['', undefined],
    ['fake', undefined],
    ['v1', undefined],
    [undefined, undefined],
  ])('%s', (text, expected) => {
    expect(parseKubeVersion(text)).toEqual(expected);
  });
});

describe('nativeSidecarSupport', () => {
  const server = { major: 1, minor: 35 };
  it('needs every kubelet at 1.29 or newer', () => {
    expect(nativeSidecarSupport(server, ['v1.35.4', 'v1.29.0']).supported).toBe(true);
    const lagging = nativeSidecarSupport(server, ['v1.35.4', 'v1.28.15']);
    expect(lagging).toEqual({
      supported: false,
      reason: '1 node(s) run a kubelet older than 1.29 (e.g. v1.28.15)',
    });
    expect(nativeSidecarSupport(server, [undefined]).supported).toBe(false);
  });

  it('needs the API server at 1.29 or newer; no nodes: the server decides', () => {
    expect(nativeSidecarSupport({ major: 1, minor: 28 }, []).supported).toBe(false);
    expect(nativeSidecarSupport(undefined, []).supported).toBe(false);
    expect(nativeSidecarSupport(server, []).supported).toBe(true);
  });
});
