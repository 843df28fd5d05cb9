/**
 * JWS signature verification (RFC 7515/7518) for the token-based attestors:
 * RS*, PS* and ES* over the compact serialisation's signing input. Key
 * discovery and claim checks stay with each plugin (their sources and
 * SPIRE's error messages differ).
 */
import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';

const ALGS: Readonly<Record<string, { hash: string; kind: 'pkcs1' | 'pss' | 'ec' }>> = {
  RS256: { hash: 'sha256', kind: 'pkcs1' },
  RS384: { hash: 'sha384', kind: 'pkcs1' },
  RS512: { hash: 'sha512', kind: 'pkcs1' },
  PS256: { hash: 'sha256', kind: 'pss' },
  PS384: { hash: 'sha384', kind: 'pss' },
  PS512: { hash: 'sha512', kind: 'pss' },
  ES256: { hash: 'sha256', kind: 'ec' },
  ES384: { hash: 'sha384', kind: 'ec' },
  ES512: { hash: 'sha512', kind: 'ec' },
};

/** The JWS algorithms {@link verifyJws} knows (no `none`, no HMAC). */
export const JWS_ALGORITHMS: readonly string[] = Object.keys(ALGS);

/**
 * Whether `signature` over `signingInput` (`<header>.<payload>`, base64url)
 * verifies under `key` with JWS algorithm `alg`. An unknown algorithm, a key
 * of the wrong type or a malformed signature is simply false.
 */
export function verifyJws(alg: string, key: KeyObject, signingInput: string, signature: Buffer): boolean {
  const a = Object.hasOwn(ALGS, alg) ? ALGS[alg] : undefined;
  if (!a) return false;
  const type = key.asymmetricKeyType;
  if (a.kind === 'ec' ? type !== 'ec' : type !== 'rsa' && type !== 'rsa-pss') return false;
  const data = Buffer.from(signingInput, 'ascii');
  try {
    if (a.kind === 'ec') return cryptoVerify(a.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    if (a.kind === 'pss') return cryptoVerify(a.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(a.hash.slice(3)) / 8 }, signature);
    return cryptoVerify(a.hash, data, key, signature);
  } catch {
    return false;
  }
}
