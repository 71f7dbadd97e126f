// The alert rules, checked and unit-tested by the real promtool (Debian's, Prometheus 2.42:
// older servers exist; test/e2e/promtool.test.ts runs the same cases with Prometheus 3's).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ruleGroups } from '../../../charts/sidecar-monitor/dashboards/alert-rules.ts';
import {
  renderRulesFile,
  RULES_FILE,
} from '../../../charts/sidecar-monitor/dashboards/rules-file.ts';
import { cases, promtoolTest, rules } from './cases.ts';
import { promtool, testRules } from './promtool.ts';

describe('the rules file', () => {
  it('is the generator output (run `npm run generate:alerts`)', async () => {
    expect(readFileSync(RULES_FILE, 'utf8')).toBe(await renderRulesFile(ruleGroups()));
  });

  it('passes `promtool check rules` without warnings', () => {
    const r = promtool(['check', 'rules', RULES_FILE]);
    expect(r.output).toContain(`SUCCESS: ${rules.size} rules found`);
    expect(r.output).not.toMatch(/warn|error/i);
    expect(r.status).toBe(0);
  });

  it('has the alerts the issue asks for, all with a severity, summary and description', () => {
    expect([...rules.keys()]).toEqual(
      expect.arrayContaining([
        'SidecarMonitorProbeFailing',
        'SidecarMonitorProbeLatencyHigh',
        'SidecarMonitorCPUThrottlingHigh',
        'SidecarMonitorMemoryNearLimit',
        'SidecarMonitorContainerOOMKilled',
        'SidecarMonitorExporterDown',
        'SidecarMonitorOperatorReconcileErrors',
      ]),
    );
    for (const r of rules.values()) {
      expect(r.annotations.summary.length, r.alert).toBeGreaterThan(10);
      expect(r.annotations.description.length, r.alert).toBeGreaterThan(10);
    }
  });

  it('every alert has a firing case and a quiet case below', () => {
    for (const alert of rules.keys()) {
      const mine = cases.filter((c) => c.alert === alert);
      expect(
        mine.some((c) => c.fires.length > 0),
        `${alert} fires`,
      ).toBe(true);
      expect(
        mine.some((c) => c.fires.length === 0),
        `${alert} stays quiet`,
      ).toBe(true);
    }
  });
});

describe.each([...rules.keys()].map((alert) => ({ alert })))('$alert', ({ alert }) => {
  it.each(cases.filter((c) => c.alert === alert))('$name', (c) => {
    const r = testRules(RULES_FILE, promtoolTest(c));
    expect(r.output).toContain('SUCCESS');
    expect(r.status, r.output).toBe(0);
  });
});
