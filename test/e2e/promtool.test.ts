// Prometheus 3's promtool (built from its module, test/cluster/build-prometheus.sh) on what
// we ship: the rules file and every firing and quiet case of the alert unit tests that
// Debian's Prometheus 2.42 promtool runs in test/unit/alerts/rules.test.ts.
import { describe, expect, it } from 'vitest';
import { RULES_FILE } from '../../charts/sidecar-monitor/dashboards/rules-file.ts';
import { testCluster } from '../cluster/harness.ts';
import { cases, promtoolTest, rules } from '../unit/alerts/cases.ts';
import { promtool, testRules } from '../unit/alerts/promtool.ts';

const stack = testCluster().info.stack;
if (stack === undefined) throw new Error('no Prometheus 3 binaries: run in the e2e project');
const binary = stack.promtool;

describe('promtool of Prometheus 3', () => {
  it('is version 3', () => {
    expect(promtool(['--version'], undefined, binary).output).toMatch(/^promtool, version 3\./);
  });

  it('checks the rules file without warnings', () => {
    const r = promtool(['check', 'rules', RULES_FILE], undefined, binary);
    expect(r.output).toContain(`SUCCESS: ${String(rules.size)} rules found`);
    expect(r.output).not.toMatch(/warn|error/i);
    expect(r.status).toBe(0);
  });

  it.each(cases.map((c) => ({ ...c, title: `${c.alert}: ${c.name}` })))('$title', (c) => {
    const r = testRules(RULES_FILE, promtoolTest(c), binary);
    expect(r.output).toContain('SUCCESS');
    expect(r.status, r.output).toBe(0);
  });
});
