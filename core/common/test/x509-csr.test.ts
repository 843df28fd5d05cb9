import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DER, X509Error, decodeDer, formatName, parseCSR, parseCSRAsync, parseCertificate, type CertificateRequest } from '../src/x509/index.js';

let dir: string;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `openssl req -new` with the given key algorithm options, returns the DER CSR. */
function opensslCsr(name: string, keyArgs: string[], extra: string[] = []): Uint8Array {
  openssl('genpkey', ...keyArgs, '-out', `${name}.key`);
  openssl('req', '-new', '-key', `${name}.key`, '-subj', '/CN=x', ...extra, '-outform', 'DER', '-out', `${name}.der`);
  return new Uint8Array(readFileSync(join(dir, `${name}.der`)));
}

const SAN = ['-addext', 'subjectAltName=URI:spiffe://example.org/w,DNS:a.example'];
let ec: Uint8Array;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'x509-csr-'));
  ec = opensslCsr('ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], SAN);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function error(fn: () => unknown): X509Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(X509Error);
    return err as X509Error;
  }
  throw new Error('expected an X509Error');
}

/** Re-assembles a CSR from its three parts (to swap one). */
function reassemble(der: Uint8Array, replace: { info?: Uint8Array; alg?: Uint8Array; sig?: Uint8Array }): Uint8Array {
  const [info, alg, sig] = decodeDer(der).children().map((c) => c.bytes) as [Uint8Array, Uint8Array, Uint8Array];
  return DER.sequence(replace.info ?? info, replace.alg ?? alg, replace.sig ?? sig);
}

describe('parseCSR on CSRs made by openssl', () => {
  it('P-256 with URI and DNS SANs: signature valid', () => {
    const csr = parseCSR(ec);
    expect(csr.signatureValid).toBe(true);
    expect(csr.signatureAlgorithm).toBe('ecdsa-sha256');
    expect(formatName(csr.subject)).toBe('CN=x');
    expect(csr.uris).toEqual(['spiffe://example.org/w']);
    expect(csr.dnsNames).toEqual(['a.example']);
    expect(csr.publicKey.keyType).toBe('ec');
    const pub = execFileSync('openssl', ['pkey', '-in', join(dir, 'ec.key'), '-pubout', '-outform', 'DER']);
    expect(Buffer.from(csr.publicKeyDer).equals(pub)).toBe(true);
  });

  it.each([
    ['RSA-2048', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], [], 'rsa-pkcs1-sha256'],
    ['P-384 with SHA-384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['-sha384'], 'ecdsa-sha384'],
    ['Ed25519', ['-algorithm', 'ED25519'], [], 'ed25519'],
    ['P-521 with SHA-512', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'], ['-sha512'], 'ecdsa-sha512'],
  ])('%s: signature valid, sync and async; tampered invalid', async (name, keyArgs, extra, alg) => {
    const der = opensslCsr(name.replace(/\W/g, ''), keyArgs, [...extra, ...SAN]);
    const csr = parseCSR(der);
    expect(csr.signatureAlgorithm).toBe(alg);
    expect(csr.signatureValid).toBe(true);
    expect(csr.uris).toEqual(['spiffe://example.org/w']);
    expect(await parseCSRAsync(der)).toEqual(csr);
    const tampered = Uint8Array.from(der);
    tampered[Buffer.from(tampered).indexOf('a.example')] = 0x62;
    expect(parseCSR(tampered).signatureValid).toBe(false);
    expect((await parseCSRAsync(tampered)).signatureValid).toBe(false);
  });

  it('no extensions: empty SAN lists', () => {
    const csr = parseCSR(opensslCsr('plain', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']));
    expect(csr).toMatchObject({ signatureValid: true, uris: [], dnsNames: [] });
  });

  it('a tampered CertificationRequestInfo is signatureValid false', () => {
    const tampered = Uint8Array.from(ec);
    const at = Buffer.from(tampered).indexOf('a.example');
    tampered[at] = 'b'.charCodeAt(0);
    const csr = parseCSR(tampered);
    expect(csr.dnsNames).toEqual(['b.example']);
    expect(csr.signatureValid).toBe(false);
  });

  it('a signature from another key is signatureValid false', () => {
    const other = opensslCsr('other', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], SAN);
    const sig = (decodeDer(other).children()[2] as { bytes: Uint8Array }).bytes;
    expect(parseCSR(reassemble(ec, { sig })).signatureValid).toBe(false);
  });
});

describe('parseCSR refuses garbage precisely', () => {
  const cases: Array<[string, () => Uint8Array, string, RegExp]> = [
    ['empty input', () => new Uint8Array(0), 'ERR_DER', /truncated: missing tag/],
    ['not a SEQUENCE', () => DER.integer(5), 'ERR_X509_PARSE', /CSR: expected SEQUENCE at offset 0, found INTEGER/],
    ['a SEQUENCE of two', () => DER.sequence(DER.null(), DER.null()), 'ERR_X509_PARSE', /CSR has 2 parts, expected 3/],
    ['trailing byte', () => Uint8Array.from([...ec, 0]), 'ERR_DER', /1 trailing bytes after the SEQUENCE/],
    ['huge length', () => Uint8Array.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0]), 'ERR_DER', /claims 4294967295 bytes but only 1 remain/],
    ['indefinite length', () => Uint8Array.from([0x30, 0x80, 0, 0]), 'ERR_DER', /indefinite length/],
    ['SHA-1 signature', () => reassemble(ec, { alg: DER.sequence(DER.oid('1.2.840.10045.4.1')) }), 'ERR_X509_UNSUPPORTED', /unsupported signature algorithm 1.2.840.10045.4.1/],
    ['RSA algorithm on an EC key', () => reassemble(ec, { alg: DER.sequence(DER.oid('1.2.840.113549.1.1.11'), DER.null()) }), 'ERR_X509_PARSE', /rsa-pkcs1-sha256 does not fit its ec public key/],
    ['algorithm parameters that are not NULL', () => reassemble(ec, { alg: DER.sequence(DER.oid('1.2.840.10045.4.3.2'), DER.integer(1)) }), 'ERR_X509_PARSE', /parameters: expected NULL/],
    ['signature with unused bits', () => reassemble(ec, { sig: DER.bitString(Uint8Array.of(0xf0), 4) }), 'ERR_X509_PARSE', /signature has unused bits/],
    ['version 1', () => {
      const parts = decodeDer(decodeDer(ec).children()[0]?.bytes as Uint8Array).children().map((c) => c.bytes);
      return reassemble(ec, { info: DER.sequence(DER.integer(1), ...parts.slice(1)) });
    }, 'ERR_X509_PARSE', /unsupported CSR version 1/],
    ['a point not on the curve', () => {
      const tampered = Uint8Array.from(ec);
      const csr = parseCSR(ec);
      const at = Buffer.from(tampered).indexOf(Buffer.from(csr.publicKey.keyBits));
      tampered[at + 40] = (tampered[at + 40] as number) ^ 1;
      return tampered;
    }, 'ERR_X509_PARSE', /CSR public key: not a usable public key/],
  ];
  it.each(cases)('%s', async (_name, make, code, message) => {
    const err = error(() => parseCSR(make()));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    await expect(parseCSRAsync(make())).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  });

  it('every truncation throws an X509Error', () => {
    for (let n = 0; n < ec.length; n++) expect(() => parseCSR(ec.subarray(0, n))).toThrow(X509Error);
  });

  it('random corruption never escapes as anything but X509Error or a parsed CSR', () => {
    let parsed = 0;
    let valid = 0;
    for (let i = 0; i < 3000; i++) {
      const buf = Uint8Array.from(ec);
      for (let k = 0; k <= i % 3; k++) buf[Math.floor(Math.random() * buf.length)] = Math.floor(Math.random() * 256);
      let csr: CertificateRequest | undefined;
      try {
        csr = parseCSR(buf);
      } catch (err) {
        if (!(err instanceof X509Error)) throw err;
        continue;
      }
      parsed++;
      if (csr.signatureValid) valid++;
    }
    expect(parsed).toBeGreaterThan(0);
    // A mutation may hit the signature's unused bits octet (0x00 → parse error) or a no-op; it never makes a forgery.
    expect(valid).toBeLessThan(parsed);
  });

  it('hostile nesting inside the subject is rejected without recursion', () => {
    let nested: Uint8Array = DER.null();
    for (let i = 0; i < 5000; i++) nested = DER.set(DER.sequence(nested));
    const info = DER.sequence(DER.integer(0), DER.sequence(nested), DER.null());
    const start = performance.now();
    const err = error(() => parseCSR(DER.sequence(info, DER.sequence(DER.oid('1.2.840.10045.4.3.2')), DER.bitString(new Uint8Array(8)))));
    expect(err.message).toMatch(/CSR subject attribute: expected SEQUENCE|attribute has/);
    expect(performance.now() - start).toBeLessThan(50);
  });

  it('a megabyte of attributes is refused quickly', () => {
    const [info] = decodeDer(ec).children() as [ReturnType<typeof decodeDer>];
    const [version, subject, spki] = info.children().map((c) => c.bytes) as [Uint8Array, Uint8Array, Uint8Array];
    const flood = DER.tlv(0xa0, new Uint8Array(600_000).map((_, i) => (i % 2 === 0 ? 0x05 : 0))); // 300,000 NULLs
    const start = performance.now();
    const err = error(() => parseCSR(reassemble(ec, { info: DER.sequence(version, subject, spki, flood) })));
    expect(err.message).toMatch(/more than 10000 elements in one \[0\]/);
    expect(performance.now() - start).toBeLessThan(200);
  });

  it('a certificate is not a CSR', () => {
    openssl('req', '-x509', '-key', 'ec.key', '-subj', '/CN=x', '-days', '1', '-outform', 'DER', '-out', 'cert.der');
    const cert = new Uint8Array(readFileSync(join(dir, 'cert.der')));
    expect(parseCertificate(cert).subject.rdns).toEqual([[{ oid: '2.5.4.3', value: 'x' }]]);
    expect(() => parseCSR(cert)).toThrow(/CSR version: expected INTEGER|CertificationRequestInfo has/);
  });
});
