/**
 * JWT-SVID validation per the JWT-SVID spec with go-spiffe's extra strictness
 * (svid/jwtsvid, read at go-spiffe e9973f63): a `kid` is required, `typ` must
 * be JWT or JOSE, only the nine RS/ES/PS algorithms, and `sub`, `aud`, `exp`
 * must be present. Checks run in go-spiffe's order so the first error
 * reported is the one go-spiffe would report; messages keep its wording.
 */
import { constants, verify, type KeyObject } from 'node:crypto';
import { b64urlDecode } from './der.js';
import { JwtSvidError, type JwtSvidErrorReason } from './errors.js';
import { parseSpiffeId, type SpiffeId } from './id.js';
import { ALGORITHMS, JWT_ALGORITHMS, isJwtAlgorithm, type AlgSpec, type JwtAlgorithm } from './jwt-alg.js';
import { jwkToKeyObject, spkiToKeyObject, type PublicJwk } from './jwk.js';
import type { Bundle, JwtAuthority } from './types.js';

/** A verification key: a bundle's {@link JwtAuthority} or a public JWK with `kid`. */
export type JwtKey = JwtAuthority | PublicJwk;

/** Where the validator finds a trust domain's keys: by bare trust domain name. */
export type JwtBundleSource =
  | ((trustDomain: string) => Bundle | readonly JwtKey[] | undefined)
  | ReadonlyMap<string, Bundle | readonly JwtKey[]>;

/** Options for {@link validateJwtSvid}. */
export interface ValidateJwtSvidOptions {
  /** The audience this validator identifies with; with several, any one must be in `aud`. */
  audience: string | readonly string[];
  /** JWT keys per trust domain. */
  bundles: JwtBundleSource;
  /** Validation time; defaults to the current time. */
  now?: Date;
  /** Clock skew tolerated for exp, nbf and iat; defaults to 60 s, go-jose's default leeway. */
  leewaySeconds?: number;
}

/** A JWT-SVID that passed validation. */
export interface ValidatedJwtSvid {
  /** The `sub` claim, parsed. */
  spiffeId: SpiffeId;
  /** Every claim of the token, verified. */
  claims: Record<string, unknown>;
  /** The `aud` claim as a list. */
  audience: string[];
  /** The `exp` claim. */
  expiresAt: Date;
  /** The header `kid` and `alg` that verified it. */
  keyId: string;
  alg: JwtAlgorithm;
}

/** Header and claims of a token, decoded but not verified. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

const DEFAULT_LEEWAY_SECONDS = 60;

function reject(reason: JwtSvidErrorReason, message: string): never {
  throw new JwtSvidError(reason, message);
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  const bytes = b64urlDecode(part);
  if (!bytes) reject('malformed', `unable to parse JWT token: ${what} is not unpadded base64url`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    reject('malformed', `unable to parse JWT token: ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    reject('malformed', `unable to parse JWT token: ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Splits and decodes a JWS compact token without verifying anything else —
 * for reading `exp` from a token this process minted or was just handed by
 * the Workload API. Never authorise on its output.
 *
 * @throws JwtSvidError('malformed')
 * @example
 * ```ts
 * const { claims } = decodeJwtUnverified(svid.token);
 * const expiresAt = new Date(Number(claims.exp) * 1000);
 * ```
 */
export function decodeJwtUnverified(token: string): DecodedJwt {
  if (typeof token !== 'string') throw new TypeError(`token must be a string, got ${typeof token}`);
  const parts = token.split('.');
  if (parts.length !== 3) {
    reject('malformed', `unable to parse JWT token: expected 3 dot-separated parts (JWS compact serialization), got ${parts.length}`);
  }
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJson(h, 'header');
  const claims = decodeJson(p, 'payload');
  const signature = b64urlDecode(s);
  if (!signature) reject('malformed', 'unable to parse JWT token: signature is not unpadded base64url');
  return { header, claims, signingInput: `${h}.${p}`, signature };
}

function lookup(source: JwtBundleSource, td: string): readonly JwtKey[] | undefined {
  const found = typeof source === 'function' ? source(td) : source.get(td);
  if (found === undefined) return undefined;
  return Array.isArray(found) ? (found as readonly JwtKey[]) : (found as Bundle).jwtAuthorities;
}

function isAuthority(key: JwtKey): key is JwtAuthority {
  return (key as JwtAuthority).publicKeyDer instanceof Uint8Array;
}

function keyIdOf(key: JwtKey): unknown {
  return isAuthority(key) ? key.keyId : key.kid;
}

// Parsed keys are cached per key object: bundles are long-lived and validated against often.
const keyCache = new WeakMap<object, KeyObject>();

function keyObjectOf(key: JwtKey): KeyObject {
  let obj = keyCache.get(key);
  if (!obj) {
    obj = isAuthority(key) ? spkiToKeyObject(key.publicKeyDer) : jwkToKeyObject(key);
    keyCache.set(key, obj);
  }
  return obj;
}

function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  return key.asymmetricKeyType === 'ec' ? `an EC ${d?.namedCurve} key` : `a ${key.asymmetricKeyType?.toUpperCase()} key`;
}

function keySuits(key: KeyObject, spec: AlgSpec): boolean {
  if (spec.kind === 'ec') return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === spec.curve;
  return key.asymmetricKeyType === 'rsa' || (spec.kind === 'pss' && key.asymmetricKeyType === 'rsa-pss');
}

function checkSignature(key: KeyObject, spec: AlgSpec, input: string, sig: Buffer): boolean {
  const data = Buffer.from(input, 'ascii');
  if (spec.kind === 'ec') {
    if (sig.length !== 2 * (spec.size as number)) return false;
    return verify(spec.nodeHash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  }
  if (spec.kind === 'rsa') return verify(spec.nodeHash, data, { key, padding: constants.RSA_PKCS1_PADDING }, sig);
  // go-jose verifies PSS with an automatically detected salt length.
  return verify(spec.nodeHash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig);
}

function numericClaim(claims: Record<string, unknown>, name: string): number | undefined {
  const v = claims[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) reject('malformed', `unable to get claims from token: ${name} claim is not a number`);
  return v;
}

/**
 * Validates a JWT-SVID and returns its SPIFFE ID and verified claims.
 * Refused, each with a precise {@link JwtSvidError}: not JWS compact; `alg`
 * other than RS/ES/PS 256/384/512 (so never `none` or HMAC); `crit` headers;
 * `typ` other than JWT/JOSE; missing or invalid `sub`; missing `exp`; missing
 * `kid` (go-spiffe's "token header missing key id"); no bundle for the
 * subject's trust domain; `kid` not in it; a key unfit for `alg`; a bad
 * signature; `aud` missing or without an expected audience; expired, not yet
 * valid or issued in the future beyond the leeway.
 *
 * @throws JwtSvidError
 * @example
 * ```ts
 * const { spiffeId, claims } = validateJwtSvid(token, {
 *   audience: 'spiffe://example.org/api',
 *   bundles: (td) => bundleSet.get(td),
 * });
 * ```
 */
export function validateJwtSvid(token: string, options: ValidateJwtSvidOptions): ValidatedJwtSvid {
  const expected = typeof options.audience === 'string' ? [options.audience] : [...options.audience];
  if (expected.length === 0 || expected.some((a) => typeof a !== 'string' || a === '')) {
    throw new TypeError('validateJwtSvid: audience must be one or more non-empty strings');
  }
  const now = options.now ?? new Date();
  const leewayMs = (options.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS) * 1000;

  const { header, claims, signingInput, signature } = decodeJwtUnverified(token);

  const alg = header.alg;
  if (!isJwtAlgorithm(alg)) {
    const hmac = typeof alg === 'string' && /^HS\d+$/.test(alg) ? '; HMAC is never allowed' : '';
    const what = alg === undefined ? 'token header missing alg' : `token alg ${JSON.stringify(alg)} is not allowed`;
    reject('unsupported-alg', `${what} (JWT-SVIDs use ${JWT_ALGORITHMS.join(', ')}${hmac})`);
  }
  if (header.crit !== undefined) reject('unsupported-header', `token header has critical extensions ${JSON.stringify(header.crit)}; none are supported`);
  if (header.typ !== undefined && header.typ !== 'JWT' && header.typ !== 'JOSE') {
    reject('bad-typ', `token header type not equal to either JWT or JOSE (typ=${JSON.stringify(header.typ)})`);
  }

  if (claims.sub === undefined || claims.sub === '') reject('missing-sub', 'token missing subject claim');
  const exp = numericClaim(claims, 'exp');
  if (exp === undefined) reject('missing-exp', 'token missing exp claim');
  if (typeof claims.sub !== 'string') reject('invalid-sub', `token has an invalid subject claim: not a string (${JSON.stringify(claims.sub)})`);
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(claims.sub);
  } catch (err) {
    throw new JwtSvidError('invalid-sub', `token has an invalid subject claim: ${(err as Error).message}`, { cause: err });
  }

  const kid = header.kid;
  if (kid === undefined || kid === '') reject('missing-kid', 'token header missing key id');
  if (typeof kid !== 'string') reject('malformed', `unable to parse JWT token: header kid is not a string (${JSON.stringify(kid)})`);
  const td = spiffeId.trustDomain;
  const keys = lookup(options.bundles, td);
  if (!keys) reject('no-bundle', `no bundle found for trust domain ${JSON.stringify(td)}`);
  const key = keys.find((k) => keyIdOf(k) === kid);
  if (!key) reject('unknown-kid', `no JWT authority ${JSON.stringify(kid)} found for trust domain ${JSON.stringify(td)}`);

  const spec = ALGORITHMS[alg];
  let keyObject: KeyObject;
  try {
    keyObject = keyObjectOf(key);
  } catch (err) {
    throw new JwtSvidError('key-mismatch', `JWT authority ${JSON.stringify(kid)} of trust domain ${JSON.stringify(td)} is unusable: ${(err as Error).message}`, { cause: err });
  }
  if (!keySuits(keyObject, spec)) {
    reject('key-mismatch', `JWT authority ${JSON.stringify(kid)} of trust domain ${JSON.stringify(td)} is ${describeKey(keyObject)} and cannot verify ${alg} signatures`);
  }
  if (signature.length === 0 || !checkSignature(keyObject, spec, signingInput, signature)) reject('bad-signature', 'token signature is invalid');

  const rawAud = claims.aud;
  const audience = typeof rawAud === 'string' ? [rawAud] : Array.isArray(rawAud) ? rawAud : rawAud === undefined || rawAud === null ? [] : undefined;
  if (!audience || audience.some((a) => typeof a !== 'string')) reject('malformed', 'unable to get claims from token: aud claim is not a string or a list of strings');
  const aud = audience as string[];
  if (aud.length === 0) reject('missing-aud', 'token missing aud claim');
  if (!aud.some((a) => expected.includes(a))) {
    reject('audience-mismatch', `expected audience in ${JSON.stringify(expected)} (audience=${JSON.stringify(aud)})`);
  }

  const t = now.getTime();
  const nbf = numericClaim(claims, 'nbf');
  const iat = numericClaim(claims, 'iat');
  if (nbf !== undefined && t + leewayMs < nbf * 1000) reject('not-yet-valid', `token is not valid yet (nbf ${new Date(nbf * 1000).toISOString()})`);
  if (t - leewayMs > exp * 1000) reject('expired', `token has expired (exp ${new Date(exp * 1000).toISOString()})`);
  if (iat !== undefined && t + leewayMs < iat * 1000) reject('issued-in-future', `token issued in the future (iat ${new Date(iat * 1000).toISOString()})`);

  return { spiffeId, claims, audience: [...aud], expiresAt: new Date(exp * 1000), keyId: kid, alg };
}
