/** Adapters from a KeyManager {@link Key} to the X.509 builder's and the JWT minter's digest signers. */
import {
  SIGNATURE_ALGORITHMS,
  defaultSignatureAlgorithm,
  type CertificateSigner,
  type JwtAlgorithm,
  type JwtDigestSigner,
} from '@spire-ts/common';
import type { HashAlgorithm, Key } from '../plugin/keymanager/keymanager.js';

const HASHES: Readonly<Record<string, HashAlgorithm>> = { sha256: 'SHA256', sha384: 'SHA384', sha512: 'SHA512' };

/** A certificate signer over a KeyManager key: SPIRE's default algorithm for the key (ECDSA by curve, RSA PKCS#1 SHA-256). */
export function certificateSigner(key: Key): CertificateSigner {
  const algorithm = defaultSignatureAlgorithm(key.publicKeyDer);
  const hash = HASHES[SIGNATURE_ALGORITHMS[algorithm].hash ?? ''];
  if (!hash) throw new Error(`key ${key.id}: no digest algorithm for ${algorithm}`);
  return { algorithm, sign: (digest) => key.sign(digest, { hash }) };
}

/** The JWS algorithm SPIRE uses for a key type: ES256 for P-256, ES384 for P-384, RS256 for RSA. */
export function jwtAlgorithmFor(key: Key): JwtAlgorithm {
  switch (key.type) {
    case 'EC_P256':
      return 'ES256';
    case 'EC_P384':
      return 'ES384';
    default:
      return 'RS256';
  }
}

/** A JWT digest signer over a KeyManager key. */
export function jwtSigner(key: Key): JwtDigestSigner {
  return (digest, opts) => key.sign(digest, opts.pss ? { hash: opts.hash, pss: opts.pss } : { hash: opts.hash });
}
