import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BundleError,
  concatCertificates,
  decodeJwks,
  ecdsaDerToJose,
  ecdsaJoseToDer,
  encodeJwks,
  jwkToSpki,
  jwtBundleMap,
  keyObjectToJwk,
  parseJwtBundleMap,
  parseX509BundleMap,
  splitCertificates,
  spkiToJwk,
  validateJwtSvid,
  x509BundleMap,
  type Bundle,
  type BundleErrorReason,
  type JwtAuthority,
} from '../src/spiffe/index.js';
import { Workdir, makeCa, makeKey, type TestCa, type TestKey } from './spiffe-fixtures.js';

let dir: Workdir;
let cas: TestCa[];
let jwtKey: TestKey;
let own: Bundle;
let fed: Bundle;

beforeAll(() => {
  dir = new Workdir();
  cas = [makeCa(dir, 'P-256'), makeCa(dir, 'RSA'), makeCa(dir, 'P-384', 'other.org')];
  jwtKey = makeKey(dir, 'P-256');
  own = {
    trustDomain: 'example.org', x509Authorities: [cas[0]!.der, cas[1]!.der],
    jwtAuthorities: [{ keyId: 'k1', publicKeyDer: jwtKey.spki, expiresAt: 5 }], refreshHint: 0, sequenceNumber: 3,
  };
  fed = { trustDomain: 'other.org', x509Authorities: [cas[2]!.der], jwtAuthorities: [], refreshHint: 0, sequenceNumber: 0 };
});
afterAll(() => dir.close());

function failure(fn: () => unknown): BundleError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BundleError);
    return err as BundleError;
  }
  throw new Error('expected a BundleError');
}

describe('concatenated DER certificates', () => {
  it('round-trips', () => {
    const blob = concatCertificates(cas.map((c) => c.der));
    expect(blob.length).toBe(cas.reduce((n, c) => n + c.der.length, 0));
    expect(splitCertificates(blob)).toEqual(cas.map((c) => c.der));
    expect(splitCertificates(new Uint8Array(0))).toEqual([]);
    expect(splitCertificates(new Uint8Array(blob))).toHaveLength(3);
  });

  it.each<[string, () => Uint8Array, BundleErrorReason, RegExp]>([
    ['truncated', () => concatCertificates([cas[0]!.der, cas[1]!.der.subarray(0, 100)]), 'malformed', new RegExp('certificate 2 at byte \\d+ is not a complete DER SEQUENCE \\(100 bytes left\\)')],
    ['PEM text', () => Buffer.from('-----BEGIN CERTIFICATE-----\n'), 'malformed', /certificate 1 at byte 0 is not a complete DER SEQUENCE/],
    ['trailing garbage', () => Buffer.concat([cas[0]!.der, Buffer.from([0])]), 'malformed', /certificate 2 at byte/],
    ['a DER SEQUENCE that is not a certificate', () => jwtKey.spki, 'invalid-certificate', /certificate 1 at byte 0 does not parse/],
  ])('refuses %s', (_name, make, reason, message) => {
    const err = failure(() => splitCertificates(make()));
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
  });
});

describe('ECDSA signature forms', () => {
  it.each([['P-256', 32, 'sha256'], ['P-384', 48, 'sha384'], ['P-521', 66, 'sha512']] as const)('%s: DER ↔ JOSE over many real signatures', (curve, size, hash) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
    for (let i = 0; i < 150; i++) {
      const msg = Buffer.from(`message ${i}`);
      const der = nodeSign(hash, msg, privateKey);
      const jose = ecdsaDerToJose(der, size);
      expect(jose?.length).toBe(2 * size);
      expect(nodeVerify(hash, msg, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose as Buffer)).toBe(true);
      expect(ecdsaJoseToDer(jose as Buffer)).toEqual(der);
    }
  });

  it('pads short integers and strips the sign byte', () => {
    const der = Buffer.from([0x30, 0x08, 0x02, 0x02, 0x00, 0x80, 0x02, 0x02, 0x01, 0x02]);
    expect(ecdsaDerToJose(der, 4)).toEqual(Buffer.from([0, 0, 0, 0x80, 0, 0, 1, 2]));
    expect(ecdsaJoseToDer(Buffer.from([0, 0, 0, 0x80, 0, 0, 1, 2]))).toEqual(der);
  });

  it.each<[string, number[]]>([
    ['not a SEQUENCE', [0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
    ['length mismatch', [0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
    ['trailing bytes', [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00]],
    ['negative integer', [0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01]],
    ['non-minimal integer', [0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01]],
    ['empty integer', [0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01]],
    ['one integer', [0x30, 0x03, 0x02, 0x01, 0x01]],
    ['integer too big for the curve', [0x30, 0x08, 0x02, 0x03, 0x01, 0x02, 0x03, 0x02, 0x01, 0x01]],
    ['non-minimal length', [0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
  ])('refuses %s', (_name, bytes) => {
    expect(ecdsaDerToJose(Buffer.from(bytes), 2)).toBeUndefined();
  });
});

// The key's JWK, exported from a copy re-imported from DER: Node 20 can deadlock JWK-exporting a generated KeyObject.
function jwkViaDer(key: KeyObject): JsonWebKey {
  return key.type === 'private'
    ? createPrivateKey({ key: key.export({ type: 'pkcs8', format: 'der' }), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' })
    : createPublicKey({ key: key.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' }).export({ format: 'jwk' });
}

describe('JWK ↔ SPKI', () => {
  it.each([
    ['EC P-256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['EC P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' })],
    ['EC P-521', () => generateKeyPairSync('ec', { namedCurve: 'P-521' })],
    ['RSA', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['Ed25519', () => generateKeyPairSync('ed25519')],
  ])('%s round-trips', (_name, gen) => {
    const { publicKey } = gen();
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const jwk = spkiToJwk(spki);
    expect(jwk).toEqual(jwkViaDer(publicKey));
    expect(jwkToSpki(jwk)).toEqual(spki);
  });

  it('keyObjectToJwk takes generated keys, public or private, and gives the public JWK', () => {
    for (const { publicKey, privateKey } of [generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('rsa', { modulusLength: 2048 })]) {
      const expected = spkiToJwk(publicKey.export({ type: 'spki', format: 'der' }));
      expect(keyObjectToJwk(publicKey)).toEqual(expected);
      expect(keyObjectToJwk(privateKey)).toEqual(expected);
    }
  });

  it('never turns a private JWK into a private key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = jwkToSpki({ ...(jwkViaDer(privateKey) as { kty: string }) });
    expect(createPublicKey({ key: spki, format: 'der', type: 'spki' }).equals(publicKey)).toBe(true);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['unknown kty', { kty: 'oct', k: 'AAAA' }, /unsupported JWK key type "oct" \(supported: EC, RSA, OKP\)/],
    ['missing crv', { kty: 'EC', x: 'AA', y: 'AA' }, /EC JWK is missing "crv"/],
    ['X25519 is not a signing key', { kty: 'OKP', crv: 'X25519', x: 'AA' }, /unsupported curve "X25519"/],
    ['short coordinates', { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }, /invalid EC JWK/],
  ])('refuses %s', (_name, jwk, message) => {
    const err = failure(() => jwkToSpki(jwk as { kty: string }));
    expect(err.reason).toBe('invalid-key');
    expect(err.message).toMatch(message);
  });
});

describe('Workload API JWKS (standard form)', () => {
  it('has no use or spiffe_* members, sets kid, 4-space indent, and round-trips', () => {
    const text = encodeJwks(own.jwtAuthorities).toString();
    const jwk = spkiToJwk(jwtKey.spki);
    expect(text).toBe(JSON.stringify({ keys: [{ kty: 'EC', kid: 'k1', crv: 'P-256', x: jwk.x, y: jwk.y }] }, null, 4));
    expect(decodeJwks(text)).toEqual([{ keyId: 'k1', publicKeyDer: jwtKey.spki, expiresAt: 0 }]);
    expect(encodeJwks([]).toString()).toBe('{\n    "keys": []\n}');
  });

  it.each<[string, string, BundleErrorReason, RegExp]>([
    ['missing kid', JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' }] }), 'missing-kid', /JWKS key 0 has no "kid"/],
    ['unknown kty (go-jose refuses it)', JSON.stringify({ keys: [{ kty: 'XYZ', kid: 'k' }] }), 'invalid-key', /JWKS key 0 has unsupported kty "XYZ"/],
    ['no keys', '{}', 'malformed', /JWKS has no "keys" member/],
    ['not JSON', 'nope', 'malformed', /unable to parse JWKS/],
  ])('refuses %s', (_name, text, reason, message) => {
    const err = failure(() => decodeJwks(text));
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
  });
});

describe('Workload API bundle maps', () => {
  it('are keyed by trust domain SPIFFE ID and round-trip', () => {
    const x509 = x509BundleMap([own, fed]);
    expect(Object.keys(x509)).toEqual(['spiffe://example.org', 'spiffe://other.org']);
    expect(x509['spiffe://example.org']).toEqual(Buffer.concat([cas[0]!.der, cas[1]!.der]));
    const parsed = parseX509BundleMap(x509);
    expect([...parsed.keys()]).toEqual(['example.org', 'other.org']);
    expect(parsed.get('other.org')).toEqual([cas[2]!.der]);

    const jwt = jwtBundleMap([own, fed]);
    expect(JSON.parse(jwt['spiffe://other.org']!.toString())).toEqual({ keys: [] });
    const keys = parseJwtBundleMap(new Map(Object.entries(jwt)));
    expect(keys.get('example.org')).toEqual([{ keyId: 'k1', publicKeyDer: jwtKey.spki, expiresAt: 0 }]);
  });

  it('accept bare trust domain names as keys, as go-spiffe does', () => {
    expect([...parseX509BundleMap({ 'example.org': cas[0]!.der }).keys()]).toEqual(['example.org']);
  });

  it('feed the JWT validator directly', () => {
    const keys = parseJwtBundleMap(jwtBundleMap([own]));
    const err = (() => {
      try {
        validateJwtSvid('a.b.c', { audience: 'x', bundles: keys });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err?.message).toMatch(/unable to parse JWT token/);
    const authorities: JwtAuthority[] | undefined = keys.get('example.org');
    expect(authorities).toHaveLength(1);
  });

  it.each<[string, () => unknown, BundleErrorReason, RegExp]>([
    ['a key that is not a trust domain', () => parseX509BundleMap({ 'spiffe://Example.org': cas[0]!.der }), 'malformed', /X.509 bundle map key "spiffe:\/\/Example.org" is not a trust domain: .*lowercase/],
    ['a key with a path', () => parseJwtBundleMap({ 'spiffe://example.org/x': Buffer.from('{"keys":[]}') }), 'malformed', /JWT bundle map key .* a trust domain ID has no path/],
    ['the same trust domain twice', () => parseX509BundleMap({ 'spiffe://example.org': cas[0]!.der, 'example.org': cas[1]!.der }), 'malformed', /has two entries for trust domain "example.org"/],
    ['bad certificates', () => parseX509BundleMap({ 'spiffe://example.org': Buffer.from([0x30, 0x05]) }), 'malformed', /X.509 bundle map entry "spiffe:\/\/example.org": certificate 1 at byte 0/],
    ['bad JWKS', () => parseJwtBundleMap({ 'spiffe://example.org': Buffer.from('{"keys":[{"kty":"EC"}]}') }), 'missing-kid', /JWT bundle map entry "spiffe:\/\/example.org": JWKS key 0 has no "kid"/],
  ])('refuse %s', (_name, fn, reason, message) => {
    const err = failure(fn);
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
  });
});
