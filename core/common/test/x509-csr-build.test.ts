// buildCSR checked by two independent readers: `openssl req -verify` (and its
// text dump) and our own parseCSR, for EC P-256, P-384 and RSA-2048 keys.
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OID, buildCSR, decodeDer, formatName, parseCSR, type CsrOptions } from '../src/x509/index.js';

const dir = mkdtempSync(join(tmpdir(), 'x509-csr-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Runs `openssl req` on the DER CSR; returns stdout+stderr and the exit status. */
function opensslReq(der: Uint8Array, ...args: string[]): { status: number | null; out: string } {
  const file = join(dir, `csr${++n}.der`);
  writeFileSync(file, der);
  const r = spawnSync('openssl', ['req', '-inform', 'DER', '-in', file, ...args], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * `openssl req -verify`'s verdict. OpenSSL 3.0 exits 0 even when the
 * signature does not verify, so the message decides.
 */
function opensslVerifies(der: Uint8Array): boolean {
  const r = opensslReq(der, '-verify', '-noout');
  if (/verify failure|unable to load|error/i.test(r.out)) return false;
  return r.status === 0 && /self-signature verify OK|verify OK/.test(r.out);
}

const KEYS: [string, () => KeyObject, 'ec' | 'rsa', string | undefined, string][] = [
  ['P-256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'ec', OID.prime256v1, 'ecdsa-sha256'],
  ['P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, 'ec', OID.secp384r1, 'ecdsa-sha384'],
  ['RSA-2048', () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, 'rsa', undefined, 'rsa-pkcs1-sha256'],
];
const keys = new Map(KEYS.map(([name, gen]) => [name, gen()]));

const VARIANTS: [string, CsrOptions, string, string[], string[]][] = [
  ['no SANs, empty subject', {}, '', [], []],
  ['URI SAN only', { uris: ['spiffe://example.org/workload'] }, '', ['spiffe://example.org/workload'], []],
  [
    'URI and DNS SANs with a subject',
    { subject: { country: 'US', organization: 'SPIRE', commonName: 'web.example.org' }, uris: ['spiffe://example.org/web'], dnsNames: ['web.example.org', 'www.example.org'] },
    'CN=web.example.org,O=SPIRE,C=US', // formatName: RFC 4514 order, last RDN first
    ['spiffe://example.org/web'],
    ['web.example.org', 'www.example.org'],
  ],
  ['DNS SAN only with a subject', { subject: { commonName: 'only-dns' }, dnsNames: ['a.example'] }, 'CN=only-dns', [], ['a.example']],
];

const CASES = KEYS.flatMap(([key, , keyType, curve, alg]) =>
  VARIANTS.map(([variant, opts, subject, uris, dns]) => ({ name: `${key}, ${variant}`, key, keyType, curve, alg, opts, subject, uris, dns })),
);

describe('buildCSR', () => {
  it.each(CASES)('$name: openssl verifies it; parseCSR reads back SANs, subject and key', (c) => {
    const priv = keys.get(c.key)!;
    const der = buildCSR(priv, c.opts);

    expect(opensslVerifies(der)).toBe(true);

    const text = opensslReq(der, '-noout', '-text').out;
    const opensslSubject = c.subject.split(',').reverse().map((kv) => kv.replace('=', ' = ')).join(', ');
    expect(/^\s*Subject:(.*)$/m.exec(text)?.[1]?.trim()).toBe(opensslSubject);
    const san = /X509v3 Subject Alternative Name:\s*\n\s*(.*)\n/.exec(text)?.[1]?.trim();
    if (c.uris.length + c.dns.length === 0) {
      expect(san).toBeUndefined();
      expect(text).toMatch(/Attributes:\s*\n\s*\(none\)/);
      expect(text).not.toContain('X509v3');
    } else {
      expect(san?.split(', ').sort()).toEqual([...c.dns.map((d) => `DNS:${d}`), ...c.uris.map((u) => `URI:${u}`)].sort());
    }

    const csr = parseCSR(der);
    expect(csr.signatureValid).toBe(true);
    expect(csr.signatureAlgorithm).toBe(c.alg);
    expect(csr.uris).toEqual(c.uris);
    expect(csr.dnsNames).toEqual(c.dns);
    expect(formatName(csr.subject)).toBe(c.subject);
    expect(csr.publicKey.keyType).toBe(c.keyType);
    expect(csr.publicKey.curve).toBe(c.curve);
    const spki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
    expect(Buffer.from(csr.publicKeyDer).equals(spki)).toBe(true);
    expect(Buffer.from(csr.der).equals(Buffer.from(der))).toBe(true);
  });

  it('writes version 0 and a non-critical SAN extension (SPIRE copies it into the SVID)', () => {
    const der = buildCSR(keys.get('P-256')!, { uris: ['spiffe://example.org/w'] });
    const info = decodeDer(der).children()[0]!;
    const version = info.children()[0]!;
    expect(Array.from(version.bytes)).toEqual([0x02, 0x01, 0x00]);
    const csr = parseCSR(der);
    const sanExt = csr.extensions.list.find((e) => e.oid === OID.subjectAltName);
    expect(sanExt?.critical).toBe(false);
    expect(csr.extensions.unhandledCritical).toEqual([]);
  });

  it('the signature covers the request: a CSR with an altered SAN no longer verifies', () => {
    const a = buildCSR(keys.get('P-256')!, { uris: ['spiffe://example.org/a'] });
    const tampered = Uint8Array.from(a);
    const at = Buffer.from(tampered).indexOf('spiffe://example.org/a') + 'spiffe://example.org/'.length;
    tampered[at] = 0x62; // a -> b
    const csr = parseCSR(tampered);
    expect(csr.uris).toEqual(['spiffe://example.org/b']);
    expect(csr.signatureValid).toBe(false);
    expect(opensslVerifies(tampered)).toBe(false);
    expect(opensslVerifies(a)).toBe(true);
  });

  it('uses a fresh ECDSA signature each time but the same request info', () => {
    const key = keys.get('P-256')!;
    const opts = { uris: ['spiffe://example.org/w'] };
    const [a, b] = [buildCSR(key, opts), buildCSR(key, opts)];
    expect(Buffer.from(parseCSR(a).info).equals(Buffer.from(parseCSR(b).info))).toBe(true);
    expect(parseCSR(b).signatureValid).toBe(true);
  });
});
