import { constants, createHash, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  JwtSvidError,
  decodeJwtUnverified,
  jwtSvidSigningInput,
  signJwtSvid,
  spkiToJwk,
  validateJwtSvid,
  type JwtAlgorithm,
  type JwtAuthority,
  type JwtKey,
  type JwtSvidErrorReason,
  type JwtSvidSignParams,
} from '../src/spiffe/index.js';
import { Workdir, makeKey, opensslSigner, type KeyKind, type TestKey } from './spiffe-fixtures.js';

const NOW = new Date('2031-05-04T12:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const ID = 'spiffe://example.org/ns/prod/sa/web';

const KIND: Record<JwtAlgorithm, KeyKind> = {
  ES256: 'P-256', ES384: 'P-384', ES512: 'P-521',
  RS256: 'RSA', RS384: 'RSA', RS512: 'RSA', PS256: 'RSA', PS384: 'RSA', PS512: 'RSA',
};
const HASH = { '256': 'sha256', '384': 'sha384', '512': 'sha512' } as const;
const hashOf = (alg: JwtAlgorithm): 'sha256' | 'sha384' | 'sha512' => HASH[alg.slice(2) as '256' | '384' | '512'];

let dir: Workdir;
const keys = {} as Record<KeyKind, TestKey>;
let otherP256: TestKey;
let authorities: JwtAuthority[];

const kidFor = (kind: KeyKind): string => `kid-${kind}`;

beforeAll(() => {
  dir = new Workdir();
  for (const kind of ['P-256', 'P-384', 'P-521', 'RSA'] as const) keys[kind] = makeKey(dir, kind);
  otherP256 = makeKey(dir, 'P-256');
  authorities = Object.values(keys).map((k) => ({ keyId: kidFor(k.kind), publicKeyDer: k.spki, expiresAt: 0 }));
});
afterAll(() => dir.close());

const bundles = (td: string): JwtAuthority[] | undefined => (td === 'example.org' ? authorities : undefined);

function params(alg: JwtAlgorithm, overrides: Partial<JwtSvidSignParams> = {}): JwtSvidSignParams {
  const key = keys[KIND[alg]];
  return {
    spiffeId: ID, audience: ['spiffe://example.org/api'], issuedAt: NOW, expiresAt: new Date(NOW.getTime() + 300_000),
    kid: kidFor(key.kind), alg, sign: opensslSigner(dir, key), ...overrides,
  };
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A token built by hand with node:crypto, independent of the code under test. */
function forge(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject, alg: JwtAlgorithm = 'ES256'): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const opts = alg.startsWith('ES')
    ? { key, dsaEncoding: 'ieee-p1363' as const }
    : alg.startsWith('PS')
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : { key };
  return `${input}.${nodeSign(hashOf(alg), Buffer.from(input), opts).toString('base64url')}`;
}

const goodHeader = (alg: JwtAlgorithm = 'ES256'): Record<string, unknown> => ({ alg, kid: kidFor(KIND[alg]), typ: 'JWT' });
const goodClaims = (): Record<string, unknown> => ({ sub: ID, aud: ['api'], exp: NOW_S + 300, iat: NOW_S });

function rejection(token: string, opts: Partial<Parameters<typeof validateJwtSvid>[1]> = {}): JwtSvidError {
  try {
    validateJwtSvid(token, { audience: 'api', bundles, now: NOW, ...opts });
  } catch (err) {
    expect(err).toBeInstanceOf(JwtSvidError);
    return err as JwtSvidError;
  }
  throw new Error('token was accepted');
}

describe('signJwtSvid → validateJwtSvid round trips (openssl pkeyutl as the digest signer)', () => {
  it.each(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as JwtAlgorithm[])('%s', async (alg) => {
    const calls: Parameters<typeof opensslSigner>[2] = [];
    const key = keys[KIND[alg]];
    const token = await signJwtSvid(params(alg, { issuer: 'https://oidc.example.org', jti: 'j-1', sign: opensslSigner(dir, key, calls) }));

    const [h, p, s] = token.split('.') as [string, string, string];
    expect(Buffer.from(h, 'base64url').toString()).toBe(JSON.stringify({ alg, kid: kidFor(key.kind), typ: 'JWT' }));
    expect(Buffer.from(p, 'base64url').toString()).toBe(
      JSON.stringify({ aud: ['spiffe://example.org/api'], exp: NOW_S + 300, iat: NOW_S, iss: 'https://oidc.example.org', jti: 'j-1', sub: ID }),
    );
    // The signer got the digest of the signing input, with the hash and PSS salt JOSE requires.
    expect(calls).toHaveLength(1);
    expect(calls[0]?.digest).toEqual(createHash(hashOf(alg)).update(`${h}.${p}`).digest());
    expect(calls[0]?.hash).toBe(hashOf(alg).toUpperCase());
    expect(calls[0]?.saltLength).toBe(alg.startsWith('PS') ? calls[0]?.digest.length : undefined);

    // Independent check of the JOSE signature form with node:crypto.
    const sig = Buffer.from(s, 'base64url');
    if (alg.startsWith('ES')) expect(sig.length).toBe({ ES256: 64, ES384: 96, ES512: 132 }[alg as 'ES256']);
    const verifyOpts = alg.startsWith('ES')
      ? { key: key.publicKey, dsaEncoding: 'ieee-p1363' as const }
      : alg.startsWith('PS')
        ? { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }
        : { key: key.publicKey };
    expect(nodeVerify(hashOf(alg), Buffer.from(`${h}.${p}`), verifyOpts, sig)).toBe(true);

    const out = validateJwtSvid(token, { audience: 'spiffe://example.org/api', bundles, now: NOW });
    expect(out.spiffeId.toString()).toBe(ID);
    expect(out.audience).toEqual(['spiffe://example.org/api']);
    expect(out.expiresAt).toEqual(new Date(NOW.getTime() + 300_000));
    expect(out.keyId).toBe(kidFor(key.kind));
    expect(out.alg).toBe(alg);
    expect(out.claims).toEqual({ aud: ['spiffe://example.org/api'], exp: NOW_S + 300, iat: NOW_S, iss: 'https://oidc.example.org', jti: 'j-1', sub: ID });
  });

  it('in-process signer: hash + sign with node:crypto, DER converted to JOSE', async () => {
    for (const alg of ['ES256', 'PS384'] as const) {
      const key = keys[KIND[alg]];
      const p = params(alg);
      const input = jwtSvidSigningInput(p);
      const token = await signJwtSvid({
        ...p,
        sign: (digest) => {
          expect(digest).toEqual(createHash(hashOf(alg)).update(input).digest());
          return alg === 'ES256'
            ? nodeSign('sha256', Buffer.from(input), key.privateKey) // DER, as Go returns it
            : nodeSign('sha384', Buffer.from(input), { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 });
        },
      });
      expect(token.startsWith(`${input}.`)).toBe(true);
      expect(validateJwtSvid(token, { audience: 'spiffe://example.org/api', bundles, now: NOW }).spiffeId.toString()).toBe(ID);
    }
  });

  it('omits iss and jti when not given, and truncates times to seconds', async () => {
    const token = await signJwtSvid(params('ES256', { issuedAt: new Date(NOW.getTime() + 999), expiresAt: new Date(NOW.getTime() + 60_999) }));
    expect(decodeJwtUnverified(token).claims).toEqual({ aud: ['spiffe://example.org/api'], exp: NOW_S + 60, iat: NOW_S, sub: ID });
  });

  it('validates against JWKs, a Map, or a Bundle', async () => {
    const token = await signJwtSvid(params('ES384'));
    const jwks: JwtKey[] = authorities.map((a) => ({ ...spkiToJwk(a.publicKeyDer), kid: a.keyId }));
    const audience = 'spiffe://example.org/api';
    expect(validateJwtSvid(token, { audience, bundles: () => jwks, now: NOW }).keyId).toBe('kid-P-384');
    expect(validateJwtSvid(token, { audience, bundles: new Map([['example.org', authorities]]), now: NOW }).alg).toBe('ES384');
    const bundle = { trustDomain: 'example.org', x509Authorities: [], jwtAuthorities: authorities, refreshHint: 0, sequenceNumber: 0 };
    expect(validateJwtSvid(token, { audience: ['x', audience], bundles: () => bundle, now: NOW }).spiffeId.trustDomain).toBe('example.org');
  });
});

describe('independently built tokens validate', () => {
  it.each(['ES256', 'ES384', 'ES512', 'RS256', 'RS512', 'PS256', 'PS512'] as JwtAlgorithm[])('%s, typ JOSE, aud as a string, extra claims', (alg) => {
    const key = keys[KIND[alg]].privateKey;
    const claims = { sub: ID, aud: 'api', exp: NOW_S + 60, iat: NOW_S - 5, nbf: NOW_S - 5, scope: ['read'], nested: { a: 1 } };
    const token = forge({ typ: 'JOSE', alg, kid: kidFor(KIND[alg]) }, claims, key, alg);
    const out = validateJwtSvid(token, { audience: 'api', bundles, now: NOW });
    expect(out.audience).toEqual(['api']);
    expect(out.claims).toEqual(claims);
  });

  it('without typ', () => {
    const token = forge({ alg: 'ES256', kid: kidFor('P-256') }, goodClaims(), keys['P-256'].privateKey);
    expect(validateJwtSvid(token, { audience: 'api', bundles, now: NOW }).spiffeId.path).toBe('/ns/prod/sa/web');
  });
});

describe('rejections', () => {
  const es = (): KeyObject => keys['P-256'].privateKey;
  const bad: [string, () => string, JwtSvidErrorReason, RegExp, Partial<Parameters<typeof validateJwtSvid>[1]>?][] = [
    ['two parts', () => 'a.b', 'malformed', /expected 3 dot-separated parts \(JWS compact serialization\), got 2/],
    ['JWE (five parts)', () => 'a.b.c.d.e', 'malformed', /got 5/],
    ['header not base64url', () => 'a+b.eyJ9.c', 'malformed', /header is not unpadded base64url/],
    ['padded header', () => `${b64(goodHeader())}=.${b64(goodClaims())}.AA`, 'malformed', /header is not unpadded base64url/],
    ['header not JSON', () => `${Buffer.from('{x').toString('base64url')}.${b64(goodClaims())}.AA`, 'malformed', /header is not JSON/],
    ['header an array', () => `${b64([1])}.${b64(goodClaims())}.AA`, 'malformed', /header is not a JSON object/],
    ['payload not an object', () => `${b64(goodHeader())}.${b64('x')}.AA`, 'malformed', /payload is not a JSON object/],
    ['signature not base64url', () => `${b64(goodHeader())}.${b64(goodClaims())}.a/b`, 'malformed', /signature is not unpadded base64url/],
    ['alg none', () => `${b64({ alg: 'none', kid: 'kid-P-256' })}.${b64(goodClaims())}.`, 'unsupported-alg', /token alg "none" is not allowed \(JWT-SVIDs use RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512\)/],
    ['alg HS256', () => `${b64({ ...goodHeader(), alg: 'HS256' })}.${b64(goodClaims())}.AAAA`, 'unsupported-alg', /token alg "HS256" is not allowed .*HMAC is never allowed/],
    ['alg EdDSA', () => `${b64({ ...goodHeader(), alg: 'EdDSA' })}.${b64(goodClaims())}.AAAA`, 'unsupported-alg', /token alg "EdDSA" is not allowed/],
    ['alg lowercase', () => `${b64({ ...goodHeader(), alg: 'es256' })}.${b64(goodClaims())}.AAAA`, 'unsupported-alg', /"es256"/],
    ['alg missing', () => `${b64({ kid: 'kid-P-256' })}.${b64(goodClaims())}.AAAA`, 'unsupported-alg', /token header missing alg/],
    ['crit header', () => forge({ ...goodHeader(), crit: ['exp'] }, goodClaims(), es()), 'unsupported-header', /critical extensions \["exp"\]/],
    ['typ at+jwt', () => forge({ ...goodHeader(), typ: 'at+jwt' }, goodClaims(), es()), 'bad-typ', /token header type not equal to either JWT or JOSE \(typ="at\+jwt"\)/],
    ['typ lowercase jwt', () => forge({ ...goodHeader(), typ: 'jwt' }, goodClaims(), es()), 'bad-typ', /typ="jwt"/],
    ['sub missing', () => forge(goodHeader(), { ...goodClaims(), sub: undefined }, es()), 'missing-sub', /^token missing subject claim$/],
    ['sub empty', () => forge(goodHeader(), { ...goodClaims(), sub: '' }, es()), 'missing-sub', /token missing subject claim/],
    ['sub not a SPIFFE ID', () => forge(goodHeader(), { ...goodClaims(), sub: 'web' }, es()), 'invalid-sub', /^token has an invalid subject claim: invalid SPIFFE ID "web": scheme is missing or invalid/],
    ['sub uppercase trust domain', () => forge(goodHeader(), { ...goodClaims(), sub: 'spiffe://Example.org/web' }, es()), 'invalid-sub', /trust domains must be lowercase/],
    ['sub not a string', () => forge(goodHeader(), { ...goodClaims(), sub: 42 }, es()), 'invalid-sub', /not a string \(42\)/],
    ['exp missing', () => forge(goodHeader(), { ...goodClaims(), exp: undefined }, es()), 'missing-exp', /^token missing exp claim$/],
    ['exp a string', () => forge(goodHeader(), { ...goodClaims(), exp: '1' }, es()), 'malformed', /exp claim is not a number/],
    ['kid missing', () => forge({ alg: 'ES256', typ: 'JWT' }, goodClaims(), es()), 'missing-kid', /^token header missing key id$/],
    ['kid empty', () => forge({ ...goodHeader(), kid: '' }, goodClaims(), es()), 'missing-kid', /^token header missing key id$/],
    ['kid not a string', () => forge({ ...goodHeader(), kid: 7 }, goodClaims(), es()), 'malformed', /header kid is not a string/],
    ['no bundle for the trust domain', () => forge(goodHeader(), { ...goodClaims(), sub: 'spiffe://other.org/web' }, es()), 'no-bundle', /^no bundle found for trust domain "other.org"$/],
    ['unknown kid', () => forge({ ...goodHeader(), kid: 'nope' }, goodClaims(), es()), 'unknown-kid', /^no JWT authority "nope" found for trust domain "example.org"$/],
    ['key of another curve', () => forge({ ...goodHeader(), kid: kidFor('P-384') }, goodClaims(), es()), 'key-mismatch', /JWT authority "kid-P-384" of trust domain "example.org" is an EC secp384r1 key and cannot verify ES256 signatures/],
    ['RSA alg with an EC key', () => forge({ ...goodHeader('RS256'), kid: kidFor('P-256') }, goodClaims(), keys.RSA.privateKey, 'RS256'), 'key-mismatch', /is an EC prime256v1 key and cannot verify RS256/],
    ['EC alg with an RSA key', () => forge({ ...goodHeader(), kid: kidFor('RSA') }, goodClaims(), es()), 'key-mismatch', /is a RSA key and cannot verify ES256/],
    ['signed by another key', () => forge(goodHeader(), goodClaims(), otherP256.privateKey), 'bad-signature', /^token signature is invalid$/],
    ['tampered claims', () => { const [h, , s] = forge(goodHeader(), goodClaims(), es()).split('.'); return `${h}.${b64({ ...goodClaims(), sub: 'spiffe://example.org/admin' })}.${s}`; }, 'bad-signature', /token signature is invalid/],
    ['DER signature in a JOSE token', () => { const input = `${b64(goodHeader())}.${b64(goodClaims())}`; return `${input}.${nodeSign('sha256', Buffer.from(input), es()).toString('base64url')}`; }, 'bad-signature', /token signature is invalid/],
    ['empty signature', () => `${b64(goodHeader())}.${b64(goodClaims())}.`, 'bad-signature', /token signature is invalid/],
    ['PS token checked as RS', () => { const t = forge(goodHeader('PS256'), goodClaims(), keys.RSA.privateKey, 'PS256'); const [, p, s] = t.split('.'); return `${b64(goodHeader('RS256'))}.${p}.${s}`; }, 'bad-signature', /invalid/],
    ['aud missing', () => forge(goodHeader(), { ...goodClaims(), aud: undefined }, es()), 'missing-aud', /^token missing aud claim$/],
    ['aud empty list', () => forge(goodHeader(), { ...goodClaims(), aud: [] }, es()), 'missing-aud', /token missing aud claim/],
    ['aud not strings', () => forge(goodHeader(), { ...goodClaims(), aud: [1] }, es()), 'malformed', /aud claim is not a string or a list of strings/],
    ['audience not present', () => forge(goodHeader(), { ...goodClaims(), aud: ['other', 'more'] }, es()), 'audience-mismatch', /^expected audience in \["api"\] \(audience=\["other","more"\]\)$/],
    ['expired beyond the leeway', () => forge(goodHeader(), { ...goodClaims(), exp: NOW_S - 61 }, es()), 'expired', /^token has expired \(exp 2031-05-04T11:58:59.000Z\)$/],
    ['expired, no leeway', () => forge(goodHeader(), { ...goodClaims(), exp: NOW_S - 1 }, es()), 'expired', /token has expired/, { leewaySeconds: 0 }],
    ['not valid yet', () => forge(goodHeader(), { ...goodClaims(), nbf: NOW_S + 61 }, es()), 'not-yet-valid', /token is not valid yet/],
    ['issued in the future', () => forge(goodHeader(), { ...goodClaims(), iat: NOW_S + 61 }, es()), 'issued-in-future', /token issued in the future/],
    ['iat not a number', () => forge(goodHeader(), { ...goodClaims(), iat: 'now' }, es()), 'malformed', /iat claim is not a number/],
  ];

  it.each(bad)('%s', (_name, make, reason, message, opts) => {
    const err = rejection(make(), opts);
    expect(err.reason).toBe(reason);
    expect(err.code).toBe('ERR_JWT_SVID');
    expect(err.message).toMatch(message);
  });

  it('tolerates 60 s of skew by default, as go-jose does', () => {
    const token = forge(goodHeader(), { ...goodClaims(), exp: NOW_S - 59, iat: NOW_S + 59, nbf: NOW_S + 59 }, keys['P-256'].privateKey);
    expect(validateJwtSvid(token, { audience: 'api', bundles, now: NOW }).spiffeId.toString()).toBe(ID);
    expect(validateJwtSvid(token, { audience: 'api', bundles, now: NOW, leewaySeconds: 59 }).spiffeId.toString()).toBe(ID);
    expect(() => validateJwtSvid(token, { audience: 'api', bundles, now: NOW, leewaySeconds: 58 })).toThrow(/not valid yet/);
  });

  it('reports in go-spiffe order: sub before exp before kid', () => {
    expect(rejection(forge({ alg: 'ES256' }, { aud: ['api'] }, keys['P-256'].privateKey)).reason).toBe('missing-sub');
    expect(rejection(forge({ alg: 'ES256' }, { sub: ID, aud: ['api'] }, keys['P-256'].privateKey)).reason).toBe('missing-exp');
    expect(rejection(forge({ alg: 'ES256' }, { sub: ID, aud: ['api'], exp: NOW_S - 999 }, keys['P-256'].privateKey)).reason).toBe('missing-kid');
  });

  it('refuses an empty expected audience as programmer error', () => {
    const token = forge(goodHeader(), goodClaims(), keys['P-256'].privateKey);
    expect(() => validateJwtSvid(token, { audience: [], bundles })).toThrow(TypeError);
    expect(() => validateJwtSvid(token, { audience: '', bundles })).toThrow(TypeError);
  });
});

describe('signing parameter and signer checks', () => {
  const cases: [string, () => Partial<JwtSvidSignParams>, JwtSvidErrorReason, RegExp][] = [
    ['empty audience', () => ({ audience: [] }), 'invalid-params', /invalid JWT-SVID audience: cannot be empty/],
    ['empty audience value', () => ({ audience: ['a', ''] }), 'invalid-params', /values must be non-empty strings/],
    ['bad SPIFFE ID', () => ({ spiffeId: 'spiffe://example.org/a/' }), 'invalid-params', /invalid JWT-SVID ID: invalid SPIFFE ID .*trailing slash/],
    ['empty kid', () => ({ kid: '' }), 'invalid-params', /key id \(kid\) cannot be empty/],
    ['HMAC alg', () => ({ alg: 'HS256' as JwtAlgorithm }), 'invalid-params', /unsupported JWT-SVID algorithm "HS256"/],
    ['exp not after iat', () => ({ expiresAt: NOW }), 'invalid-params', /expiresAt .* must be after issuedAt/],
    ['invalid date', () => ({ expiresAt: new Date(NaN) }), 'invalid-params', /expiresAt must be a valid Date/],
    ['signer returns garbage for ES256', () => ({ sign: () => Buffer.from('not der') }), 'bad-signer-output', /7 bytes that are not an ASN.1 DER ECDSA signature for ES256/],
    ['signer returns nothing', () => ({ sign: () => new Uint8Array(0) }), 'bad-signer-output', /signer returned no signature for ES256/],
    ['P-384 key used for ES256', () => ({ sign: opensslSigner(dir, keys['P-384']) }), 'bad-signer-output', /is the key on the prime256v1 curve/],
  ];
  it.each(cases)('%s', async (_name, overrides, reason, message) => {
    const err = await signJwtSvid(params('ES256', overrides())).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(JwtSvidError);
    expect((err as JwtSvidError).reason).toBe(reason);
    expect((err as JwtSvidError).message).toMatch(message);
  });

  it('lets the signer’s own error through', async () => {
    const boom = new Error('keymanager(disk): key not found');
    await expect(signJwtSvid(params('ES256', { sign: () => Promise.reject(boom) }))).rejects.toBe(boom);
  });
});
