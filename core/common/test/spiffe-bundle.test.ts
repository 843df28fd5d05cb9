import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BundleError,
  SpiffeIdError,
  decodeSpiffeBundle,
  encodeSpiffeBundle,
  spkiToJwk,
  type Bundle,
  type BundleErrorReason,
  type JwtAuthority,
} from '../src/spiffe/index.js';
import { Workdir, makeCa, makeKey, opensslJwkParams, type TestCa, type TestKey } from './spiffe-fixtures.js';

let dir: Workdir;
let caEc: TestCa;
let caRsa: TestCa;
let caP384: TestCa;
let jwtEc: TestKey;
let jwtRsa: TestKey;
let bundle: Bundle;

beforeAll(() => {
  dir = new Workdir();
  caEc = makeCa(dir, 'P-256');
  caRsa = makeCa(dir, 'RSA');
  caP384 = makeCa(dir, 'P-384');
  jwtEc = makeKey(dir, 'P-256');
  jwtRsa = makeKey(dir, 'RSA');
  bundle = {
    trustDomain: 'example.org',
    x509Authorities: [caEc.der, caRsa.der],
    jwtAuthorities: [
      { keyId: 'jwt-ec', publicKeyDer: jwtEc.spki, expiresAt: 1_900_000_000 },
      { keyId: 'jwt-rsa', publicKeyDer: jwtRsa.spki, expiresAt: 1_900_000_000 },
    ],
    refreshHint: 300,
    sequenceNumber: 7,
  };
});
afterAll(() => dir.close());

const std = (der: Buffer): string => der.toString('base64');

function failure(fn: () => unknown): BundleError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BundleError);
    return err as BundleError;
  }
  throw new Error('expected a BundleError');
}

describe('encodeSpiffeBundle', () => {
  it('writes exactly what SPIRE writes: x509 keys then JWT keys, go-jose member order, 4-space indent', () => {
    // Key parameters from openssl's own output, not from node:crypto.
    const ec = opensslJwkParams(dir, caEc.der, 'P-256');
    const rsa = opensslJwkParams(dir, caRsa.der, 'RSA');
    const jwtEcJwk = spkiToJwk(jwtEc.spki);
    const jwtRsaJwk = spkiToJwk(jwtRsa.spki);
    const expected = [
      '{',
      '    "keys": [',
      '        {',
      '            "use": "x509-svid",',
      '            "kty": "EC",',
      '            "crv": "P-256",',
      `            "x": "${ec.x}",`,
      `            "y": "${ec.y}",`,
      '            "x5c": [',
      `                "${std(caEc.der)}"`,
      '            ]',
      '        },',
      '        {',
      '            "use": "x509-svid",',
      '            "kty": "RSA",',
      `            "n": "${rsa.n}",`,
      '            "e": "AQAB",',
      '            "x5c": [',
      `                "${std(caRsa.der)}"`,
      '            ]',
      '        },',
      '        {',
      '            "use": "jwt-svid",',
      '            "kty": "EC",',
      '            "kid": "jwt-ec",',
      '            "crv": "P-256",',
      `            "x": "${jwtEcJwk.x}",`,
      `            "y": "${jwtEcJwk.y}"`,
      '        },',
      '        {',
      '            "use": "jwt-svid",',
      '            "kty": "RSA",',
      '            "kid": "jwt-rsa",',
      `            "n": "${jwtRsaJwk.n}",`,
      '            "e": "AQAB"',
      '        }',
      '    ],',
      '    "spiffe_sequence": 7,',
      '    "spiffe_refresh_hint": 300',
      '}',
    ].join('\n');
    expect(encodeSpiffeBundle(bundle)).toBe(expected);
  });

  it('omits sequence and refresh hint when 0, keeps "keys" when empty, and honours overrides', () => {
    const empty: Bundle = { trustDomain: 'example.org', x509Authorities: [], jwtAuthorities: [], refreshHint: 0, sequenceNumber: 0 };
    expect(encodeSpiffeBundle(empty)).toBe('{\n    "keys": []\n}');
    const text = encodeSpiffeBundle(empty, { refreshHint: 60, sequenceNumber: 2 });
    expect(JSON.parse(text)).toEqual({ keys: [], spiffe_sequence: 2, spiffe_refresh_hint: 60 });
    expect(JSON.parse(encodeSpiffeBundle(bundle, { refreshHint: 0 }))).not.toHaveProperty('spiffe_refresh_hint');
  });

  it('x509-svid keys carry no kid and exactly one standard-base64 x5c', () => {
    const doc = JSON.parse(encodeSpiffeBundle(bundle)) as { keys: Record<string, unknown>[] };
    for (const k of doc.keys.filter((x) => x.use === 'x509-svid')) {
      expect(k).not.toHaveProperty('kid');
      expect(k.x5c).toHaveLength(1);
      expect((k.x5c as string[])[0]).toMatch(/^[A-Za-z0-9+/]+=*$/);
    }
  });

  it.each<[string, Partial<Bundle>, BundleErrorReason, RegExp]>([
    ['not a certificate', { x509Authorities: [Buffer.from('nope')] }, 'invalid-certificate', /X.509 authority is not a valid DER certificate/],
    ['JWT key without kid', { jwtAuthorities: [{ keyId: '', publicKeyDer: Buffer.alloc(0), expiresAt: 0 }] }, 'missing-kid', /kid is required/],
    ['JWT key not SPKI', { jwtAuthorities: [{ keyId: 'k', publicKeyDer: Buffer.from([1, 2]), expiresAt: 0 }] }, 'invalid-key', /not a valid DER SubjectPublicKeyInfo/],
    ['negative sequence', { sequenceNumber: -1 }, 'malformed', /sequenceNumber must be a non-negative integer/],
    ['fractional refresh hint', { refreshHint: 1.5 }, 'malformed', /refreshHint must be an integer/],
  ])('refuses %s', (_name, patch, reason, message) => {
    const err = failure(() => encodeSpiffeBundle({ ...bundle, ...patch }));
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
  });
});

describe('decodeSpiffeBundle', () => {
  it('round-trips (JWT expiry is not part of the format)', () => {
    const text = encodeSpiffeBundle(bundle);
    const back = decodeSpiffeBundle('spiffe://example.org', text);
    expect(back.trustDomain).toBe('example.org');
    expect(back.x509Authorities.map((d) => std(Buffer.from(d)))).toEqual([std(caEc.der), std(caRsa.der)]);
    expect(back.jwtAuthorities).toEqual(bundle.jwtAuthorities.map((a) => ({ ...a, publicKeyDer: Buffer.from(a.publicKeyDer), expiresAt: 0 })));
    expect(back.refreshHint).toBe(300);
    expect(back.sequenceNumber).toBe(7);
    expect(encodeSpiffeBundle(back)).toBe(text);
    expect(decodeSpiffeBundle('example.org', Buffer.from(text)).x509Authorities).toHaveLength(2);
    expect(new X509Certificate(Buffer.from(back.x509Authorities[0] as Uint8Array)).ca).toBe(true);
  });

  const x509Jwk = (ca: TestCa, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    use: 'x509-svid', ...spkiToJwk(ca.key.spki), x5c: [std(ca.der)], ...extra,
  });
  const jwtJwk = (key: TestKey, kid: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    use: 'jwt-svid', ...spkiToJwk(key.spki), kid, ...extra,
  });
  const doc = (keys: unknown[], extra: Record<string, unknown> = {}): string => JSON.stringify({ keys, ...extra });

  it('ignores what the spec says to ignore: unknown use, missing use, unknown kty', () => {
    const b = decodeSpiffeBundle('example.org', doc([
      x509Jwk(caEc),
      { ...jwtJwk(jwtEc, 'w'), use: 'wit-svid' },
      { ...jwtJwk(jwtEc, 'e'), use: 'enc' },
      { ...jwtJwk(jwtEc, 'nouse'), use: undefined },
      { use: 'jwt-svid', kty: 'oct', kid: 'hmac', k: 'c2VjcmV0' },
      { use: 'jwt-svid', kty: 'FUTURE', kid: 'f', stuff: 1 },
      { use: 'x509-svid', kty: 'FUTURE', x5c: [] },
      { use: 'something-new' },
      jwtJwk(jwtEc, 'kept'),
    ], { unknown_member: true }));
    expect(b.x509Authorities).toHaveLength(1);
    expect(b.jwtAuthorities.map((a) => a.keyId)).toEqual(['kept']);
    expect(b.refreshHint).toBe(0);
    expect(b.sequenceNumber).toBe(0);
  });

  it('accepts an empty key list (everything revoked), drops duplicate certificates, later kid wins', () => {
    expect(decodeSpiffeBundle('example.org', '{"keys":[]}').x509Authorities).toEqual([]);
    const b = decodeSpiffeBundle('example.org', doc([x509Jwk(caEc), x509Jwk(caRsa), x509Jwk(caEc), jwtJwk(jwtEc, 'k'), jwtJwk(jwtRsa, 'k')]));
    expect(b.x509Authorities).toHaveLength(2);
    expect(b.jwtAuthorities).toHaveLength(1);
    expect(Buffer.from(b.jwtAuthorities[0]?.publicKeyDer as Uint8Array)).toEqual(jwtRsa.spki);
  });

  it('ignores a kid on x509-svid keys and extra JWK members', () => {
    const b = decodeSpiffeBundle('example.org', doc([x509Jwk(caP384, { kid: 'x', alg: 'ES384', x5t: 'abc' })]));
    expect(b.x509Authorities).toHaveLength(1);
  });

  it('reads only the public part of a JWK that leaks a private key', () => {
    const b = decodeSpiffeBundle('example.org', doc([jwtJwk(jwtEc, 'k', { d: 'AAAA' })]));
    expect(Buffer.from(b.jwtAuthorities[0]?.publicKeyDer as Uint8Array)).toEqual(jwtEc.spki);
  });

  const bad: [string, () => string, BundleErrorReason, RegExp][] = [
    ['not JSON', () => '{"keys": [', 'malformed', /unable to parse SPIFFE bundle: /],
    ['not an object', () => '[]', 'malformed', /not a JSON object/],
    ['no keys member', () => '{"spiffe_sequence": 1}', 'malformed', /has no "keys" member \(it is required, even when empty\)/],
    ['keys null', () => '{"keys": null}', 'malformed', /no "keys" member/],
    ['keys not an array', () => '{"keys": {}}', 'malformed', /"keys" must be an array/],
    ['key not an object', () => doc([1]), 'malformed', /key 0 is not a JSON object/],
    ['kty missing', () => doc([{ use: 'jwt-svid', kid: 'k', crv: 'P-256' }]), 'invalid-key', /key 0 has no "kty"/],
    ['x509-svid without x5c', () => doc([jwtJwk(jwtEc, 'k'), { ...x509Jwk(caEc), x5c: undefined }]), 'x5c-count', /^expected a single certificate in x509-svid entry 1; got 0$/],
    ['x509-svid with empty x5c', () => doc([x509Jwk(caEc, { x5c: [] })]), 'x5c-count', /got 0/],
    ['x509-svid with two x5c', () => doc([x509Jwk(caEc, { x5c: [std(caEc.der), std(caRsa.der)] })]), 'x5c-count', /expected a single certificate in x509-svid entry 0; got 2/],
    ['x5c not an array', () => doc([x509Jwk(caEc, { x5c: std(caEc.der) })]), 'malformed', /"x5c" must be an array/],
    ['x5c in base64url', () => doc([x509Jwk(caEc, { x5c: [caEc.der.toString('base64url')] })]), 'invalid-certificate', /x5c\[0\] is not standard \(padded, non-URL\) base64/],
    ['x5c not a certificate', () => doc([x509Jwk(caEc, { x5c: [Buffer.from('hello').toString('base64')] })]), 'invalid-certificate', /x509-svid entry 0 x5c\[0\] is not a valid DER certificate/],
    ['key parameters not those of the certificate', () => doc([{ ...x509Jwk(caEc), ...spkiToJwk(jwtEc.spki) }]), 'invalid-key', /x509-svid entry 0: the key parameters do not match the public key of the certificate in x5c/],
    ['x509-svid key of another type than its certificate', () => doc([{ ...x509Jwk(caEc), ...spkiToJwk(caRsa.key.spki) }]), 'invalid-key', /do not match/],
    ['jwt-svid without kid', () => doc([x509Jwk(caEc), { ...jwtJwk(jwtEc, '') }]), 'missing-kid', /^jwt-svid entry 1 has no "kid" \(a key ID is required\)$/],
    ['jwt-svid kid not a string', () => doc([jwtJwk(jwtEc, 'k', { kid: 5 })]), 'malformed', /"kid" must be a string/],
    ['point off the curve', () => doc([jwtJwk(jwtEc, 'k', { y: spkiToJwk(jwtEc.spki).x })]), 'invalid-key', /jwt-svid entry 0: invalid EC JWK/],
    ['unsupported curve', () => doc([jwtJwk(jwtEc, 'k', { crv: 'secp256k1' })]), 'invalid-key', /unsupported curve "secp256k1"/],
    ['missing EC member', () => doc([jwtJwk(jwtEc, 'k', { y: undefined })]), 'invalid-key', /EC JWK is missing "y"/],
    ['missing RSA member', () => doc([jwtJwk(jwtRsa, 'k', { n: undefined })]), 'invalid-key', /RSA JWK is missing "n"/],
    ['negative sequence', () => doc([], { spiffe_sequence: -1 }), 'malformed', /spiffe_sequence must be a non-negative integer, got -1/],
    ['fractional sequence', () => doc([], { spiffe_sequence: 1.5 }), 'malformed', /got 1.5/],
    ['string sequence', () => doc([], { spiffe_sequence: '1' }), 'malformed', /got "1"/],
    ['sequence beyond 2^53', () => '{"keys":[],"spiffe_sequence":18446744073709551615}', 'malformed', /beyond 2\^53/],
    ['fractional refresh hint', () => doc([], { spiffe_refresh_hint: 0.5 }), 'malformed', /spiffe_refresh_hint must be an integer number of seconds/],
  ];
  it.each(bad)('refuses %s', (_name, make, reason, message) => {
    const err = failure(() => decodeSpiffeBundle('example.org', make()));
    expect(err.reason).toBe(reason);
    expect(err.code).toBe('ERR_BUNDLE');
    expect(err.message).toMatch(message);
  });

  it('checks the trust domain it is given', () => {
    expect(() => decodeSpiffeBundle('Example.org', '{"keys":[]}')).toThrow(SpiffeIdError);
  });

  it('keeps authorities as given when encoding (JwtAuthority list order)', () => {
    const a: JwtAuthority[] = [
      { keyId: 'b', publicKeyDer: jwtRsa.spki, expiresAt: 0 },
      { keyId: 'a', publicKeyDer: jwtEc.spki, expiresAt: 0 },
    ];
    const text = encodeSpiffeBundle({ ...bundle, x509Authorities: [], jwtAuthorities: a });
    expect(decodeSpiffeBundle('example.org', text).jwtAuthorities.map((x) => x.keyId)).toEqual(['b', 'a']);
  });
});
