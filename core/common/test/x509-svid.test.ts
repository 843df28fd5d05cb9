import { execFileSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DER,
  OID,
  X509Error,
  buildCertificate,
  caTemplate,
  keyObjectSigner,
  parseCSR,
  parseCertificate,
  pemDecode,
  validateX509Svid,
  x509SvidTemplate,
  type CertificateTemplate,
} from '../src/x509/index.js';

const NOW = new Date('2031-05-06T07:08:09Z');
const HOUR = 3_600_000;

interface Ca {
  der: Uint8Array;
  key: KeyObject;
}

const newKey = (): { privateKey: KeyObject; spki: Uint8Array } => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) };
};

async function makeCa(opts: { issuer?: Ca; now?: Date; ttlMs?: number; patch?: Partial<CertificateTemplate>; td?: string } = {}): Promise<Ca> {
  const k = newKey();
  const issuer = opts.issuer ? parseCertificate(opts.issuer.der) : undefined;
  const template = { ...caTemplate({ trustDomain: opts.td ?? 'example.org', now: opts.now ?? NOW, ttlMs: opts.ttlMs ?? 24 * HOUR, ...(issuer ? { issuer } : {}) }), ...opts.patch };
  const der = await buildCertificate(template, { publicKeyDer: k.spki, signer: keyObjectSigner(opts.issuer?.key ?? k.privateKey), ...(issuer ? { issuer } : {}) });
  return { der, key: k.privateKey };
}

const leafKey = newKey();

async function makeLeaf(ca: Ca, patch: Partial<CertificateTemplate> = {}, id = 'spiffe://example.org/workload'): Promise<Uint8Array> {
  const issuer = parseCertificate(ca.der);
  const template = { ...x509SvidTemplate({ spiffeId: id, now: NOW, ttlMs: HOUR, issuer }), ...patch };
  return buildCertificate(template, { publicKeyDer: leafKey.spki, signer: keyObjectSigner(ca.key), issuer });
}

let root: Ca;
let inter: Ca;

beforeAll(async () => {
  root = await makeCa();
  inter = await makeCa({ issuer: root });
});

function svidError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(X509Error);
    expect((err as X509Error).code).toBe('ERR_X509_SVID');
    return (err as Error).message;
  }
  throw new Error('expected the SVID to be refused');
}

describe('validateX509Svid accepts', () => {
  it('leaf → intermediate → root, returning the SPIFFE ID and the path', async () => {
    const leaf = await makeLeaf(inter);
    const v = validateX509Svid(leaf, [inter.der], [root.der], NOW);
    expect(v).toMatchObject({ spiffeId: 'spiffe://example.org/workload', trustDomain: 'example.org', path: '/workload' });
    expect(v.chain.map((c) => c.der)).toEqual([leaf, inter.der, root.der]);
  });

  it('intermediates in any order, with unrelated ones, and a bundle holding old and new roots', async () => {
    const other = await makeCa();
    const newRoot = await makeCa();
    const leaf = await makeLeaf(inter);
    expect(validateX509Svid(leaf, [other.der, inter.der], [newRoot.der, root.der], NOW).chain).toHaveLength(3);
  });

  it('at the exact edges of the validity period', async () => {
    const leaf = await makeLeaf(root);
    const c = parseCertificate(leaf);
    expect(() => validateX509Svid(leaf, [], [root.der], c.notBefore)).not.toThrow();
    expect(() => validateX509Svid(leaf, [], [root.der], c.notAfter)).not.toThrow();
  });

  it('an SVID made by openssl, an independent producer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'x509-svid-'));
    try {
      const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
      run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/O=Test CA', '-days', '1',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectAltName=URI:spiffe://example.org');
      run('req', '-new', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/O=Test', '-addext', 'subjectAltName=URI:spiffe://example.org/os');
      writeFileSync(join(dir, 'ext.cnf'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
      run('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-days', '1', '-copy_extensions', 'copy', '-extfile', 'ext.cnf', '-out', 'leaf.pem');
      const csr = parseCSR(pemDecode(readFileSync(join(dir, 'leaf.csr'), 'utf8'), 'CERTIFICATE REQUEST')[0] as Uint8Array);
      expect(csr).toMatchObject({ signatureValid: true, uris: ['spiffe://example.org/os'] });
      const [leaf] = pemDecode(readFileSync(join(dir, 'leaf.pem'), 'utf8'));
      const [ca] = pemDecode(readFileSync(join(dir, 'ca.pem'), 'utf8'));
      expect(validateX509Svid(leaf as Uint8Array, [], [ca as Uint8Array], new Date()).spiffeId).toBe('spiffe://example.org/os');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('validateX509Svid refuses leaves breaking the SPIFFE rules', () => {
  const keyUsageExt = (critical: boolean): CertificateTemplate['extraExtensions'] => [{ oid: OID.keyUsage, critical, value: DER.bitString(Uint8Array.of(0x80), 7) }];
  const cases: Array<[string, Partial<CertificateTemplate>, RegExp, string?]> = [
    ['no URI SAN', { uris: [], dnsNames: ['a.example'] }, /exactly one URI SAN, found 0/],
    ['two URI SANs', { uris: ['spiffe://example.org/a', 'spiffe://example.org/b'] }, /exactly one URI SAN, found 2/],
    ['a non-SPIFFE URI', { uris: ['https://example.org/a'] }, /is not a SPIFFE ID: scheme is not "spiffe"/],
    ['an uppercase trust domain', { uris: ['spiffe://Example.org/a'] }, /trust domain characters/],
    ['a root path', { uris: ['spiffe://example.org'] }, /SPIFFE ID spiffe:\/\/example.org has no path/],
    ['CA=true', { basicConstraints: { ca: true } }, /leaf certificate has CA=true/],
    ['no keyUsage', { keyUsage: undefined }, /no keyUsage extension/],
    ['non-critical keyUsage', { keyUsage: undefined, extraExtensions: keyUsageExt(false) }, /keyUsage extension is not critical/],
    ['keyUsage without digitalSignature', { keyUsage: ['keyEncipherment'] }, /lacks digitalSignature/],
    ['keyUsage with keyCertSign', { keyUsage: ['digitalSignature', 'keyCertSign'] }, /keyUsage has keyCertSign/],
    ['keyUsage with cRLSign', { keyUsage: ['digitalSignature', 'cRLSign'] }, /keyUsage has cRLSign/],
    ['EKU without clientAuth', { extKeyUsage: ['serverAuth'] }, /must include serverAuth and clientAuth, has serverAuth/],
    ['an unknown critical extension', { extraExtensions: [{ oid: '1.2.3.4', critical: true, value: DER.null() }] }, /unhandled critical extensions 1.2.3.4/],
    ['an expired leaf', { notAfter: new Date(NOW.getTime() - 1000) , notBefore: new Date(NOW.getTime() - 2000) }, /expired at 2031-05-06T07:08:08.000Z/],
    ['a leaf not yet valid', { notBefore: new Date(NOW.getTime() + 1000) }, /not valid before 2031-05-06T07:08:10.000Z/],
  ];
  it.each(cases)('%s', async (_name, patch, message) => {
    const leaf = await makeLeaf(root, patch);
    expect(svidError(() => validateX509Svid(leaf, [], [root.der], NOW))).toMatch(message);
  });

  it('EKU absent is fine', async () => {
    const leaf = await makeLeaf(root, { extKeyUsage: undefined });
    expect(validateX509Svid(leaf, [], [root.der], NOW).spiffeId).toBe('spiffe://example.org/workload');
  });
});

describe('validateX509Svid refuses broken paths', () => {
  it('a missing intermediate, an empty bundle, a foreign root', async () => {
    const leaf = await makeLeaf(inter);
    expect(svidError(() => validateX509Svid(leaf, [], [root.der], NOW))).toMatch(/no issuer of "O=SPIRE,C=US" \(issuer "SERIALNUMBER=\d+,O=SPIFFE,C=US"\)/);
    expect(svidError(() => validateX509Svid(leaf, [inter.der], [], NOW))).toMatch(/trust bundle has no X.509 authorities/);
    const foreign = await makeCa();
    expect(svidError(() => validateX509Svid(leaf, [inter.der], [foreign.der], NOW))).toMatch(/no issuer of/);
  });

  it('a signature that does not verify', async () => {
    // Same subject, different key, no SKI: only the signature tells them apart.
    const patch = { subject: { organization: 'Same' }, subjectKeyId: false } as const;
    const a = await makeCa({ patch });
    const b = await makeCa({ patch });
    const leaf = await makeLeaf(a);
    expect(svidError(() => validateX509Svid(leaf, [], [b.der], NOW))).toMatch(/signature of "O=SPIRE,C=US" does not verify with the key of "O=Same"/);
    expect(validateX509Svid(leaf, [], [b.der, a.der], NOW).chain[1]?.der).toEqual(a.der);
  });

  it('an expired intermediate or root', async () => {
    const early = new Date(NOW.getTime() - 2 * HOUR);
    const shortInter = await makeCa({ issuer: root, now: early, ttlMs: HOUR });
    const leaf = await buildCertificate(
      { ...x509SvidTemplate({ spiffeId: 'spiffe://example.org/w', now: early, ttlMs: HOUR, issuer: parseCertificate(shortInter.der) }), notAfter: new Date(NOW.getTime() + HOUR) },
      { publicKeyDer: leafKey.spki, signer: keyObjectSigner(shortInter.key), issuer: parseCertificate(shortInter.der) },
    );
    expect(svidError(() => validateX509Svid(leaf, [shortInter.der], [root.der], NOW))).toMatch(/intermediate "SERIALNUMBER=\d+,O=SPIFFE,C=US" expired at 2031-05-06T06:08:09.000Z/);
    const oldRoot = await makeCa({ now: early, ttlMs: HOUR });
    const leaf2 = await buildCertificate(
      { ...x509SvidTemplate({ spiffeId: 'spiffe://example.org/w', now: early, ttlMs: HOUR, issuer: parseCertificate(oldRoot.der) }), notAfter: new Date(NOW.getTime() + HOUR) },
      { publicKeyDer: leafKey.spki, signer: keyObjectSigner(oldRoot.key), issuer: parseCertificate(oldRoot.der) },
    );
    expect(svidError(() => validateX509Svid(leaf2, [], [oldRoot.der], NOW))).toMatch(/bundle authority .* expired/);
  });

  it('signers that are not CAs, lack keyCertSign, or carry a SPIFFE ID with a path', async () => {
    for (const [patch, message] of [
      [{ basicConstraints: { ca: false } }, /is not a CA/],
      [{ basicConstraints: undefined }, /is not a CA/],
      [{ keyUsage: ['digitalSignature'] }, /keyUsage lacks keyCertSign/],
      [{ uris: ['spiffe://example.org/ca'] }, /has a SPIFFE ID with a path \(spiffe:\/\/example.org\/ca\)/],
    ] as Array<[Partial<CertificateTemplate>, RegExp]>) {
      const bad = await makeCa({ issuer: root, patch });
      const leaf = await makeLeaf(bad);
      expect(svidError(() => validateX509Svid(leaf, [bad.der], [root.der], NOW))).toMatch(message);
    }
  });

  it('pathLen', async () => {
    const strict = await makeCa({ patch: { basicConstraints: { ca: true, pathLen: 0 } } });
    const mid = await makeCa({ issuer: strict });
    expect(validateX509Svid(await makeLeaf(strict), [], [strict.der], NOW).chain).toHaveLength(2);
    expect(svidError(() => validateX509Svid(mid.der, [], [strict.der], NOW))).toMatch(/exactly one URI SAN|has no path/);
    const leaf = await makeLeaf(mid);
    expect(svidError(() => validateX509Svid(leaf, [mid.der], [strict.der], NOW))).toMatch(/allows 0 intermediates below it, the path has 1/);
  });

  it('URI name constraints', async () => {
    const constrained = await makeCa({ patch: { nameConstraints: { permittedUriDomains: ['example.org'], excludedDnsDomains: ['bad.example'] } } });
    expect(validateX509Svid(await makeLeaf(constrained), [], [constrained.der], NOW).spiffeId).toBe('spiffe://example.org/workload');
    const other = await makeLeaf(constrained, { uris: ['spiffe://other.org/x'] });
    expect(svidError(() => validateX509Svid(other, [], [constrained.der], NOW))).toMatch(/URI name other.org is not permitted/);
    const dns = await makeLeaf(constrained, { dnsNames: ['x.bad.example'] });
    expect(svidError(() => validateX509Svid(dns, [], [constrained.der], NOW))).toMatch(/DNS name x.bad.example is excluded/);
  });

  it('gives up on a flood of look-alike issuers', async () => {
    const patch = { subject: { organization: 'Same' }, subjectKeyId: false } as const;
    const decoys = await Promise.all(Array.from({ length: 70 }, () => makeCa({ patch })));
    const real = await makeCa({ patch });
    const leaf = await makeLeaf(real);
    expect(svidError(() => validateX509Svid(leaf, decoys.map((d) => d.der), [real.der], NOW))).toMatch(/too many candidate issuers/);
  });

  it('garbage in any position is a precise ERR_X509_SVID', async () => {
    const leaf = await makeLeaf(inter);
    expect(svidError(() => validateX509Svid(new Uint8Array([0x30, 0x03, 1]), [], [root.der], NOW))).toMatch(/^leaf: DER: at offset 0: truncated/);
    expect(svidError(() => validateX509Svid(leaf, [leaf.subarray(1)], [root.der], NOW))).toMatch(/^intermediate 0: DER/);
    expect(svidError(() => validateX509Svid(leaf, [inter.der], [DER.null()], NOW))).toMatch(/^bundle authority 0: certificate: expected SEQUENCE/);
    // Every single-bit flip of the leaf: refused with an X509Error, and whatever
    // parseCertificate accepts node:crypto (OpenSSL) can read too.
    for (let pos = 0; pos < leaf.length; pos++) {
      for (let bit = 0; bit < 8; bit++) {
        const buf = Uint8Array.from(leaf);
        buf[pos] = (buf[pos] as number) ^ (1 << bit);
        let parsed = true;
        try {
          parseCertificate(buf);
        } catch (err) {
          expect(err).toBeInstanceOf(X509Error);
          parsed = false;
        }
        if (parsed) expect(() => new X509Certificate(buf)).not.toThrow();
        expect(() => validateX509Svid(buf, [inter.der], [root.der], NOW)).toThrow(X509Error);
      }
    }
  });
});
