// The hand-encoded certificates are what X.509 says they are. (That the API server,
// kubectl, Go clients and Node accept them is shown by every other test here.)
import { createPublicKey, createPrivateKey, sign, verify, X509Certificate } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { createControlPlanePki } from './pki.ts';

const now = new Date('2030-06-01T12:00:00Z');
const pki = createControlPlanePki({
  hosts: ['127.0.0.1', 'localhost', '::1'],
  now,
  clients: {
    admin: { user: 'admin', groups: ['system:masters', 'team-a'] },
    plain: { user: 'system:kube-scheduler' },
  },
});
const ca = new X509Certificate(pki.ca.certPem);

describe('control-plane PKI', () => {
  test('the CA is a self-signed CA', () => {
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe('CN=sidecar-monitor-test-ca');
    expect(ca.verify(ca.publicKey)).toBe(true);
    // Node's `keyUsage` lists extended key usages, which a CA does not restrict.
    expect(ca.keyUsage).toBeUndefined();
  });

  test('the serving certificate is signed by the CA for every host, server auth only', () => {
    const serving = new X509Certificate(pki.apiServer.certPem);
    expect(serving.ca).toBe(false);
    expect(serving.checkIssued(ca)).toBe(true);
    expect(serving.verify(ca.publicKey)).toBe(true);
    expect(serving.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(serving.checkIP('::1')).toBe('::1');
    expect(serving.checkHost('localhost')).toBe('localhost');
    expect(serving.checkHost('example.com')).toBeUndefined();
    expect(serving.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  test('client certificates carry the user as CN and groups as O, client auth only', () => {
    const admin = new X509Certificate(pki.clients.admin!.certPem);
    expect(admin.subject).toBe('CN=admin\nO=system:masters\nO=team-a');
    expect(admin.verify(ca.publicKey)).toBe(true);
    expect(admin.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(new X509Certificate(pki.clients.plain!.certPem).subject).toBe(
      'CN=system:kube-scheduler',
    );
  });

  test('validity starts an hour early and lasts a week', () => {
    expect(new Date(ca.validFrom).toISOString()).toBe('2030-06-01T11:00:00.000Z');
    expect(new Date(ca.validTo).toISOString()).toBe('2030-06-08T12:00:00.000Z');
  });

  test('every key matches its certificate, and the service-account keys are a pair', () => {
    for (const issued of [pki.ca, pki.apiServer, pki.clients.admin!]) {
      const cert = new X509Certificate(issued.certPem);
      expect(cert.checkPrivateKey(createPrivateKey(issued.keyPem))).toBe(true);
    }
    const signature = sign('sha256', Buffer.from('token'), pki.serviceAccount.privateKeyPem);
    expect(
      verify(
        'sha256',
        Buffer.from('token'),
        createPublicKey(pki.serviceAccount.publicKeyPem),
        signature,
      ),
    ).toBe(true);
  });

  test('serial numbers are unique', () => {
    const again = createControlPlanePki({ hosts: ['localhost'], now, clients: {} });
    expect(new X509Certificate(again.ca.certPem).serialNumber).not.toBe(ca.serialNumber);
  });
});
