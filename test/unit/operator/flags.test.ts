import { describe, expect, it } from 'vitest';
import { FlagError, parseOperatorFlags } from '../../../operator/cli/flags.ts';
import { imageAllowed } from '../../../operator/inject/images.ts';

describe('parseOperatorFlags', () => {
  it('has production defaults', () => {
    const f = parseOperatorFlags([], {
      SIDECAR_MONITOR_IMAGE: 'repo/sm:1.0',
      POD_NAME: 'op-1',
      POD_NAMESPACE: 'sm',
    });
    expect(f).toMatchObject({
      namespaces: [],
      exporterImage: 'repo/sm:1.0',
      allowedExporterImages: ['repo/sm:1.0'],
      maxConcurrentRollouts: 10,
      workers: 4,
      listen: { host: '0.0.0.0', port: 8080 },
      leaderElect: true,
      leaderElectionNamespace: 'sm',
      identity: 'op-1',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      resyncMs: 600_000,
      watchKubeletVersions: 'auto',
      logLevel: 'info',
      context: undefined,
      kubeApiQps: 20,
      kubeApiBurst: 30,
    });
  });

  it('takes a kubeconfig context and the client rate limit, 0 QPS for none', () => {
    expect(
      parseOperatorFlags([
        '--exporter-image=a',
        '--context=prod',
        '--kube-api-qps=2.5',
        '--kube-api-burst=5',
      ]),
    ).toMatchObject({ context: 'prod', kubeApiQps: 2.5, kubeApiBurst: 5 });
    expect(parseOperatorFlags(['--exporter-image=a', '--kube-api-qps=0'])).toMatchObject({
      kubeApiQps: 0,
    });
  });

  it('takes repeatable namespaces and comma-separated allowed images', () => {
    const f = parseOperatorFlags([
      '--exporter-image=a:1',
      '--namespace',
      'team-a',
      '--namespace=team-b',
      '--namespace=team-a',
      '--allowed-exporter-images',
      'b:2, mirror.local/*',
      '--max-concurrent-rollouts=0',
      '--listen=127.0.0.1:0',
    ]);
    expect(f).toMatchObject({
      namespaces: ['team-a', 'team-b'],
      allowedExporterImages: ['a:1', 'b:2', 'mirror.local/*'],
      maxConcurrentRollouts: 0,
      listen: { host: '127.0.0.1', port: 0 },
    });
  });

  it.each([
    [['--exporter-image=a', '--workers=0'], 'workers', /between 1 and 64/],
    [['--exporter-image=a', '--workers=two'], 'workers', /integer/],
    [['--exporter-image=a', '--kube-api-qps=-1'], 'kube-api-qps', /from 0 to 10000/],
    [['--exporter-image=a', '--kube-api-burst=0'], 'kube-api-burst', /between 1 and/],
    [['--exporter-image=a', '--namespace=Bad_NS'], 'namespace', /not a namespace name/],
    [['--exporter-image=a', '--leader-elect=yes'], 'leader-elect', /true or false/],
    [
      ['--exporter-image=a', '--renew-deadline=20'],
      'renew-deadline',
      /shorter than --lease-duration/,
    ],
    [['--exporter-image=a', '--log-level=loud'], 'log-level', /one of/],
    [['--exporter-image=a', '--listen=8080'], 'listen', /HOST:PORT/],
    [
      ['--exporter-image=a', '--watch-kubelet-versions=yes'],
      'watch-kubelet-versions',
      /auto, true or false/,
    ],
    [['--exporter-image=a', '--bogus'], 'bogus', /Unknown option/],
    [[], 'exporter-image', /is required/],
  ])('%j is rejected naming --%s', (argv, flag, message) => {
    const f = parseOperatorFlags(argv);
    expect(f).toBeInstanceOf(FlagError);
    expect((f as FlagError).flag).toBe(flag);
    expect((f as FlagError).message).toMatch(message);
  });

  it('imageAllowed matches exact images and prefixes ending in *', () => {
    const allowed = ['repo/sm:1.0', 'mirror.local/sm@*'];
    expect(imageAllowed('repo/sm:1.0', allowed)).toBe(true);
    expect(imageAllowed('repo/sm:1.1', allowed)).toBe(false);
    expect(imageAllowed('mirror.local/sm@sha256:abc', allowed)).toBe(true);
    expect(imageAllowed('mirror.local/other', allowed)).toBe(false);
  });
});
