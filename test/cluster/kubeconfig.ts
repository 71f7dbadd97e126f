// Kubeconfig files for the test control plane. Credentials are embedded (no paths), so a
// kubeconfig can be copied or read by another process and still work.
import { readFileSync } from 'node:fs';
import { stringify, parse } from 'yaml';

export interface KubeconfigCredentials {
  readonly server: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Impersonated user (kubeconfig `as`), e.g. system:serviceaccount:ns:name. */
  readonly impersonate?: string;
  readonly namespace?: string;
  readonly contextName?: string;
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string): string => Buffer.from(text, 'base64').toString('utf8');

export function renderKubeconfig(creds: KubeconfigCredentials): string {
  const name = creds.contextName ?? 'sidecar-monitor-test';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'sidecar-monitor-test',
        cluster: { server: creds.server, 'certificate-authority-data': b64(creds.caPem) },
      },
    ],
    users: [
      {
        name,
        user: {
          'client-certificate-data': b64(creds.certPem),
          'client-key-data': b64(creds.keyPem),
          ...(creds.impersonate === undefined ? {} : { as: creds.impersonate }),
        },
      },
    ],
    contexts: [
      {
        name,
        context: {
          cluster: 'sidecar-monitor-test',
          user: name,
          ...(creds.namespace === undefined ? {} : { namespace: creds.namespace }),
        },
      },
    ],
    'current-context': name,
  });
}

/**
 * Reads back the credentials of a kubeconfig this module wrote (one cluster, one user,
 * embedded data). Anything else is rejected rather than half-understood.
 */
export function readKubeconfig(file: string): KubeconfigCredentials {
  const doc = parse(readFileSync(file, 'utf8')) as {
    clusters?: { cluster?: Record<string, unknown> }[];
    users?: { user?: Record<string, unknown> }[];
    contexts?: { name?: unknown; context?: Record<string, unknown> }[];
  } | null;
  const cluster = doc?.clusters?.[0]?.cluster;
  const user = doc?.users?.[0]?.user;
  const context = doc?.contexts?.[0];
  const server = cluster?.server;
  const ca = cluster?.['certificate-authority-data'];
  const cert = user?.['client-certificate-data'];
  const key = user?.['client-key-data'];
  if (
    typeof server !== 'string' ||
    typeof ca !== 'string' ||
    typeof cert !== 'string' ||
    typeof key !== 'string'
  ) {
    throw new Error(`${file} is not a kubeconfig written by the test harness`);
  }
  const as = user?.as;
  const namespace = context?.context?.namespace;
  return {
    server,
    caPem: unb64(ca),
    certPem: unb64(cert),
    keyPem: unb64(key),
    ...(typeof as === 'string' ? { impersonate: as } : {}),
    ...(typeof namespace === 'string' ? { namespace } : {}),
    ...(typeof context?.name === 'string' ? { contextName: context.name } : {}),
  };
}
