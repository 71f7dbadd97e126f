// Golden files: what desiredPodTemplate makes of every real-world workload fixture. They are
// the spec, reviewed by eye: run `UPDATE_GOLDEN=1 npx vitest run --project unit
// test/unit/inject/golden.test.ts` after an intended change and review the diff.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseExporterConfig } from '../../../exporter/config.ts';
import type { SidecarMonitor } from '../../../operator/api/v1alpha1.ts';
import { desiredPodTemplate, type ClusterFacts } from '../../../operator/inject/index.ts';
import { facts, loadFixtures, monitor, PROBE_WORKLOADS_DIR, type Fixture } from './fixtures.ts';

const GOLDEN = join(import.meta.dirname, 'golden');
const update = process.env.UPDATE_GOLDEN === '1';

function render(fixture: Fixture, m: SidecarMonitor, f: ClusterFacts, title: string): string {
  const result = desiredPodTemplate(fixture.workload, m, f);
  const header = `# ${fixture.file}: ${title}\n`;
  if (result.outcome === 'Skipped') {
    const { template, ...rest } = result;
    const changed =
      template !== undefined &&
      JSON.stringify(template) !== JSON.stringify(fixture.workload.spec?.template);
    return (
      header + stringify(changed ? { result: rest, template } : { result: rest }, { lineWidth: 0 })
    );
  }
  const { template, config, hash, nativeSidecar, targets, security, notes } = result;
  const env = [...(template.spec?.containers ?? []), ...(template.spec?.initContainers ?? [])]
    .flatMap((c) => c.env ?? [])
    .find((e) => e.name === 'SIDECAR_MONITOR_CONFIG');
  // The serialised config in the template must be exactly the reported one.
  expect(parseExporterConfig(env?.value ?? '')).toEqual(config);
  return (
    header +
    stringify(
      {
        result: { outcome: result.outcome, hash, nativeSidecar, targets, security, notes, config },
        template,
      },
      { lineWidth: 0 },
    )
  );
}

function check(path: string, actual: string): void {
  if (update || !existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
  }
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

const fixtures = loadFixtures();
const byName = (prefix: string) => fixtures.filter((f) => f.file.startsWith(prefix));

describe('golden: every fixture with the standard monitor', () => {
  it.each(fixtures.map((f) => [f.file, f] as const))('%s', (_name, fixture) => {
    check(
      join(GOLDEN, fixture.file),
      render(
        fixture,
        monitor(),
        facts(),
        'monitor "web" with defaults; regular container, no PodMonitor CRD',
      ),
    );
  });
});

describe('golden: native sidecars', () => {
  const cases = [
    ...byName('istio__daemonset-hello-injected-native-sidecar'),
    ...byName('linkerd2__deployment-web-injected'),
    ...byName('argo-cd__deployment-argocd-redis'),
  ];
  it.each(cases.map((f) => [f.file, f] as const))('%s', (_name, fixture) => {
    check(
      join(GOLDEN, 'native', fixture.file),
      render(
        fixture,
        monitor(),
        facts({ nativeSidecars: true, podMonitors: true }),
        'native sidecars supported, PodMonitor CRD installed',
      ),
    );
  });
});

describe('golden: a monitor using every option', () => {
  const full = monitor({
    targetContainers: ['hello', 'world', 'server', 'missing'],
    health: {
      fromProbes: true,
      endpoints: [
        {
          name: 'ready',
          port: 'http',
          path: '/ready',
          scheme: 'HTTPS',
          insecureSkipVerify: true,
          interval: '30s',
          timeout: '2s',
          headers: [
            { name: 'Accept', value: 'application/json' },
            {
              name: 'Authorization',
              valueFrom: { secretKeyRef: { name: 'probe-token', key: 'header' } },
            },
          ],
        },
        { name: 'db', type: 'TCP', port: 5432, interval: '1m', timeout: '500ms' },
        { name: 'admin', port: 'admin' },
      ],
    },
    exporter: {
      image: 'registry.example.com/sidecar-monitor:v0.1.0',
      port: 9100,
      resources: { requests: { memory: '200Mi' }, limits: { cpu: '1' } },
      nativeSidecar: 'Disabled',
      maxSeries: 300,
    },
    prometheus: { podMonitor: 'Disabled', scrapeAnnotations: 'Enabled' },
  });
  const cases = [
    ...byName('istio__deployment-hello-probes'),
    ...byName('microservices-demo__deployment-frontend'),
  ];
  it.each(cases.map((f) => [f.file, f] as const))('%s', (_name, fixture) => {
    check(
      join(GOLDEN, 'full-monitor', fixture.file),
      render(
        fixture,
        full,
        facts({ nativeSidecars: true, allowedExporterImages: ['registry.example.com/*'] }),
        'a monitor using every option',
      ),
    );
  });
});

describe('golden: probe forms (gRPC, grpc_health_probe, curl, wget), every container a target', () => {
  const cases = loadFixtures(PROBE_WORKLOADS_DIR);
  it.each(cases.map((f) => [f.file, f] as const))('%s', (_name, fixture) => {
    const containers = (fixture.workload.spec?.template?.spec?.containers ?? []).map((c) => c.name);
    check(
      join(GOLDEN, 'probe-forms', fixture.file),
      render(
        fixture,
        monitor({ targetContainers: containers }),
        facts(),
        `monitor "web" targeting ${containers.join(', ')}; regular container`,
      ),
    );
  });
});
