import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  X509Error,
  X509SvidEncoder,
  buildCertificate,
  caTemplate,
  keyObjectSigner,
  parseCertificate,
  parseSpki,
  x509SvidTemplate,
  type Certificate,
  type CertificateSigner,
  type NameSpec,
} from '../src/x509/index.js';

const NOW = new Date('2031-05-06T07:08:09.123Z');
const HOUR = 3_600_000;

/** Deterministic "randomness" so both builders draw the same serial numbers. */
function counterRandom(seed: number): (size: number) => Uint8Array {
  let n = seed;
  return (size) => Uint8Array.from({ length: size }, (_, i) => (n++ * 37 + i * 11) & 0xff);
}

/** Wraps a signer, keeping the TBSCertificates it was asked to sign. */
function recording(signer: CertificateSigner): CertificateSigner & { tbs: Uint8Array[] } {
  const tbs: Uint8Array[] = [];
  return { algorithm: signer.algorithm, tbs, sign: (digest, t) => (tbs.push(t), signer.sign(digest, t)) };
}

async function makeCaAsync(curve: 'P-256' | 'P-384' | 'rsa', trustDomain = 'example.org'): Promise<{ ca: Certificate; signer: CertificateSigner }> {
  const { privateKey, publicKey } = curve === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: curve });
  const signer = keyObjectSigner(privateKey);
  const der = await buildCertificate(caTemplate({ trustDomain, now: NOW, ttlMs: 24 * HOUR }), { publicKeyDer: publicKey.export({ type: 'spki', format: 'der' }), signer });
  return { signer, ca: parseCertificate(der) };
}

const leafKey = (): Uint8Array => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });

describe('X509SvidEncoder', () => {
  const cases: { name: string; curve: 'P-256' | 'P-384' | 'rsa'; dnsNames?: string[]; subject?: NameSpec; ttlMs?: number }[] = [
    { name: 'P-256 CA, no DNS names', curve: 'P-256' },
    { name: 'P-256 CA, DNS names (CN = first)', curve: 'P-256', dnsNames: ['a.example.org', 'b.example.org'] },
    { name: 'P-384 CA, custom subject', curve: 'P-384', subject: { country: 'DE', organization: 'Acme', organizationalUnit: 'Ops' } },
    { name: 'RSA CA, TTL past the CA', curve: 'rsa', ttlMs: 100 * HOUR },
  ];
  for (const c of cases) {
    it(`makes the bytes buildCertificate(x509SvidTemplate(...)) makes: ${c.name}`, async () => {
      const { ca, signer } = await makeCaAsync(c.curve);
      const a = recording(signer);
      const b = recording(signer);
      const enc = new X509SvidEncoder(ca, a, c.subject);
      const ra = counterRandom(7);
      const rb = counterRandom(7);
      for (let i = 0; i < 20; i++) {
        const spki = leafKey();
        const spiffeId = `spiffe://example.org/workload/${i}`;
        const got = await enc.build({ spiffeId, publicKey: i % 2 ? spki : parseSpki(spki), now: NOW, ttlMs: c.ttlMs ?? HOUR, random: ra, ...(c.dnsNames ? { dnsNames: c.dnsNames } : {}) });
        const template = x509SvidTemplate({ spiffeId, now: NOW, ttlMs: c.ttlMs ?? HOUR, issuer: ca, random: rb, ...(c.dnsNames ? { dnsNames: c.dnsNames } : {}), ...(c.subject ? { subject: c.subject } : {}) });
        const want = await buildCertificate(template, { publicKeyDer: spki, signer: b, issuer: ca });
        expect(Buffer.from(a.tbs[i]!).equals(Buffer.from(b.tbs[i]!))).toBe(true);
        expect(got.notAfter.getTime()).toBe(template.notAfter.getTime());
        expect(got.notBefore.getTime()).toBe(template.notBefore.getTime());
        // Both verify with the CA key (ECDSA signatures differ, the certificates otherwise not).
        const x = new X509Certificate(got.der);
        expect(x.verify(new X509Certificate(ca.der).publicKey)).toBe(true);
        expect(x.subjectAltName).toContain(`URI:${spiffeId}`);
        expect(parseCertificate(got.der).tbs).toEqual(parseCertificate(want).tbs);
      }
    });
  }

  it('gives serial numbers with the high bit set a leading zero, and skips an all-zero draw', async () => {
    const { ca, signer } = await makeCaAsync('P-256');
    const draws = [new Uint8Array(16), Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x80 : i))];
    const enc = new X509SvidEncoder(ca, signer);
    const got = await enc.build({ spiffeId: 'spiffe://example.org/w', publicKey: leafKey(), now: NOW, ttlMs: HOUR, random: () => draws.shift()! });
    expect(parseCertificate(got.der).serialNumber).toBe(BigInt(`0x80${Buffer.from(Uint8Array.from({ length: 15 }, (_, i) => i + 1)).toString('hex')}`));
    expect(draws).toHaveLength(0);
  });

  it('draws distinct serial numbers by default', async () => {
    const { ca, signer } = await makeCaAsync('P-256');
    const enc = new X509SvidEncoder(ca, signer);
    const serials = new Set<bigint>();
    const publicKey = leafKey();
    for (let i = 0; i < 300; i++) {
      const { tbs } = enc.tbs({ spiffeId: 'spiffe://example.org/w', publicKey, now: NOW, ttlMs: HOUR });
      const der = (await enc.build({ spiffeId: 'spiffe://example.org/w', publicKey, now: NOW, ttlMs: HOUR })).der;
      expect(tbs.length).toBeGreaterThan(0);
      serials.add(parseCertificate(der).serialNumber);
    }
    expect(serials.size).toBe(300);
  });

  it('keeps the profile checks: path, trust domain, CA expiry, signer form', async () => {
    const { ca, signer } = await makeCaAsync('P-256');
    const enc = new X509SvidEncoder(ca, signer);
    const base = { publicKey: leafKey(), now: NOW, ttlMs: HOUR };
    await expect(enc.build({ ...base, spiffeId: 'spiffe://example.org' })).rejects.toThrow(/an SVID needs a path/);
    await expect(enc.build({ ...base, spiffeId: 'spiffe://other.org/w' })).rejects.toThrow(/not a member of trust domain "example.org"/);
    await expect(enc.build({ ...base, spiffeId: 'http://example.org/w' })).rejects.toThrow(X509Error);
    await expect(enc.build({ ...base, spiffeId: 'spiffe://example.org/w', now: new Date(NOW.getTime() + 25 * HOUR) })).rejects.toThrow(/expired/);
    const bad = new X509SvidEncoder(ca, { algorithm: 'ecdsa-sha256', sign: () => Uint8Array.of(1, 2, 3) });
    await expect(bad.build({ ...base, spiffeId: 'spiffe://example.org/w' })).rejects.toMatchObject({ code: 'ERR_X509_SIGNER' });
    expect(() => new X509SvidEncoder(ca, { algorithm: 'rsa-pkcs1-sha256', sign: () => new Uint8Array(256) })).toThrow(/cannot be made with the issuer's ec key/);
  });
});
