// Probe header values are checked once, by RFC 9110, wherever they come from: the exporter's
// config, a Secret through the environment, or a container's own httpGet probe.

import { describe, expect, it } from 'vitest';
import { ConfigError, headerValueProblem, parseExporterConfig } from '../../../exporter/config.ts';
import { resolveHeaders } from '../../../exporter/probes/runner.ts';
import { desiredPodTemplate } from '../../../operator/inject/index.ts';
import { deployment, facts, monitor } from '../inject/fixtures.ts';

describe('header values', () => {
  it.each(['', 'Bearer abc', 'a\tb', 'caf\u00e9', '!~'])('%j is a header value', (v) => {
    expect(headerValueProblem(v)).toBeUndefined();
  });

  it.each([
    ['\u000b', 'U+000B at position 0'],
    ['x\u001b', 'U+001B at position 1'],
    ['\u007f', 'U+007F'],
    ['a\u2028', 'U+2028'],
    ['🙂', 'U+1F642'],
    ['a\r\nb', 'U+000D'],
    ['\u0000', 'U+0000'],
    [' a', 'start or end with a space'],
    ['a\t', 'start or end with a space'],
  ])('%j is not', (v, message) => {
    expect(headerValueProblem(v)).toContain(message);
  });

  it('the config, the environment and the operator refuse the same values', () => {
    const probe = (value: string) =>
      JSON.stringify({
        version: 1,
        targets: [],
        probes: [
          {
            type: 'http',
            name: 'h',
            source: 'monitor',
            port: 80,
            intervalSeconds: 10,
            timeoutSeconds: 1,
            headers: [{ name: 'X', value }],
          },
        ],
      });
    expect(() => parseExporterConfig(probe('a\u000bb'))).toThrow(ConfigError);
    expect(() =>
      resolveHeaders(
        parseExporterConfig(probe('ok')).probes.map((p) => ({
          ...p,
          headers: [{ name: 'X', valueFromEnv: 'T' }],
        })),
        {
          T: 'a\u2028',
        },
      ),
    ).toThrow(/value of T: U\+2028/);
    const withHeader = deployment({
      containers: [
        {
          name: 'app',
          image: 'example/app:1',
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: {
            httpGet: {
              path: '/ready',
              port: 8080,
              httpHeaders: [{ name: 'X', value: 'a\u001bb' }],
            },
          },
        },
      ],
    });
    const derived = desiredPodTemplate(withHeader, monitor(), facts());
    if (derived.outcome !== 'Injected') throw new Error(derived.message);
    expect(derived.config.probes).toEqual([]);
    expect(derived.notes.map((n) => n.code)).toContain('ProbeInvalid');
    const explicit = desiredPodTemplate(
      deployment(),
      monitor({
        health: {
          fromProbes: false,
          endpoints: [
            { name: 'e', type: 'HTTP', port: 8080, headers: [{ name: 'X', value: 'a\u007f' }] },
          ],
        },
      }),
      facts(),
    );
    if (explicit.outcome !== 'Injected') throw new Error(explicit.message);
    expect(explicit.config.probes).toEqual([]);
    expect(explicit.notes.find((n) => n.code === 'ProbeInvalid')?.message).toMatch(
      /endpoint "e": header X: U\+007F/,
    );
  });
});
