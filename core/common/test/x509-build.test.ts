import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// eslint-disable-next-line no-restricted-imports -- test only: sign digests exactly as the memory KeyManager does
import { generateKey, signDigest, type SigningKey } from '../../../plugins/server-keymanager-memory/src/keys.js';
import {
  X509Error,
  buildCertificate,
  caTemplate,
  keyObjectSigner,
  parseCertificate,
  parseSpki,
  pemEncode,
  validateX509Svid,
  x509SvidTemplate,
  type Certificate,
  type CertificateSigner,
  type SignatureAlgorithm,
} from '../src/x509/index.js';

const NOW = new Date('2031-05-06T07:08:09.123Z');
const AT = String(Math.floor(NOW.getTime() / 1000));
const HOUR = 3_600_000;
let dir: string;

/** Signs the digest only, the way the CA will through KeyManager SignData. */
function kmSigner(key: SigningKey, algorithm: SignatureAlgorithm): CertificateSigner {
  const hash = algorithm.endsWith('384') ? 'SHA384' : algorithm.endsWith('512') ? 'SHA512' : 'SHA256';
  return { algorithm, sign: async (digest) => signDigest(key, digest, { hash }) };
}

function pemFile(name: string, der: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, pemEncode('CERTIFICATE', der));
  return path;
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

function opensslVerify(root: Uint8Array, leaf: Uint8Array, intermediates: Uint8Array[] = [], extra: string[] = []): string {
  const args = ['verify', '-x509_strict', '-attime', AT, '-CAfile', pemFile('root.pem', root), ...extra];
  if (intermediates.length > 0) {
    writeFileSync(join(dir, 'inter.pem'), intermediates.map((d) => pemEncode('CERTIFICATE', d)).join(''));
    args.push('-untrusted', join(dir, 'inter.pem'));
  }
  try {
    return openssl(...args, pemFile('leaf.pem', leaf)).trim();
  } catch (err) {
    return String((err as { stdout?: string; stderr?: string }).stdout) + String((err as { stderr?: string }).stderr);
  }
}

const textOf = (der: Uint8Array): string => openssl('x509', '-text', '-noout', '-in', pemFile('cert.pem', der));
const asn1Of = (der: Uint8Array): string => openssl('asn1parse', '-i', '-in', pemFile('cert.pem', der));
const sha1 = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex');
const node = (der: Uint8Array): X509Certificate => new X509Certificate(der);

let ecRootKey: SigningKey;
let rsaRootKey: SigningKey;
let interKey: SigningKey;
let leafKey: SigningKey;
let ecRoot: Uint8Array;
let rsaRoot: Uint8Array;
let inter: Uint8Array;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'x509-build-'));
  [ecRootKey, rsaRootKey, interKey, leafKey] = await Promise.all([generateKey('EC_P256'), generateKey('RSA_2048'), generateKey('EC_P256'), generateKey('EC_P256')]);
  ecRoot = await buildCertificate(caTemplate({ trustDomain: 'example.org', now: NOW, ttlMs: 24 * HOUR }), {
    publicKeyDer: ecRootKey.publicKeyDer,
    signer: kmSigner(ecRootKey, 'ecdsa-sha256'),
    verifySignature: true,
  });
  rsaRoot = await buildCertificate(caTemplate({ trustDomain: 'spiffe://example.org', now: NOW, ttlMs: 48 * HOUR, subject: { country: 'US', organization: 'Upstream' } }), {
    publicKeyDer: rsaRootKey.publicKeyDer,
    signer: kmSigner(rsaRootKey, 'rsa-pkcs1-sha256'),
    verifySignature: true,
  });
  inter = await buildCertificate(caTemplate({ trustDomain: 'example.org', now: NOW, ttlMs: 24 * HOUR, issuer: parseCertificate(rsaRoot) }), {
    publicKeyDer: interKey.publicKeyDer,
    signer: kmSigner(rsaRootKey, 'rsa-pkcs1-sha256'),
    issuer: parseCertificate(rsaRoot),
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function svid(issuerDer: Uint8Array, issuerKey: SigningKey, opts: { dnsNames?: string[]; ttlMs?: number; id?: string } = {}): Promise<Uint8Array> {
  const issuer = parseCertificate(issuerDer);
  const template = x509SvidTemplate({ spiffeId: opts.id ?? 'spiffe://example.org/workload', dnsNames: opts.dnsNames, now: NOW, ttlMs: opts.ttlMs ?? HOUR, issuer });
  return buildCertificate(template, { publicKeyDer: leafKey.publicKeyDer, signer: kmSigner(issuerKey, issuer.publicKey.keyType === 'rsa' ? 'rsa-pkcs1-sha256' : 'ecdsa-sha256'), issuer });
}

describe('self-signed root CA (P-256, digest signed as a KeyManager does)', () => {
  it('is what node:crypto reads', () => {
    const x = node(ecRoot);
    const serial = parseCertificate(ecRoot).serialNumber;
    expect(x.ca).toBe(true);
    expect(x.subject).toBe(`C=US\nO=SPIFFE\nserialNumber=${serial.toString(10)}`);
    expect(x.issuer).toBe(x.subject);
    expect(x.subjectAltName).toBe('URI:spiffe://example.org');
    expect(BigInt(`0x${x.serialNumber}`)).toBe(serial);
    expect(serial > 0n && serial < 1n << 128n).toBe(true);
    expect(Date.parse(x.validFrom)).toBe(Date.parse('2031-05-06T07:07:59Z'));
    expect(Date.parse(x.validTo)).toBe(Date.parse('2031-05-07T07:08:09Z'));
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkIssued(x)).toBe(true);
    expect(x.fingerprint256).toBe(createHash('sha256').update(ecRoot).digest('hex').toUpperCase().match(/../g)?.join(':'));
  });

  it('is what openssl reads', () => {
    const text = textOf(ecRoot);
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: \n\s+URI:spiffe:\/\/example.org\n/);
    const ski = sha1(parseSpki(ecRootKey.publicKeyDer).keyBits).toUpperCase().match(/../g)?.join(':');
    expect(text).toContain(`X509v3 Subject Key Identifier: \n                ${ski}`);
    expect(text).not.toMatch(/Authority Key Identifier/);
    // ECDSA AlgorithmIdentifiers carry no parameters.
    expect(asn1Of(ecRoot)).not.toMatch(/NULL/);
    expect(opensslVerify(ecRoot, ecRoot)).toMatch(/OK$/);
  });
});

describe('intermediate signed by an RSA-2048 upstream', () => {
  it('chains to the upstream root (AKI, capped lifetime, sha256WithRSA with NULL parameters)', () => {
    const root = node(rsaRoot);
    const x = node(inter);
    expect(x.ca).toBe(true);
    expect(x.verify(root.publicKey)).toBe(true);
    expect(x.checkIssued(root)).toBe(true);
    expect(x.issuer).toBe(root.subject);
    const parsed = parseCertificate(inter);
    expect(parsed.extensions.authorityKeyId).toEqual(parseCertificate(rsaRoot).extensions.subjectKeyId);
    expect(Date.parse(x.validTo)).toBe(Date.parse('2031-05-07T07:08:09Z'));
    const asn1 = asn1Of(inter);
    expect(asn1).toMatch(/OBJECT\s+:sha256WithRSAEncryption\n.*NULL/);
    expect(textOf(inter)).toMatch(/X509v3 Authority Key Identifier: \n\s+[0-9A-F:]{59}\n/);
    expect(opensslVerify(rsaRoot, inter)).toMatch(/OK$/);
  });

  it('is capped at the upstream root notAfter', async () => {
    const root = parseCertificate(rsaRoot);
    const t = caTemplate({ trustDomain: 'example.org', now: NOW, ttlMs: 1000 * HOUR, issuer: root });
    expect(t.notAfter).toEqual(root.notAfter);
  });
});

describe('X.509-SVIDs', () => {
  it('issued by the intermediate: node, openssl (strict, sslserver, sslclient) and our validator agree', async () => {
    const leaf = await svid(inter, interKey, { dnsNames: ['a.example', 'b.example'] });
    const x = node(leaf);
    expect(x.ca).toBe(false);
    expect(x.subject).toBe('C=US\nO=SPIRE\nCN=a.example');
    expect(x.subjectAltName).toBe('DNS:a.example, DNS:b.example, URI:spiffe://example.org/workload');
    expect(x.verify(node(inter).publicKey)).toBe(true);
    expect(x.checkIssued(node(inter))).toBe(true);
    expect(Date.parse(x.validFrom)).toBe(Date.parse('2031-05-06T07:07:59Z'));
    expect(Date.parse(x.validTo)).toBe(Date.parse('2031-05-06T08:08:09Z'));
    const text = textOf(leaf);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment, Key Agreement\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    expect(text).toMatch(/X509v3 Subject Key Identifier/);
    for (const purpose of [[], ['-purpose', 'sslserver'], ['-purpose', 'sslclient']]) {
      expect(opensslVerify(rsaRoot, leaf, [inter], purpose)).toMatch(/leaf.pem: OK$/);
    }
    expect(opensslVerify(ecRoot, leaf, [inter])).toMatch(/unable to get local issuer certificate/);
    const parsed = parseCertificate(leaf);
    expect(parsed.extensions.authorityKeyId).toEqual(parseCertificate(inter).extensions.subjectKeyId);
    expect(parsed.extensions.subjectKeyId).toEqual(new Uint8Array(createHash('sha1').update(parseSpki(leafKey.publicKeyDer).keyBits).digest()));
    expect(validateX509Svid(leaf, [inter], [rsaRoot], NOW).spiffeId).toBe('spiffe://example.org/workload');
  });

  it('issued directly by the P-256 root, without DNS names', async () => {
    const leaf = await svid(ecRoot, ecRootKey);
    expect(node(leaf).subject).toBe('C=US\nO=SPIRE');
    expect(node(leaf).subjectAltName).toBe('URI:spiffe://example.org/workload');
    expect(opensslVerify(ecRoot, leaf)).toMatch(/OK$/);
  });

  it('never outlives its signer', async () => {
    const leaf = await svid(inter, interKey, { ttlMs: 100 * HOUR });
    expect(node(leaf).validTo).toBe(node(inter).validTo);
    expect(() => x509SvidTemplate({ spiffeId: 'spiffe://example.org/w', now: new Date(NOW.getTime() + 25 * HOUR), ttlMs: HOUR, issuer: parseCertificate(inter) })).toThrow(
      /the issuing CA expired at 2031-05-07T07:08:09.000Z/,
    );
  });

  it('P-384 issuers sign with ecdsa-with-SHA384', async () => {
    const key = await generateKey('EC_P384');
    const root = await buildCertificate(caTemplate({ trustDomain: 'example.org', now: NOW, ttlMs: HOUR }), { publicKeyDer: key.publicKeyDer, signer: kmSigner(key, 'ecdsa-sha384') });
    const leaf = await buildCertificate(x509SvidTemplate({ spiffeId: 'spiffe://example.org/x', now: NOW, ttlMs: HOUR, issuer: parseCertificate(root) }), {
      publicKeyDer: leafKey.publicKeyDer,
      signer: kmSigner(key, 'ecdsa-sha384'),
      issuer: parseCertificate(root),
      verifySignature: true,
    });
    expect(textOf(leaf)).toMatch(/Signature Algorithm: ecdsa-with-SHA384/);
    expect(opensslVerify(root, leaf)).toMatch(/OK$/);
  });

  it('node:crypto signers that hash the TBS themselves work too', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const root = await buildCertificate(caTemplate({ trustDomain: 'example.org', now: NOW, ttlMs: HOUR }), { publicKeyDer: spki, signer: keyObjectSigner(privateKey, 'rsa-pkcs1-sha384') });
    expect(textOf(root)).toMatch(/sha384WithRSAEncryption/);
    expect(node(root).verify(publicKey)).toBe(true);
  });
});

describe('builder details', () => {
  const base = { subject: { commonName: 'x' }, notBefore: NOW, notAfter: new Date(NOW.getTime() + HOUR) };
  const build = (t: Parameters<typeof buildCertificate>[0], signer?: CertificateSigner, issuer?: Certificate): Promise<Uint8Array> =>
    buildCertificate(t, { publicKeyDer: leafKey.publicKeyDer, signer: signer ?? kmSigner(leafKey, 'ecdsa-sha256'), ...(issuer ? { issuer } : {}) });

  it('an empty subject makes the SAN critical', async () => {
    const der = await build({ ...base, subject: {}, uris: ['spiffe://example.org/x'] });
    expect(node(der).subject ?? '').toBe('');
    expect(textOf(der)).toMatch(/X509v3 Subject Alternative Name: critical\n\s+URI:spiffe:\/\/example.org\/x/);
    expect(parseCertificate(der).extensions.subjectAltName?.critical).toBe(true);
  });

  it('writes GeneralizedTime from 2050 on', async () => {
    const der = await build({ ...base, notAfter: new Date('2050-01-01T00:00:00Z') });
    expect(asn1Of(der)).toMatch(/UTCTIME\s+:310506070809Z\n.*GENERALIZEDTIME\s+:20500101000000Z/);
    expect(Date.parse(node(der).validTo)).toBe(Date.parse('2050-01-01T00:00:00Z'));
  });

  it('takes serial numbers from the injected randomness', async () => {
    let calls = 0;
    const random = (n: number): Uint8Array => new Uint8Array(n).fill(calls++ === 0 ? 0 : 0xab);
    const der = await buildCertificate(base, { publicKeyDer: leafKey.publicKeyDer, signer: kmSigner(leafKey, 'ecdsa-sha256'), random });
    expect(node(der).serialNumber).toBe('AB'.repeat(16));
    expect(calls).toBe(2);
    expect(node(await build({ ...base, serialNumber: 1n << 150n })).serialNumber).toBe(`40${'00'.repeat(18)}`);
  });

  it('writes name constraints that openssl enforces', async () => {
    const key = await generateKey('EC_P256');
    const root = await buildCertificate(caTemplate({ trustDomain: 'example.org', now: NOW, ttlMs: HOUR, nameConstraints: { permittedUriDomains: ['example.org'] } }), {
      publicKeyDer: key.publicKeyDer,
      signer: kmSigner(key, 'ecdsa-sha256'),
    });
    expect(textOf(root)).toMatch(/X509v3 Name Constraints: critical\n\s+Permitted:\n\s+URI:example.org/);
    const issuer = parseCertificate(root);
    const leafFor = (id: string): Promise<Uint8Array> =>
      buildCertificate({ ...base, subject: {}, uris: [id], authorityKeyId: issuer.extensions.subjectKeyId, keyUsage: ['digitalSignature'] }, {
        publicKeyDer: leafKey.publicKeyDer, signer: kmSigner(key, 'ecdsa-sha256'), issuer,
      });
    expect(opensslVerify(root, await leafFor('spiffe://example.org/ok'))).toMatch(/OK$/);
    expect(opensslVerify(root, await leafFor('spiffe://evil.org/x'))).toMatch(/permitted subtree violation/);
  });

  it('round-trips through parseCertificate', async () => {
    const der = await build({ ...base, basicConstraints: { ca: true, pathLen: 2 }, keyUsage: ['keyCertSign'], extKeyUsage: ['serverAuth', '1.2.3.4'], dnsNames: ['d.example'], uris: ['spiffe://td/x'], serialNumber: 77n });
    const c = parseCertificate(der);
    expect(c).toMatchObject({ version: 3, serialNumber: 77n, signatureAlgorithm: 'ecdsa-sha256', notBefore: new Date('2031-05-06T07:08:09Z') });
    expect(c.extensions.basicConstraints).toEqual({ critical: true, ca: true, pathLen: 2 });
    expect(c.extensions.keyUsage).toEqual({ critical: true, usages: ['keyCertSign'] });
    expect(c.extensions.extKeyUsage).toEqual({ critical: false, usages: ['serverAuth', '1.2.3.4'] });
    expect(c.extensions.subjectAltName).toMatchObject({ uris: ['spiffe://td/x'], dnsNames: ['d.example'] });
    expect(node(der).ca).toBe(true);
  });

  const bad: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['notBefore after notAfter', () => build({ ...base, notAfter: new Date(0) }), /notBefore must be a date no later than notAfter/],
    ['empty subject without SAN', () => build({ ...base, subject: {} }), /empty subject needs a subject alternative name/],
    ['serial 0', () => build({ ...base, serialNumber: 0n }), /serial number must be positive/],
    ['serial of 21 bytes', () => build({ ...base, serialNumber: 1n << 160n }), /longer than 20 bytes/],
    ['RSA algorithm for an EC key', () => build(base, kmSigner(leafKey, 'rsa-pkcs1-sha256')), /rsa-pkcs1-sha256 cannot be made with the subject's ec key/],
    ['pathLen on a leaf', () => build({ ...base, basicConstraints: { ca: false, pathLen: 1 } }), /pathLen is only meaningful for CA/],
    ['invalid URI SAN', () => build({ ...base, uris: ['not a uri'] }), /invalid URI SAN/],
    ['non-ASCII DNS SAN', () => build({ ...base, dnsNames: ['é.example'] }), /invalid DNS SAN/],
    ['duplicate extra extension', () => build({ ...base, keyUsage: ['digitalSignature'], extraExtensions: [{ oid: '2.5.29.15', critical: false, value: new Uint8Array([5, 0]) }] }), /duplicates/],
    ['garbage public key', () => buildCertificate(base, { publicKeyDer: new Uint8Array([0x30, 0]), signer: kmSigner(leafKey, 'ecdsa-sha256') }), /SubjectPublicKeyInfo has 0 parts/],
  ];
  it.each(bad)('refuses %s', async (_name, run, message) => {
    const err = await run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(X509Error);
    expect((err as X509Error).code).toMatch(/ERR_X509_TEMPLATE|ERR_X509_PARSE/);
    expect((err as Error).message).toMatch(message);
  });

  it('catches faulty signers', async () => {
    const garbage: CertificateSigner = { algorithm: 'ecdsa-sha256', sign: () => new Uint8Array([1, 2, 3]) };
    await expect(build(base, garbage)).rejects.toThrow(/malformed ECDSA signature/);
    const rsaShort: CertificateSigner = { algorithm: 'rsa-pkcs1-sha256', sign: () => new Uint8Array(255) };
    await expect(build(base, rsaShort, parseCertificate(rsaRoot))).rejects.toThrow(/returned 255 bytes, an RSA signature with this key is 256/);
    const other = await generateKey('EC_P256');
    const wrongKey = kmSigner(other, 'ecdsa-sha256');
    await expect(buildCertificate(base, { publicKeyDer: leafKey.publicKeyDer, signer: wrongKey, verifySignature: true })).rejects.toMatchObject({
      code: 'ERR_X509_SIGNER',
      message: "signature does not verify with the subject's public key",
    });
    const failing: CertificateSigner = { algorithm: 'ecdsa-sha256', sign: () => Promise.reject(new Error('keymanager(disk): unavailable')) };
    await expect(build(base, failing)).rejects.toThrow('keymanager(disk): unavailable');
  });
});

describe('profiles refuse bad input', () => {
  it.each([
    ['spiffe://example.org', /an SVID needs a path/],
    ['spiffe://other.org/w', /not a member of trust domain "example.org"/],
    ['SPIFFE://example.org/w', /scheme must be lowercase/],
    ['spiffe://Example.org/w', /trust domain characters/],
    ['spiffe://example.org/a//b', /empty segments/],
    ['spiffe://example.org/a/', /trailing slash/],
    ['spiffe://example.org/a/../b', /dot segments/],
    ['https://example.org/w', /scheme is not "spiffe"/],
  ])('SVID ID %s', (id, message) => {
    expect(() => x509SvidTemplate({ spiffeId: id, now: NOW, ttlMs: HOUR, issuer: parseCertificate(ecRoot) })).toThrow(message);
  });

  it('CA trust domain and ttl', () => {
    expect(() => caTemplate({ trustDomain: 'example.org/x', now: NOW, ttlMs: HOUR })).toThrow(/must not have a path/);
    expect(() => caTemplate({ trustDomain: 'example.org:8443', now: NOW, ttlMs: HOUR })).toThrow(/port/);
    expect(() => caTemplate({ trustDomain: 'example.org', now: NOW, ttlMs: 0 })).toThrow(/ttl must be positive/);
  });
});
