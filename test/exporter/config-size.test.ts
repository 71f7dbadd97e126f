// A monitor whose exporter config cannot fit in one environment string is refused by the
// operator, at the limit the kernel really enforces (checked by exec'ing real processes).

import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CONFIG_ENV, MAX_ENV_STRING_BYTES, configEnvBytes } from '../../exporter/config.ts';
import { desiredPodTemplate } from '../../operator/inject/index.ts';
import { deployment, facts, monitor } from '../unit/inject/fixtures.ts';

/** Exit code of a process started with CONFIG_ENV of `bytes` bytes as one env string, or its exec error. */
function execWithEnvString(bytes: number): Promise<number | string> {
  const value = 'x'.repeat(bytes - `${CONFIG_ENV}=`.length - 1);
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn('/bin/true', [], { env: { [CONFIG_ENV]: value }, stdio: 'ignore' });
    } catch (err) {
      // Node throws exec errors other than a missing or forbidden file at once.
      resolve((err as NodeJS.ErrnoException).code ?? String(err));
      return;
    }
    child.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code ?? err.message);
    });
    child.once('exit', (code) => {
      resolve(code ?? -1);
    });
  });
}

describe('exporter config size', () => {
  it('the kernel starts a process with a config env string of MAX_ENV_STRING_BYTES and not one byte more', async () => {
    expect(await execWithEnvString(MAX_ENV_STRING_BYTES)).toBe(0);
    expect(await execWithEnvString(MAX_ENV_STRING_BYTES + 1)).toBe('E2BIG');
  });

  it('the operator refuses 64 endpoints with long paths (a pod that could never start), with a reason', () => {
    const endpoints = Array.from({ length: 64 }, (_, i) => ({
      name: `endpoint-${i}`,
      type: 'HTTP' as const,
      port: 8080,
      path: `/${String(i).padStart(2, '0')}/${'p'.repeat(2040)}`,
    }));
    const result = desiredPodTemplate(deployment(), monitor({ health: { endpoints } }), facts());
    expect(result.outcome).toBe('Skipped');
    if (result.outcome !== 'Skipped') return;
    expect(result.reason).toBe('ExporterConfigTooLarge');
    expect(result.message).toMatch(
      new RegExp(
        `would take \\d+ bytes in its ${CONFIG_ENV} variable.*over ${MAX_ENV_STRING_BYTES} bytes`,
      ),
    );
    // Left as it is: an earlier injection is not removed by a monitor edit that went too far.
    expect(result.template).toBeUndefined();
  });

  it('the same monitor with shorter paths is injected, and its config env fits', () => {
    const endpoints = Array.from({ length: 64 }, (_, i) => ({
      name: `endpoint-${i}`,
      type: 'HTTP' as const,
      port: 8080,
      path: `/${String(i).padStart(2, '0')}/${'p'.repeat(1500)}`,
    }));
    const result = desiredPodTemplate(deployment(), monitor({ health: { endpoints } }), facts());
    if (result.outcome !== 'Injected') throw new Error(result.message);
    expect(configEnvBytes(JSON.stringify(result.config))).toBeLessThanOrEqual(MAX_ENV_STRING_BYTES);
  });
});
