import { describe, expect, it } from 'vitest';
import { parseExporterConfig, type HttpProbe } from '../../../exporter/config.ts';
import {
  applyConfiguration,
  currentInjection,
  desiredPodTemplate,
  removeInjection,
  type Container,
  type InjectionResult,
  type Injected,
  type Skipped,
  type Workload,
} from '../../../operator/inject/index.ts';
import { deployment, facts, IMAGE, monitor } from './fixtures.ts';

function injected(result: InjectionResult): Injected {
  if (result.outcome !== 'Injected')
    throw new Error(`skipped: ${result.reason}: ${result.message}`);
  return result;
}

function skipped(result: InjectionResult): Skipped {
  if (result.outcome !== 'Skipped') throw new Error('injected');
  return result;
}

function exporterOf(result: Injected): Container {
  const spec = result.template.spec!;
  const all = [...spec.containers, ...(spec.initContainers ?? [])];
  return all.find((c) => c.name === 'sidecar-monitor-exporter')!;
}

function withTemplate(w: Workload, template: unknown): Workload {
  const copy = structuredClone(w);
  copy.spec!.template = structuredClone(template) as never;
  return copy;
}

describe('desiredPodTemplate', () => {
  it('injects a hardened exporter whose config the exporter parses back', () => {
    const result = injected(desiredPodTemplate(deployment(), monitor(), facts()));
    const exporter = exporterOf(result);
    const configEnv = exporter.env?.find((e) => e.name === 'SIDECAR_MONITOR_CONFIG')?.value ?? '';
    expect(parseExporterConfig(configEnv)).toEqual(result.config);
    expect(result.config.workload).toEqual({
      kind: 'Deployment',
      namespace: 'shop',
      name: 'web',
      monitor: 'web',
    });
    expect(exporter.image).toBe(IMAGE);
    expect(exporter.readinessProbe).toBeUndefined();
    expect(exporter.startupProbe).toBeUndefined();
    expect(exporter.livenessProbe).toBeDefined();
    expect(exporter.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      privileged: false,
      seccompProfile: { type: 'RuntimeDefault' },
      capabilities: { drop: ['ALL'] },
    });
    expect(exporter.resources).toEqual({
      requests: { cpu: '10m', memory: '80Mi' },
      limits: { cpu: '500m', memory: '128Mi' },
    });
    expect(exporter.volumeMounts).toEqual([
      {
        name: 'sidecar-monitor-no-token',
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        readOnly: true,
      },
    ]);
    expect(result.template.spec?.volumes).toEqual([
      { name: 'sidecar-monitor-no-token', emptyDir: {} },
    ]);
    expect(result.template.spec?.shareProcessNamespace).toBe(true);
    expect(result.template.spec?.containers[0]?.env).toEqual([
      { name: 'SIDECAR_MONITOR_CONTAINER', value: 'app' },
    ]);
    expect(result.template.metadata?.labels?.['sidecarmonitor.io/monitor']).toBe('web');
    expect(result.template.metadata?.annotations?.['sidecarmonitor.io/injection-hash']).toBe(
      result.hash,
    );
  });

  it('takes the namespace from the monitor when the manifest has none, else default', () => {
    const w = deployment();
    delete w.metadata!.namespace;
    const m = monitor();
    expect(injected(desiredPodTemplate(w, m, facts())).config.workload?.namespace).toBe('default');
    m.metadata!.namespace = 'team-a';
    expect(injected(desiredPodTemplate(w, m, facts())).config.workload?.namespace).toBe('team-a');
  });

  describe('skips, with a machine-readable reason', () => {
    it.each([
      ['batch/v1', 'Job'],
      ['batch/v1', 'CronJob'],
      ['apps/v1beta2', 'Deployment'],
      ['v1', 'Pod'],
    ])('%s %s: UnsupportedKind, leaving it alone', (apiVersion, kind) => {
      const w = { ...deployment(), apiVersion, kind };
      const result = skipped(desiredPodTemplate(w, monitor(), facts()));
      expect(result.reason).toBe('UnsupportedKind');
      expect(result.template).toBeUndefined();
    });

    it('a workload without containers: InvalidWorkload', () => {
      const result = skipped(
        desiredPodTemplate(deployment({ containers: [] }), monitor(), facts()),
      );
      expect(result.reason).toBe('InvalidWorkload');
    });

    it('a container name the exporter config cannot carry: InvalidWorkload, not a throw', () => {
      const w = deployment({ containers: [{ name: 'App_1', image: 'x' }] });
      const result = skipped(desiredPodTemplate(w, monitor(), facts()));
      expect(result.reason).toBe('InvalidWorkload');
      expect(result.message).toMatch(/targets\[0\]\.name/);
    });

    it('an invalid monitor: InvalidMonitor naming the field, existing injection kept', () => {
      const first = injected(desiredPodTemplate(deployment(), monitor(), facts()));
      const w = withTemplate(deployment(), first.template);
      const result = skipped(desiredPodTemplate(w, monitor({ selector: {} }), facts()));
      expect(result.reason).toBe('InvalidMonitor');
      expect(result.message).toMatch(/^spec\.selector: must not be empty/);
      expect(result.template).toBeUndefined();
      const unnamed = monitor();
      delete unnamed.metadata!.name;
      expect(skipped(desiredPodTemplate(deployment(), unnamed, facts())).reason).toBe(
        'InvalidMonitor',
      );
    });

    it.each([
      [
        'the workload',
        (w: Workload) => (w.metadata!.labels!['sidecarmonitor.io/inject'] = 'false'),
      ],
      [
        'the pod template',
        (w: Workload) =>
          (w.spec!.template!.metadata!.labels!['sidecarmonitor.io/inject'] = 'false'),
      ],
    ])('opted out on %s: OptedOut, and an existing injection is removed', (_where, optOut) => {
      const original = deployment();
      const first = injected(desiredPodTemplate(original, monitor(), facts()));
      const w = withTemplate(original, first.template);
      optOut(w);
      const expected = structuredClone(w.spec!.template!);
      const result = skipped(desiredPodTemplate(w, monitor(), facts()));
      expect(result.reason).toBe('OptedOut');
      expect(result.template).toEqual(removeInjection(expected));
      expect(result.template?.spec).toEqual(original.spec!.template!.spec);
    });

    it('a container named like ours that we did not inject: ContainerNameTaken, untouched', () => {
      const containers = [
        { name: 'app', image: 'x' },
        { name: 'sidecar-monitor-exporter', image: 'someone/else' },
      ];
      const w = deployment({ containers });
      const result = skipped(desiredPodTemplate(w, monitor(), facts()));
      expect(result.reason).toBe('ContainerNameTaken');
      expect(result.template).toEqual(w.spec!.template);
      const init = deployment({ initContainers: [{ name: 'sidecar-monitor-exporter' }] });
      expect(skipped(desiredPodTemplate(init, monitor(), facts())).reason).toBe(
        'ContainerNameTaken',
      );
    });

    it('our volume name taken: VolumeNameTaken; our env var set by the app: EnvVarTaken', () => {
      const volume = deployment({ volumes: [{ name: 'sidecar-monitor-no-token', emptyDir: {} }] });
      expect(skipped(desiredPodTemplate(volume, monitor(), facts())).reason).toBe(
        'VolumeNameTaken',
      );
      const env = deployment({
        containers: [{ name: 'app', env: [{ name: 'SIDECAR_MONITOR_CONTAINER', value: 'x' }] }],
      });
      expect(skipped(desiredPodTemplate(env, monitor(), facts())).reason).toBe('EnvVarTaken');
    });

    it('no target: NoTargetContainer (explicit names missing, or only mesh proxies)', () => {
      const m = monitor({ targetContainers: ['worker'] });
      const result = skipped(desiredPodTemplate(deployment(), m, facts()));
      expect(result.reason).toBe('NoTargetContainer');
      const mesh = deployment({ containers: [{ name: 'istio-proxy' }, { name: 'linkerd-proxy' }] });
      expect(skipped(desiredPodTemplate(mesh, monitor(), facts())).reason).toBe(
        'NoTargetContainer',
      );
    });

    it('an image the operator does not allow: ImageNotAllowed', () => {
      const m = monitor({ exporter: { image: 'evil.example.com/miner:1' } });
      const f = facts({ allowedExporterImages: ['ghcr.io/acme/*'] });
      expect(skipped(desiredPodTemplate(deployment(), m, f)).reason).toBe('ImageNotAllowed');
      const ok = monitor({ exporter: { image: 'ghcr.io/acme/exporter:2' } });
      expect(exporterOf(injected(desiredPodTemplate(deployment(), ok, f))).image).toBe(
        'ghcr.io/acme/exporter:2',
      );
      // The operator's own image is always allowed.
      const own = monitor({ exporter: { image: IMAGE } });
      expect(desiredPodTemplate(deployment(), own, f).outcome).toBe('Injected');
    });

    it('hostPID: HostPID; explicit shareProcessNamespace false: ProcessNamespaceSharingDisabled', () => {
      expect(
        skipped(desiredPodTemplate(deployment({ hostPID: true }), monitor(), facts())).reason,
      ).toBe('HostPID');
      const off = deployment({ shareProcessNamespace: false });
      expect(skipped(desiredPodTemplate(off, monitor(), facts())).reason).toBe(
        'ProcessNamespaceSharingDisabled',
      );
    });

    it.each([[{ os: { name: 'windows' } }], [{ nodeSelector: { 'kubernetes.io/os': 'windows' } }]])(
      'a Windows pod %j: UnsupportedOS',
      (spec) => {
        expect(skipped(desiredPodTemplate(deployment(spec), monitor(), facts())).reason).toBe(
          'UnsupportedOS',
        );
      },
    );

    it.each([
      ['a declared port', { containers: [{ name: 'app', ports: [{ containerPort: 9477 }] }] }],
      [
        'our port name',
        { containers: [{ name: 'app', ports: [{ name: 'smon-metrics', containerPort: 1 }] }] },
      ],
      [
        'a probe port',
        { containers: [{ name: 'app', livenessProbe: { tcpSocket: { port: 9477 } } }] },
      ],
    ])('the exporter port used by %s: PortClash', (_what, spec) => {
      expect(skipped(desiredPodTemplate(deployment(spec), monitor(), facts())).reason).toBe(
        'PortClash',
      );
    });

    it('hostNetwork: HostNetworkPortClash on a clash, else injected with a note', () => {
      const clash = deployment({
        hostNetwork: true,
        containers: [{ name: 'app', ports: [{ containerPort: 80, hostPort: 9477 }] }],
      });
      expect(skipped(desiredPodTemplate(clash, monitor(), facts())).reason).toBe(
        'HostNetworkPortClash',
      );
      const free = injected(
        desiredPodTemplate(deployment({ hostNetwork: true }), monitor(), facts()),
      );
      expect(free.notes.map((n) => n.code)).toContain('HostNetwork');
      // A hostPort elsewhere does not bind the pod's own network namespace.
      const other = deployment({
        containers: [{ name: 'app', ports: [{ containerPort: 80, hostPort: 9477 }] }],
      });
      expect(desiredPodTemplate(other, monitor(), facts()).outcome).toBe('Injected');
    });
  });

  it('keeps an explicit shareProcessNamespace: true as the app owner set it', () => {
    const w = deployment({ shareProcessNamespace: true });
    const result = injected(desiredPodTemplate(w, monitor(), facts()));
    expect(
      result.template.metadata?.annotations?.['sidecarmonitor.io/injection-created'],
    ).not.toMatch(/shareProcessNamespace/);
    expect(removeInjection(result.template).spec?.shareProcessNamespace).toBe(true);
  });

  describe('targets', () => {
    it('the default-container annotation, else the first container that is not a mesh proxy', () => {
      const containers = [{ name: 'istio-proxy' }, { name: 'app' }, { name: 'worker' }];
      expect(
        injected(desiredPodTemplate(deployment({ containers }), monitor(), facts())).targets,
      ).toEqual(['app']);
      const annotated = deployment(
        { containers },
        {
          labels: { app: 'web' },
          annotations: { 'kubectl.kubernetes.io/default-container': 'worker' },
        },
      );
      expect(injected(desiredPodTemplate(annotated, monitor(), facts())).targets).toEqual([
        'worker',
      ]);
      const mesh = deployment(
        { containers },
        {
          labels: { app: 'web' },
          annotations: { 'kubectl.kubernetes.io/default-container': 'istio-proxy' },
        },
      );
      expect(injected(desiredPodTemplate(mesh, monitor(), facts())).targets).toEqual(['app']);
    });

    it('explicit targets, native sidecars of the app included, each with its resources', () => {
      const w = deployment({
        containers: [
          {
            name: 'app',
            resources: { requests: { cpu: '250m', memory: '128Mi' }, limits: { memory: '1Gi' } },
          },
          { name: 'worker' },
        ],
        initContainers: [
          { name: 'setup' },
          { name: 'log-shipper', restartPolicy: 'Always', resources: { limits: { cpu: 1 } } },
        ],
      });
      const m = monitor({ targetContainers: ['log-shipper', 'app', 'setup'] });
      const result = injected(desiredPodTemplate(w, m, facts()));
      expect(result.targets).toEqual(['log-shipper', 'app']);
      expect(result.notes).toEqual([
        { code: 'TargetNotFound', message: 'no container named "setup"' },
      ]);
      expect(result.config.targets).toEqual([
        { name: 'log-shipper', limits: { cpuCores: 1 } },
        {
          name: 'app',
          requests: { cpuCores: 0.25, memoryBytes: 134217728 },
          limits: { memoryBytes: 1073741824 },
        },
      ]);
      const shipper = result.template.spec?.initContainers?.find((c) => c.name === 'log-shipper');
      expect(shipper?.env).toEqual([{ name: 'SIDECAR_MONITOR_CONTAINER', value: 'log-shipper' }]);
    });
  });

  describe('security: never more privilege than the app', () => {
    const sc = (securityContext: object) => ({ name: 'app', securityContext });

    it('mirrors uid and gid, container level over pod level', () => {
      const w = deployment({
        securityContext: { runAsUser: 1000, runAsGroup: 1000 },
        containers: [sc({ runAsUser: 2000 })],
      });
      const result = injected(desiredPodTemplate(w, monitor(), facts()));
      expect(result.security).toEqual({ mode: 'mirrored', runAsUser: 2000, runAsGroup: 1000 });
      expect(exporterOf(result).securityContext).toMatchObject({
        runAsUser: 2000,
        runAsGroup: 1000,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
    });

    it.each([
      ['uid unknown', { containers: [sc({ runAsGroup: 1 })] }, 'uid-unknown'],
      ['gid unknown', { securityContext: { runAsUser: 1 } }, 'uid-unknown'],
      [
        'targets disagree',
        {
          securityContext: { runAsUser: 1, runAsGroup: 1 },
          containers: [{ name: 'app' }, { name: 'b', securityContext: { runAsGroup: 2 } }],
        },
        'uid-mismatch',
      ],
      [
        'privileged',
        { containers: [sc({ runAsUser: 0, runAsGroup: 0, privileged: true })] },
        'target-privileged',
      ],
      [
        'CAP_SYS_ADMIN',
        { containers: [sc({ runAsUser: 0, runAsGroup: 0, capabilities: { add: ['SYS_ADMIN'] } })] },
        'target-privileged',
      ],
      [
        'root targets with different capabilities',
        {
          securityContext: { runAsUser: 0, runAsGroup: 0 },
          containers: [
            { name: 'app', securityContext: { capabilities: { add: ['NET_ADMIN'] } } },
            { name: 'b' },
          ],
        },
        'capabilities-mismatch',
      ],
    ])('%s: non-root fallback with reason', (_what, spec, reason) => {
      const m = monitor({ targetContainers: ['app', 'b'] });
      const result = injected(desiredPodTemplate(deployment(spec), m, facts()));
      expect(result.security).toMatchObject({
        mode: 'fallback',
        runAsUser: 65532,
        runAsGroup: 65532,
        reason,
      });
      expect(result.security.message).toMatch(/runAsUser|privileged|capabilities|users/);
      expect(exporterOf(result).securityContext).toMatchObject({
        runAsUser: 65532,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
    });

    it('a root app: root with exactly the app capability set, or the runtime default like the app', () => {
      const caps = { add: ['NET_ADMIN'], drop: ['MKNOD'] };
      const w = deployment({
        containers: [sc({ runAsUser: 0, runAsGroup: 0, capabilities: caps })],
      });
      const ctx = exporterOf(injected(desiredPodTemplate(w, monitor(), facts()))).securityContext;
      expect(ctx).toMatchObject({
        runAsUser: 0,
        runAsGroup: 0,
        runAsNonRoot: false,
        capabilities: caps,
      });
      expect(ctx).toMatchObject({ allowPrivilegeEscalation: false, privileged: false });
      const plain = deployment({ securityContext: { runAsUser: 0, runAsGroup: 0 } });
      const plainCtx = exporterOf(
        injected(desiredPodTemplate(plain, monitor(), facts())),
      ).securityContext;
      expect(plainCtx?.capabilities).toBeUndefined();
    });
  });

  describe('probes', () => {
    function probesOf(container: Record<string, unknown>, m = monitor()) {
      const w = deployment({
        containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }], ...container }],
      });
      return injected(desiredPodTemplate(w, m, facts()));
    }

    it('httpGet with named ports resolved, HTTPS without verification like the kubelet, headers kept', () => {
      const result = probesOf({
        readinessProbe: {
          httpGet: {
            port: 'http',
            path: 'ready',
            scheme: 'HTTPS',
            httpHeaders: [{ name: 'Host', value: 'app.local' }],
          },
          periodSeconds: 20,
          timeoutSeconds: 3,
        },
      });
      expect(result.config.probes).toEqual([
        {
          type: 'http',
          name: 'app-readiness',
          container: 'app',
          source: 'readinessProbe',
          port: 8080,
          path: '/ready',
          scheme: 'HTTPS',
          headers: [{ name: 'Host', value: 'app.local' }],
          insecureSkipVerify: true,
          intervalSeconds: 20,
          timeoutSeconds: 3,
        },
      ]);
    });

    it('tcpSocket probes; identical probes once; at most every 5 s; timeout within the interval', () => {
      const result = probesOf({
        readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1, timeoutSeconds: 10 },
        livenessProbe: { tcpSocket: { port: 8080 } },
        startupProbe: { httpGet: { port: 8080, host: 'localhost' }, timeoutSeconds: 30 },
      });
      expect(result.config.probes).toEqual([
        {
          type: 'tcp',
          name: 'app-readiness',
          container: 'app',
          source: 'readinessProbe',
          port: 8080,
          intervalSeconds: 5,
          timeoutSeconds: 5,
        },
        {
          type: 'http',
          name: 'app-startup',
          container: 'app',
          source: 'startupProbe',
          port: 8080,
          path: '/',
          scheme: 'HTTP',
          headers: [],
          insecureSkipVerify: false,
          intervalSeconds: 10,
          timeoutSeconds: 10,
        },
      ]);
    });

    it('reports unrecognised exec, other hosts and unknown port names instead of probing them', () => {
      const result = probesOf({
        readinessProbe: { exec: { command: ['/bin/check.sh'] } },
        livenessProbe: { httpGet: { port: 8080, host: '10.0.0.7' } },
        startupProbe: { httpGet: { port: 'metrics' } },
      });
      expect(result.config.probes).toEqual([]);
      expect(result.notes.map((n) => n.code)).toEqual([
        'ProbeNotSupported',
        'ProbeHostNotLoopback',
        'ProbePortNotFound',
      ]);
      expect(result.notes[0]?.message).toBe(
        'readinessProbe of container "app": exec probes are not probed unless recognised (grpc_health_probe, curl, wget): program "check.sh"',
      );
      const remote = probesOf({
        livenessProbe: { exec: { command: ['curl', '-f', 'http://db.shop.svc:8080/health'] } },
        readinessProbe: { exec: { command: ['grpc_health_probe', '-addr=10.0.0.7:9000'] } },
      });
      expect(remote.config.probes).toEqual([]);
      expect(remote.notes.map((n) => n.code)).toEqual([
        'ProbeHostNotLoopback',
        'ProbeHostNotLoopback',
      ]);
    });

    it('grpc probes: the same port and service, in plaintext like the kubelet', () => {
      const result = probesOf({
        readinessProbe: { grpc: { port: 9555, service: 'shop.Cart' }, periodSeconds: 15 },
        livenessProbe: { grpc: { port: 9555 } },
      });
      const common = {
        type: 'grpc',
        container: 'app',
        port: 9555,
        tls: false,
        insecureSkipVerify: false,
      };
      expect(result.config.probes).toEqual([
        {
          ...common,
          name: 'app-readiness',
          source: 'readinessProbe',
          service: 'shop.Cart',
          intervalSeconds: 15,
          timeoutSeconds: 1,
        },
        {
          ...common,
          name: 'app-liveness',
          source: 'livenessProbe',
          service: '',
          intervalSeconds: 10,
          timeoutSeconds: 1,
        },
      ]);
      expect(result.notes).toEqual([]);
      const bad = probesOf({ readinessProbe: { grpc: { port: 9555, service: 'has space' } } });
      expect(bad.notes.map((n) => n.code)).toEqual(['ProbeInvalid']);
      const noPort = probesOf({ readinessProbe: { grpc: {} } });
      expect(noPort.notes.map((n) => n.code)).toEqual(['ProbePortNotFound']);
    });

    it('recognised exec probes become the equivalent loopback probe, with the probe timing', () => {
      const result = probesOf({
        readinessProbe: {
          exec: {
            command: [
              '/bin/grpc_health_probe',
              '-addr=:9555',
              '-service=shop.Cart',
              '-tls',
              '-tls-no-verify',
            ],
          },
          periodSeconds: 20,
          timeoutSeconds: 3,
        },
        livenessProbe: {
          exec: {
            command: ['curl', '-fsS', '-H', 'Accept: text/plain', 'http://localhost:8080/healthz'],
          },
        },
        startupProbe: {
          exec: { command: ['sh', '-c', 'wget -q -O- http://127.0.0.1:8081/ready || exit 1'] },
        },
      });
      expect(result.notes).toEqual([]);
      expect(result.config.probes).toEqual([
        {
          type: 'grpc',
          name: 'app-readiness',
          container: 'app',
          source: 'readinessProbe',
          port: 9555,
          service: 'shop.Cart',
          tls: true,
          insecureSkipVerify: true,
          intervalSeconds: 20,
          timeoutSeconds: 3,
        },
        {
          type: 'http',
          name: 'app-liveness',
          container: 'app',
          source: 'livenessProbe',
          port: 8080,
          path: '/healthz',
          scheme: 'HTTP',
          headers: [{ name: 'Accept', value: 'text/plain' }],
          insecureSkipVerify: false,
          intervalSeconds: 10,
          timeoutSeconds: 1,
        },
        {
          type: 'http',
          name: 'app-startup',
          container: 'app',
          source: 'startupProbe',
          port: 8081,
          path: '/ready',
          scheme: 'HTTP',
          headers: [],
          insecureSkipVerify: false,
          intervalSeconds: 10,
          timeoutSeconds: 1,
        },
      ]);
    });

    it('GRPC monitor endpoints: port by name, service and TLS as asked', () => {
      const m = monitor({
        health: {
          fromProbes: false,
          endpoints: [
            {
              name: 'cart',
              type: 'GRPC',
              port: 'http',
              service: 'shop.Cart',
              tls: true,
              interval: '30s',
              timeout: '2s',
            },
            { name: 'plain', type: 'GRPC', port: 9000, interval: '10s', timeout: '1s' },
          ],
        },
      });
      expect(probesOf({}, m).config.probes).toEqual([
        {
          type: 'grpc',
          name: 'cart',
          source: 'monitor',
          port: 8080,
          service: 'shop.Cart',
          tls: true,
          insecureSkipVerify: false,
          intervalSeconds: 30,
          timeoutSeconds: 2,
        },
        {
          type: 'grpc',
          name: 'plain',
          source: 'monitor',
          port: 9000,
          service: '',
          tls: false,
          insecureSkipVerify: false,
          intervalSeconds: 10,
          timeoutSeconds: 1,
        },
      ]);
    });

    it('monitor endpoints: ports by name, secrets by env, derived names never collide', () => {
      const m = monitor({
        health: {
          fromProbes: true,
          endpoints: [
            {
              name: 'app-readiness',
              port: 'http',
              path: '/deep',
              headers: [{ name: 'X-Token', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }],
            },
          ],
        },
      });
      const result = probesOf({ readinessProbe: { httpGet: { port: 8080, path: '/ready' } } }, m);
      expect(result.config.probes.map((p) => p.name)).toEqual(['app-readiness-2', 'app-readiness']);
      const endpoint = result.config.probes[1] as HttpProbe;
      expect(endpoint).toMatchObject({
        source: 'monitor',
        port: 8080,
        path: '/deep',
        intervalSeconds: 10,
        timeoutSeconds: 1,
      });
      expect(endpoint.headers).toEqual([
        { name: 'X-Token', valueFromEnv: 'SIDECAR_MONITOR_HEADER_0_0' },
      ]);
      expect(exporterOf(result).env).toContainEqual({
        name: 'SIDECAR_MONITOR_HEADER_0_0',
        valueFrom: { secretKeyRef: { name: 's', key: 'k', optional: true } },
      });
    });

    it('fromProbes: false probes only the monitor endpoints', () => {
      const m = monitor({
        health: { fromProbes: false, endpoints: [{ name: 'tcp', type: 'TCP', port: 5432 }] },
      });
      const result = probesOf({ readinessProbe: { httpGet: { port: 8080 } } }, m);
      expect(result.config.probes).toEqual([
        {
          type: 'tcp',
          name: 'tcp',
          source: 'monitor',
          port: 5432,
          intervalSeconds: 10,
          timeoutSeconds: 1,
        },
      ]);
    });
  });

  describe('native sidecar', () => {
    it.each([
      ['Auto', true, true],
      ['Auto', false, false],
      ['Enabled', false, true],
      ['Disabled', true, false],
    ] as const)('%s with native support %s: native %s', (mode, supported, native) => {
      const w = deployment({ initContainers: [{ name: 'migrate' }] });
      const result = injected(
        desiredPodTemplate(
          w,
          monitor({ exporter: { nativeSidecar: mode } }),
          facts({ nativeSidecars: supported }),
        ),
      );
      expect(result.nativeSidecar).toBe(native);
      const spec = result.template.spec!;
      if (native) {
        expect(spec.initContainers?.map((c) => c.name)).toEqual([
          'migrate',
          'sidecar-monitor-exporter',
        ]);
        expect(spec.initContainers?.[1]?.restartPolicy).toBe('Always');
        expect(spec.containers.map((c) => c.name)).toEqual(['app']);
      } else {
        expect(spec.containers.map((c) => c.name)).toEqual(['app', 'sidecar-monitor-exporter']);
        expect(exporterOf(result).restartPolicy).toBeUndefined();
      }
      expect(currentInjection(result.template)).toEqual({
        monitor: 'web',
        hash: result.hash,
        nativeSidecar: native,
      });
    });
  });

  describe('scrape annotations', () => {
    it.each([
      ['Auto', 'Auto', false, true],
      ['Auto', 'Auto', true, false],
      ['Disabled', 'Auto', true, true],
      ['Auto', 'Enabled', true, true],
      ['Auto', 'Disabled', false, false],
    ] as const)(
      'podMonitor %s, scrapeAnnotations %s, PodMonitor CRD %s: set %s',
      (podMonitor, scrape, crd, set) => {
        const m = monitor({ prometheus: { podMonitor, scrapeAnnotations: scrape } });
        const annotations = injected(
          desiredPodTemplate(deployment(), m, facts({ podMonitors: crd })),
        ).template.metadata?.annotations;
        if (set) {
          expect(annotations).toMatchObject({
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': '9477',
            'prometheus.io/path': '/metrics',
          });
        } else {
          expect(annotations?.['prometheus.io/scrape']).toBeUndefined();
        }
      },
    );

    it('never overwrites the app own prometheus.io annotations, and says so', () => {
      const w = deployment(
        {},
        { labels: { app: 'web' }, annotations: { 'prometheus.io/port': '8080' } },
      );
      const result = injected(desiredPodTemplate(w, monitor(), facts()));
      expect(result.template.metadata?.annotations).toMatchObject({ 'prometheus.io/port': '8080' });
      expect(result.template.metadata?.annotations?.['prometheus.io/scrape']).toBeUndefined();
      expect(result.notes.map((n) => n.code)).toContain('ScrapeAnnotationsTaken');
      expect(removeInjection(result.template).metadata?.annotations).toEqual({
        'prometheus.io/port': '8080',
      });
    });
  });

  describe('resources', () => {
    it('the monitor over the defaults; a request above a default limit raises the limit', () => {
      const m = monitor({
        exporter: { resources: { requests: { memory: '256Mi' }, limits: { cpu: '5m' } } },
      });
      const result = injected(desiredPodTemplate(deployment(), m, facts()));
      expect(exporterOf(result).resources).toEqual({
        requests: { cpu: '5m', memory: '256Mi' },
        limits: { cpu: '5m', memory: '256Mi' },
      });
      expect(result.notes.filter((n) => n.code === 'ResourcesAdjusted')).toHaveLength(2);
    });
  });

  describe('the hash', () => {
    it('changes with what is injected, not with the app own fields', () => {
      const base = injected(desiredPodTemplate(deployment(), monitor(), facts()));
      const w = deployment();
      w.spec!.template!.spec!.containers[0]!.image = 'example/app:2';
      w.spec!.replicas = 9;
      expect(injected(desiredPodTemplate(w, monitor(), facts())).hash).toBe(base.hash);
      const port = monitor({ exporter: { port: 9100 } });
      expect(injected(desiredPodTemplate(deployment(), port, facts())).hash).not.toBe(base.hash);
      const image = facts({
        defaultExporterImage: 'ghcr.io/sidecar-monitor/sidecar-monitor:v0.2.0',
      });
      expect(injected(desiredPodTemplate(deployment(), monitor(), image)).hash).not.toBe(base.hash);
    });
  });
});

describe('applyConfiguration', () => {
  it('holds only the owned fields, list items by merge key', () => {
    const w = deployment({ initContainers: [{ name: 'migrate', image: 'x' }] });
    const result = injected(desiredPodTemplate(w, monitor(), facts()));
    const config = applyConfiguration(w, result);
    expect(config?.apiVersion).toBe('apps/v1');
    expect(config?.kind).toBe('Deployment');
    expect(config?.metadata).toEqual({ name: 'web', namespace: 'shop' });
    const template = config?.spec?.template;
    expect(Object.keys(template?.spec ?? {}).sort()).toEqual([
      'containers',
      'shareProcessNamespace',
      'volumes',
    ]);
    expect(template?.spec?.containers[0]).toEqual({
      name: 'app',
      env: [{ name: 'SIDECAR_MONITOR_CONTAINER', value: 'app' }],
    });
    expect(template?.spec?.containers[1]?.name).toBe('sidecar-monitor-exporter');
    expect(template?.metadata?.labels).toEqual({ 'sidecarmonitor.io/monitor': 'web' });
    expect(Object.keys(template?.metadata?.annotations ?? {})).toEqual([
      'prometheus.io/scrape',
      'prometheus.io/port',
      'prometheus.io/path',
      'sidecarmonitor.io/injection-hash',
      'sidecarmonitor.io/injection-created',
    ]);
  });

  it('is empty (removal) for a skip that cleans the template, absent for one that holds it', () => {
    const w = deployment();
    w.metadata!.labels!['sidecarmonitor.io/inject'] = 'false';
    expect(applyConfiguration(w, desiredPodTemplate(w, monitor(), facts()))).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop' },
    });
    const invalid = desiredPodTemplate(deployment(), monitor({ selector: {} }), facts());
    expect(applyConfiguration(deployment(), invalid)).toBeUndefined();
  });
});

describe('removeInjection', () => {
  it('returns an equal copy of a template without injection', () => {
    const template = deployment().spec!.template!;
    const out = removeInjection(template);
    expect(out).toEqual(template);
    expect(out).not.toBe(template);
    expect(currentInjection(template)).toBeUndefined();
  });

  it('restores empty lists and maps the template had', () => {
    const w = deployment(
      { volumes: [], initContainers: [] },
      { labels: { app: 'web' }, annotations: {} },
    );
    w.spec!.template!.spec!.containers[0]!.env = [];
    const result = injected(
      desiredPodTemplate(w, monitor({ exporter: { nativeSidecar: 'Enabled' } }), facts()),
    );
    expect(JSON.stringify(removeInjection(result.template))).toBe(JSON.stringify(w.spec!.template));
  });

  it('finds the targets from the exporter config even when another container sets our variable', () => {
    const w = deployment({
      containers: [
        { name: 'app' },
        { name: 'other', env: [{ name: 'SIDECAR_MONITOR_CONTAINER', value: 'other' }] },
      ],
    });
    const result = injected(desiredPodTemplate(w, monitor(), facts()));
    expect(JSON.stringify(removeInjection(result.template))).toBe(JSON.stringify(w.spec!.template));
  });
});
