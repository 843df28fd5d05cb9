/** The JWS algorithms a JWT-SVID may use (JWT-SVID spec §2.1) and how each signs. */

/** A JWS `alg` allowed for JWT-SVIDs. Never `none` or HMAC. */
export type JwtAlgorithm = 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512';

/** Hash names as SPIRE's KeyManager `HashAlgorithm` enum spells them. */
export type JwtHashAlgorithm = 'SHA256' | 'SHA384' | 'SHA512';

export interface AlgSpec {
  readonly hash: JwtHashAlgorithm;
  /** node:crypto digest name. */
  readonly nodeHash: 'sha256' | 'sha384' | 'sha512';
  readonly digestSize: number;
  readonly kind: 'ec' | 'rsa' | 'pss';
  /** ECDSA only: OpenSSL curve name and the size of r and s in bytes. */
  readonly curve?: 'prime256v1' | 'secp384r1' | 'secp521r1';
  readonly size?: number;
}

const H256 = { hash: 'SHA256', nodeHash: 'sha256', digestSize: 32 } as const;
const H384 = { hash: 'SHA384', nodeHash: 'sha384', digestSize: 48 } as const;
const H512 = { hash: 'SHA512', nodeHash: 'sha512', digestSize: 64 } as const;

export const ALGORITHMS: Readonly<Record<JwtAlgorithm, AlgSpec>> = Object.freeze({
  ES256: { ...H256, kind: 'ec', curve: 'prime256v1', size: 32 },
  ES384: { ...H384, kind: 'ec', curve: 'secp384r1', size: 48 },
  ES512: { ...H512, kind: 'ec', curve: 'secp521r1', size: 66 },
  RS256: { ...H256, kind: 'rsa' },
  RS384: { ...H384, kind: 'rsa' },
  RS512: { ...H512, kind: 'rsa' },
  PS256: { ...H256, kind: 'pss' },
  PS384: { ...H384, kind: 'pss' },
  PS512: { ...H512, kind: 'pss' },
});

/**
 * Every JWT-SVID algorithm, in the spec's order.
 *
 * @example
 * ```ts
 * JWT_ALGORITHMS.includes('ES256'); // true
 * ```
 */
export const JWT_ALGORITHMS: readonly JwtAlgorithm[] = Object.freeze(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512']);

/**
 * True for the nine `alg` values a JWT-SVID may carry.
 *
 * @example
 * ```ts
 * isJwtAlgorithm('PS256'); // true
 * isJwtAlgorithm('HS256'); // false
 * ```
 */
export function isJwtAlgorithm(alg: unknown): alg is JwtAlgorithm {
  return typeof alg === 'string' && Object.prototype.hasOwnProperty.call(ALGORITHMS, alg);
}
