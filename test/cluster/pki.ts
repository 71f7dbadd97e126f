// Certificates for a throwaway control plane, made with node:crypto alone (no openssl on
// the PATH needed): a CA, the API server's serving certificate, client certificates for
// each identity, and the service-account signing key pair. P-256 keys because they are
// generated in microseconds (RSA-2048 costs ~100 ms each on these machines) and every
// component (Go's crypto/tls, Node's TLS, kubectl) accepts them.
//
// X.509 has no builder in node:crypto, so the few DER structures a certificate needs are
// encoded here (RFC 5280); the API server, etcd clients and Node's X509Certificate are
// what check them.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

export interface KeyPair {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

export interface Issued {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ClientIdentity {
  readonly user: string;
  readonly groups?: readonly string[];
}

export interface ControlPlanePki {
  readonly ca: Issued;
  /** Serving certificate of the API server, valid for `hosts`. */
  readonly apiServer: Issued;
  /** Signs and verifies ServiceAccount tokens (API server and controller manager). */
  readonly serviceAccount: KeyPair;
  /** One client certificate per requested identity, keyed like the request. */
  readonly clients: Readonly<Record<string, Issued>>;
  /** Further serving certificates (a kubelet's), keyed like the request. */
  readonly servers: Readonly<Record<string, Issued>>;
}

export interface PkiRequest {
  /** DNS names and IP addresses the API server is reached by. */
  readonly hosts: readonly string[];
  readonly clients: Readonly<Record<string, ClientIdentity>>;
  /** Further serving certificates: name → the DNS names and addresses it is valid for. */
  readonly servers?: Readonly<Record<string, readonly string[]>>;
  readonly now: Date;
  /** Validity of every certificate; a throwaway cluster needs days, not years. */
  readonly validForMs?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
// Certificates start an hour in the past so a component whose clock is a little behind
// (or a test that fakes time) never sees a not-yet-valid certificate.
const BACKDATE_MS = 60 * 60 * 1000;

export function createControlPlanePki(request: PkiRequest): ControlPlanePki {
  const notBefore = new Date(request.now.getTime() - BACKDATE_MS);
  const notAfter = new Date(request.now.getTime() + (request.validForMs ?? 7 * DAY_MS));
  const validity = { notBefore, notAfter };

  const caKeys = newKeyPair();
  const caName = [{ cn: 'sidecar-monitor-test-ca' }];
  const caCert = issueCertificate({
    subject: caName,
    issuer: caName,
    subjectKey: caKeys.publicKey,
    issuerKey: caKeys.privateKey,
    issuerPublicKey: caKeys.publicKey,
    validity,
    profile: { kind: 'ca' },
  });

  const issueLeaf = (subject: Name, profile: LeafProfile): Issued => {
    const keys = newKeyPair();
    return {
      certPem: issueCertificate({
        subject,
        issuer: caName,
        subjectKey: keys.publicKey,
        issuerKey: caKeys.privateKey,
        issuerPublicKey: caKeys.publicKey,
        validity,
        profile,
      }),
      keyPem: privatePem(keys.privateKey),
    };
  };

  const apiServer = issueLeaf([{ cn: 'kube-apiserver' }], {
    kind: 'server',
    hosts: request.hosts,
  });
  const clients: Record<string, Issued> = {};
  for (const [key, identity] of Object.entries(request.clients)) {
    clients[key] = issueLeaf(
      [{ cn: identity.user }, ...(identity.groups ?? []).map((o) => ({ o }))],
      { kind: 'client' },
    );
  }
  const servers: Record<string, Issued> = {};
  for (const [key, hosts] of Object.entries(request.servers ?? {})) {
    servers[key] = issueLeaf([{ cn: key }], { kind: 'server', hosts });
  }
  const sa = newKeyPair();
  return {
    ca: { certPem: caCert, keyPem: privatePem(caKeys.privateKey) },
    apiServer,
    serviceAccount: {
      privateKeyPem: privatePem(sa.privateKey),
      publicKeyPem: sa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    },
    clients,
    servers,
  };
}

// --- certificate profile -------------------------------------------------------------

type Name = readonly ({ readonly cn: string } | { readonly o: string })[];
type LeafProfile = { kind: 'server'; hosts: readonly string[] } | { kind: 'client' };
type Profile = { kind: 'ca' } | LeafProfile;

interface CertificateInput {
  subject: Name;
  issuer: Name;
  subjectKey: KeyObject;
  issuerKey: KeyObject;
  issuerPublicKey: KeyObject;
  validity: { notBefore: Date; notAfter: Date };
  profile: Profile;
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

// KeyUsage bit positions (RFC 5280 4.2.1.3), counted from the most significant bit.
const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

function issueCertificate(input: CertificateInput): string {
  const signatureAlgorithm = seq(oid(OID.ecdsaWithSha256));
  const spki = input.subjectKey.export({ type: 'spki', format: 'der' });
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serialNumber()),
    signatureAlgorithm,
    name(input.issuer),
    seq(time(input.validity.notBefore), time(input.validity.notAfter)),
    name(input.subject),
    spki,
    explicit(3, seq(...extensions(input.profile, spki, input.issuerPublicKey))),
  );
  const signature = sign('sha256', tbs, { key: input.issuerKey, dsaEncoding: 'der' });
  return pem('CERTIFICATE', seq(tbs, signatureAlgorithm, bitString(signature)));
}

function extensions(profile: Profile, spki: Buffer, issuerPublicKey: KeyObject): Buffer[] {
  const ski = keyIdentifier(spki);
  const aki = keyIdentifier(issuerPublicKey.export({ type: 'spki', format: 'der' }));
  if (profile.kind === 'ca') {
    return [
      extension(OID.basicConstraints, true, seq(boolean(true))),
      extension(
        OID.keyUsage,
        true,
        keyUsage([KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]),
      ),
      extension(OID.subjectKeyIdentifier, false, octetString(ski)),
    ];
  }
  const common = [
    extension(OID.basicConstraints, true, seq()),
    extension(OID.keyUsage, true, keyUsage([KEY_USAGE.digitalSignature])),
    extension(OID.authorityKeyIdentifier, false, seq(tagged(0x80, aki))),
  ];
  if (profile.kind === 'client') {
    return [...common, extension(OID.extKeyUsage, false, seq(oid(OID.clientAuth)))];
  }
  return [
    ...common,
    extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
    extension(OID.subjectAltName, false, seq(...profile.hosts.map(generalName))),
  ];
}

function generalName(host: string): Buffer {
  const family = isIP(host);
  if (family === 4) return tagged(0x87, Buffer.from(host.split('.').map(Number)));
  if (family === 6) return tagged(0x87, ipv6Bytes(host));
  return tagged(0x82, Buffer.from(host, 'ascii')); // dNSName, IA5String
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::');
  const words = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const left = words(head);
  const right = address.includes('::') ? words(tail) : [];
  const zeros = Array<string>(8 - left.length - right.length).fill('0');
  const out = Buffer.alloc(16);
  [...left, ...zeros, ...right].forEach((word, i) => out.writeUInt16BE(parseInt(word, 16), i * 2));
  return out;
}

function name(parts: Name): Buffer {
  return seq(
    ...parts.map((part) =>
      'cn' in part
        ? set(seq(oid(OID.commonName), utf8(part.cn)))
        : set(seq(oid(OID.organization), utf8(part.o))),
    ),
  );
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? seq(oid(id), boolean(true), octetString(value))
    : seq(oid(id), octetString(value));
}

function keyUsage(bits: readonly number[]): Buffer {
  let mask = 0;
  for (const bit of bits) mask |= 0x80 >> bit;
  // DER: a named bit list drops its trailing zero bits.
  const unused = Math.min(7, Math.log2(mask & -mask));
  return tagged(0x03, Buffer.from([unused, mask]));
}

function keyIdentifier(spki: Buffer): Buffer {
  return createHash('sha1').update(spki).digest();
}

function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive
  return bytes;
}

function newKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function privatePem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// --- DER ---------------------------------------------------------------------------

function tagged(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let length: Buffer;
  if (n < 0x80) {
    length = Buffer.from([n]);
  } else {
    const bytes: number[] = [];
    for (let rest = n; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

const seq = (...items: Buffer[]): Buffer => tagged(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tagged(0x31, Buffer.concat(items));
const explicit = (n: number, item: Buffer): Buffer => tagged(0xa0 | n, item);
const boolean = (value: boolean): Buffer => tagged(0x01, Buffer.from([value ? 0xff : 0]));
const octetString = (bytes: Buffer): Buffer => tagged(0x04, bytes);
const bitString = (bytes: Buffer): Buffer => tagged(0x03, Buffer.concat([Buffer.from([0]), bytes]));
const utf8 = (text: string): Buffer => tagged(0x0c, Buffer.from(text, 'utf8'));

function integer(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const needsPad = ((trimmed[0] ?? 0) & 0x80) !== 0;
  return tagged(0x02, needsPad ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tagged(0x06, Buffer.from(bytes));
}

function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2025-01-02T03:04:05.678Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ''); // 20250102030405
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return date.getUTCFullYear() < 2050
    ? tagged(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
    : tagged(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}
