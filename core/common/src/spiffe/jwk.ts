/**
 * Public JWK ↔ DER SubjectPublicKeyInfo, through node:crypto's own JWK
 * import/export. Only public members are read, so a JWK that carries a
 * private part (`d`, ...) never yields a private key.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { BundleError } from './errors.js';

/** A public JSON Web Key as bundles carry it (RFC 7517), with the members we read. */
export interface PublicJwk {
  kty: string;
  use?: string;
  kid?: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  x5c?: string[];
  [member: string]: unknown;
}

/** Key types a bundle may carry; keys of any other `kty` are ignored where the spec says so. */
export const SUPPORTED_KTY: readonly string[] = ['EC', 'RSA', 'OKP'];

const CURVES: Record<string, readonly string[]> = { EC: ['P-256', 'P-384', 'P-521'], OKP: ['Ed25519'] };

function str(jwk: PublicJwk, member: string): string {
  const v = jwk[member];
  if (typeof v !== 'string' || v === '') {
    throw new BundleError('invalid-key', `${jwk.kty} JWK is missing "${member}"`);
  }
  return v;
}

/** The public members of `jwk` that node:crypto needs, checked for presence and curve. */
function publicMembers(jwk: PublicJwk): Record<string, string> {
  switch (jwk.kty) {
    case 'EC':
    case 'OKP': {
      const crv = str(jwk, 'crv');
      if (!CURVES[jwk.kty]?.includes(crv)) {
        throw new BundleError('invalid-key', `${jwk.kty} JWK has unsupported curve ${JSON.stringify(crv)} (supported: ${CURVES[jwk.kty]?.join(', ')})`);
      }
      return jwk.kty === 'EC' ? { kty: 'EC', crv, x: str(jwk, 'x'), y: str(jwk, 'y') } : { kty: 'OKP', crv, x: str(jwk, 'x') };
    }
    case 'RSA':
      return { kty: 'RSA', n: str(jwk, 'n'), e: str(jwk, 'e') };
    default:
      throw new BundleError('invalid-key', `unsupported JWK key type ${JSON.stringify(jwk.kty)} (supported: ${SUPPORTED_KTY.join(', ')})`);
  }
}

/**
 * A node:crypto public `KeyObject` from a public JWK.
 *
 * @throws BundleError('invalid-key') for missing members, unknown curves or points off the curve.
 * @example
 * ```ts
 * const key = jwkToKeyObject({ kty: 'EC', crv: 'P-256', x, y });
 * ```
 */
export function jwkToKeyObject(jwk: PublicJwk): KeyObject {
  const members = publicMembers(jwk);
  try {
    return createPublicKey({ key: members, format: 'jwk' });
  } catch (err) {
    throw new BundleError('invalid-key', `invalid ${jwk.kty} JWK: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * DER SubjectPublicKeyInfo (Go's `x509.MarshalPKIXPublicKey`, SPIRE's
 * `JWTKey.public_key`) from a public JWK.
 *
 * @throws BundleError('invalid-key')
 * @example
 * ```ts
 * const spki = jwkToSpki({ kty: 'EC', crv: 'P-256', x, y });
 * ```
 */
export function jwkToSpki(jwk: PublicJwk): Buffer {
  return jwkToKeyObject(jwk).export({ type: 'spki', format: 'der' });
}

/**
 * A public KeyObject from DER SubjectPublicKeyInfo.
 *
 * @throws BundleError('invalid-key')
 * @example
 * ```ts
 * const key = spkiToKeyObject(authority.publicKeyDer);
 * ```
 */
export function spkiToKeyObject(spki: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
  } catch (err) {
    throw new BundleError('invalid-key', `public key is not a valid DER SubjectPublicKeyInfo: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A public JWK (`kty` and key members only, in go-jose's member order) from
 * a public KeyObject.
 *
 * @throws BundleError('invalid-key') for keys JWK cannot express (e.g. RSA-PSS-only keys).
 * @example
 * ```ts
 * keyObjectToJwk(new X509Certificate(caDer).publicKey); // { kty: 'RSA', n: '…', e: 'AQAB' }
 * ```
 */
export function keyObjectToJwk(key: KeyObject): PublicJwk {
  // Exported from a copy read back from its DER, never from the KeyObject given: Node 20 can
  // deadlock exporting a key made by key generation as JWK (it allocates while holding the key's
  // mutex, and a collection then may destroy the generation job, which takes the same mutex).
  let spki: Buffer;
  try {
    spki = (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
  } catch (err) {
    throw new BundleError('invalid-key', `a ${key.asymmetricKeyType ?? 'unknown'} key cannot be expressed as a JWK: ${(err as Error).message}`, { cause: err });
  }
  return jwkOfImported(spkiToKeyObject(spki));
}

/** The JWK of a public key imported from DER (see {@link keyObjectToJwk}). */
function jwkOfImported(key: KeyObject): PublicJwk {
  let raw: Record<string, unknown>;
  try {
    raw = key.export({ format: 'jwk' }) as Record<string, unknown>;
  } catch (err) {
    throw new BundleError('invalid-key', `a ${key.asymmetricKeyType ?? 'unknown'} key cannot be expressed as a JWK: ${(err as Error).message}`, { cause: err });
  }
  const jwk = { kty: String(raw.kty) } as PublicJwk;
  for (const m of ['crv', 'x', 'y', 'n', 'e'] as const) if (typeof raw[m] === 'string') jwk[m] = raw[m];
  publicMembers(jwk);
  return jwk;
}

/**
 * A public JWK from DER SubjectPublicKeyInfo.
 *
 * @throws BundleError('invalid-key')
 * @example
 * ```ts
 * spkiToJwk(authority.publicKeyDer); // { kty: 'EC', crv: 'P-256', x: '…', y: '…' }
 * ```
 */
export function spkiToJwk(spki: Uint8Array): PublicJwk {
  return jwkOfImported(spkiToKeyObject(spki));
}
