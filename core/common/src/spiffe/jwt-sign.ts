/**
 * JWT-SVID minting over a digest signer. SPIRE's KeyManager signs digests,
 * not messages, and returns Go-style signatures (ECDSA as ASN.1 DER), so the
 * hashing and the DER → JOSE conversion happen here. The output matches what
 * SPIRE's CA emits through go-jose: header `{alg, kid, typ: "JWT"}` and claims
 * with keys in Go's sorted-map order (aud, exp, iat, iss, jti, sub), `aud`
 * always an array.
 */
import { createHash } from 'node:crypto';
import { b64urlEncode, ecdsaDerToJose } from './der.js';
import { JwtSvidError } from './errors.js';
import { parseSpiffeId, type SpiffeId } from './id.js';
import { ALGORITHMS, JWT_ALGORITHMS, isJwtAlgorithm, type JwtAlgorithm, type JwtHashAlgorithm } from './jwt-alg.js';

/** What the digest signer is told about the signature it must produce. */
export interface JwtDigestSignOptions {
  /** The JWS algorithm being produced. */
  alg: JwtAlgorithm;
  /** The hash that produced the digest (SPIRE KeyManager `HashAlgorithm` spelling). */
  hash: JwtHashAlgorithm;
  /** Present for PS*: RSASSA-PSS with MGF1(hash) and this salt length (= digest length, per RFC 7518 §3.5). */
  pss?: { saltLength: number };
}

/**
 * Signs a digest the way a SPIRE KeyManager's `SignData` does: ECDSA → ASN.1
 * DER `ECDSA-Sig-Value`; RSA → PKCS#1 v1.5 or PSS signature bytes.
 */
export type JwtDigestSigner = (digest: Buffer, opts: JwtDigestSignOptions) => Uint8Array | Promise<Uint8Array>;

/** Input to {@link signJwtSvid}. */
export interface JwtSvidSignParams {
  /** The `sub` claim. */
  spiffeId: SpiffeId | string;
  /** The `aud` claim: one or more non-empty values. */
  audience: readonly string[];
  /** The `exp` claim (truncated to whole seconds). */
  expiresAt: Date;
  /** The `iat` claim (truncated to whole seconds). */
  issuedAt: Date;
  /** Optional `iss` claim (SPIRE's `jwt_issuer`). */
  issuer?: string;
  /** Optional `jti` claim. */
  jti?: string;
  /** The header `kid`: the key's ID in the trust domain's bundle. */
  kid: string;
  /** The header `alg`; must suit the signer's key. */
  alg: JwtAlgorithm;
  /** Signs the digest of the JWS signing input. */
  sign: JwtDigestSigner;
}

function invalid(message: string): never {
  throw new JwtSvidError('invalid-params', message);
}

function seconds(d: Date, name: string): number {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) invalid(`${name} must be a valid Date`);
  return Math.floor(d.getTime() / 1000);
}

/**
 * The JWS signing input `BASE64URL(header) . BASE64URL(claims)` that
 * {@link signJwtSvid} hashes and signs, after checking the parameters.
 *
 * @throws JwtSvidError('invalid-params')
 * @example
 * ```ts
 * const input = jwtSvidSigningInput({ spiffeId, audience: ['api'], expiresAt, issuedAt, kid: 'k1', alg: 'ES256' });
 * ```
 */
export function jwtSvidSigningInput(params: Omit<JwtSvidSignParams, 'sign'>): string {
  if (!isJwtAlgorithm(params.alg)) {
    invalid(`unsupported JWT-SVID algorithm ${JSON.stringify(params.alg)} (use one of ${JWT_ALGORITHMS.join(', ')})`);
  }
  if (typeof params.kid !== 'string' || params.kid === '') invalid('key id (kid) cannot be empty');
  let sub: string;
  try {
    sub = (typeof params.spiffeId === 'string' ? parseSpiffeId(params.spiffeId) : params.spiffeId).toString();
  } catch (err) {
    throw new JwtSvidError('invalid-params', `invalid JWT-SVID ID: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(params.audience) || params.audience.length === 0) invalid('invalid JWT-SVID audience: cannot be empty');
  for (const a of params.audience) {
    if (typeof a !== 'string' || a === '') invalid(`invalid JWT-SVID audience ${JSON.stringify(params.audience)}: values must be non-empty strings`);
  }
  const exp = seconds(params.expiresAt, 'expiresAt');
  const iat = seconds(params.issuedAt, 'issuedAt');
  if (exp <= iat) invalid(`expiresAt (${params.expiresAt.toISOString()}) must be after issuedAt (${params.issuedAt.toISOString()})`);

  const claims: Record<string, unknown> = { aud: [...params.audience], exp, iat };
  if (params.issuer !== undefined && params.issuer !== '') claims.iss = params.issuer;
  if (params.jti !== undefined && params.jti !== '') claims.jti = params.jti;
  claims.sub = sub;
  const header = { alg: params.alg, kid: params.kid, typ: 'JWT' };
  return `${b64urlEncode(JSON.stringify(header))}.${b64urlEncode(JSON.stringify(claims))}`;
}

/**
 * Mints a JWT-SVID (JWS compact). The signer receives the digest of the
 * signing input (SHA-256/384/512 per `alg`) and returns a Go-style signature;
 * ECDSA DER is converted to JOSE's fixed-size `r || s`.
 *
 * @throws JwtSvidError('invalid-params') for bad parameters, ('bad-signer-output') for an unusable signature;
 *   errors thrown by `sign` propagate unchanged.
 * @example
 * ```ts
 * const token = await signJwtSvid({
 *   spiffeId: 'spiffe://example.org/web', audience: ['api'], kid: key.id, alg: 'ES256',
 *   issuedAt: now, expiresAt: new Date(now.getTime() + 300_000),
 *   sign: (digest, opts) => keyManager.signData(key.id, digest, opts),
 * });
 * ```
 */
export async function signJwtSvid(params: JwtSvidSignParams): Promise<string> {
  const input = jwtSvidSigningInput(params);
  if (typeof params.sign !== 'function') throw new TypeError('sign must be a function');
  const spec = ALGORITHMS[params.alg];
  const digest = createHash(spec.nodeHash).update(input, 'ascii').digest();
  const opts: JwtDigestSignOptions = { alg: params.alg, hash: spec.hash };
  if (spec.kind === 'pss') opts.pss = { saltLength: spec.digestSize };
  const sig = await params.sign(digest, opts);
  if (!(sig instanceof Uint8Array) || sig.length === 0) {
    throw new JwtSvidError('bad-signer-output', `signer returned no signature for ${params.alg}`);
  }
  let jose: Uint8Array = sig;
  if (spec.kind === 'ec') {
    const converted = ecdsaDerToJose(sig, spec.size as number);
    if (!converted) {
      throw new JwtSvidError('bad-signer-output', `signer returned ${sig.length} bytes that are not an ASN.1 DER ECDSA signature for ${params.alg} (is the key on the ${spec.curve} curve?)`);
    }
    jose = converted;
  }
  return `${input}.${b64urlEncode(jose)}`;
}
