/** Signature algorithms, AlgorithmIdentifiers and SubjectPublicKeyInfo. */
import { KeyObject, createHash, createPublicKey, verify as cryptoVerify, webcrypto } from 'node:crypto';
import { decodeDer, parseFail, type DerElement } from './der-decode.js';
import { DER, TAG } from './der-encode.js';
import { X509Error } from './errors.js';
import { OID } from './oids.js';

/** Signature algorithms certificates can be signed with (what KeyManager keys can do). */
export type SignatureAlgorithm =
  | 'ecdsa-sha256'
  | 'ecdsa-sha384'
  | 'ecdsa-sha512'
  | 'rsa-pkcs1-sha256'
  | 'rsa-pkcs1-sha384'
  | 'rsa-pkcs1-sha512';

/** Algorithms accepted when verifying CSRs and certificates: the above plus Ed25519. */
export type VerifyAlgorithm = SignatureAlgorithm | 'ed25519';

/** Static facts about a signature algorithm. */
export interface SignatureAlgorithmInfo {
  readonly oid: string;
  /** Hash the digest is made with, as node:crypto names it (`null` for Ed25519). */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
  /** The key type that can make this signature. */
  readonly keyType: 'ec' | 'rsa' | 'ed25519';
}

/** Every {@link VerifyAlgorithm}. ECDSA and Ed25519 identifiers carry no parameters, RSA PKCS#1 a NULL. */
export const SIGNATURE_ALGORITHMS: Readonly<Record<VerifyAlgorithm, SignatureAlgorithmInfo>> = Object.freeze({
  'ecdsa-sha256': { oid: OID.ecdsaWithSHA256, hash: 'sha256', keyType: 'ec' },
  'ecdsa-sha384': { oid: OID.ecdsaWithSHA384, hash: 'sha384', keyType: 'ec' },
  'ecdsa-sha512': { oid: OID.ecdsaWithSHA512, hash: 'sha512', keyType: 'ec' },
  'rsa-pkcs1-sha256': { oid: OID.sha256WithRSAEncryption, hash: 'sha256', keyType: 'rsa' },
  'rsa-pkcs1-sha384': { oid: OID.sha384WithRSAEncryption, hash: 'sha384', keyType: 'rsa' },
  'rsa-pkcs1-sha512': { oid: OID.sha512WithRSAEncryption, hash: 'sha512', keyType: 'rsa' },
  ed25519: { oid: OID.ed25519, hash: null, keyType: 'ed25519' },
});

const BY_OID = new Map(Object.entries(SIGNATURE_ALGORITHMS).map(([name, info]) => [info.oid, name as VerifyAlgorithm]));

/** DER AlgorithmIdentifier for a signature algorithm. */
export function encodeSignatureAlgorithm(alg: SignatureAlgorithm): Uint8Array {
  const info = SIGNATURE_ALGORITHMS[alg];
  if (!info || info.hash === null) throw new X509Error('ERR_X509_TEMPLATE', `unsupported signature algorithm ${String(alg)}`);
  return info.keyType === 'rsa' ? DER.sequence(DER.oid(info.oid), DER.null()) : DER.sequence(DER.oid(info.oid));
}

/**
 * Parses a signature AlgorithmIdentifier. Parameters must be absent or NULL.
 * @throws X509Error `ERR_X509_UNSUPPORTED` for algorithms outside {@link VerifyAlgorithm} (RSA-PSS, SHA-1...).
 */
export function parseSignatureAlgorithm(el: DerElement, what: string): VerifyAlgorithm {
  const parts = el.expect(TAG.SEQUENCE, what).children();
  if (parts.length < 1 || parts.length > 2) parseFail(`${what}: AlgorithmIdentifier has ${parts.length} parts`, el);
  const oid = (parts[0] as DerElement).expect(TAG.OID, `${what} algorithm`).oid();
  if (parts[1] !== undefined) (parts[1] as DerElement).expect(TAG.NULL, `${what} parameters`).null();
  const name = BY_OID.get(oid);
  if (!name) throw new X509Error('ERR_X509_UNSUPPORTED', `${what}: unsupported signature algorithm ${oid}`);
  return name;
}

/** What {@link parseSpki} learns from a SubjectPublicKeyInfo. */
export interface PublicKeyInfo {
  /** The SubjectPublicKeyInfo DER. */
  readonly der: Uint8Array;
  /** Key type; other algorithms are refused. */
  readonly keyType: 'ec' | 'rsa' | 'ed25519';
  /** EC curve OID (`OID.prime256v1`...), for EC keys. */
  readonly curve?: string;
  /** Contents of the subjectPublicKey BIT STRING (EC point, PKCS#1 RSAPublicKey, Ed25519 key). */
  readonly keyBits: Uint8Array;
  /** Byte length of an RSA key's modulus (and of its signatures). */
  readonly rsaModulusBytes?: number;
}

/**
 * Parses a SubjectPublicKeyInfo (EC P-256/P-384/P-521, RSA, Ed25519).
 * @throws X509Error `ERR_DER` / `ERR_X509_PARSE` / `ERR_X509_UNSUPPORTED`.
 */
export function parseSpki(input: Uint8Array | DerElement, what = 'public key'): PublicKeyInfo {
  const el = input instanceof Uint8Array ? decodeDer(input) : input;
  const parts = el.expect(TAG.SEQUENCE, what).children();
  if (parts.length !== 2) parseFail(`${what}: SubjectPublicKeyInfo has ${parts.length} parts, expected 2`, el);
  const [algEl, keyEl] = parts as [DerElement, DerElement];
  const alg = algEl.expect(TAG.SEQUENCE, `${what} algorithm`).children();
  if (alg.length < 1 || alg.length > 2) parseFail(`${what}: AlgorithmIdentifier has ${alg.length} parts`, algEl);
  const oid = (alg[0] as DerElement).expect(TAG.OID, `${what} algorithm`).oid();
  const params = alg[1];
  const bits = keyEl.expect(TAG.BIT_STRING, `${what} subjectPublicKey`).bitString();
  if (bits.unusedBits !== 0) parseFail(`${what}: subjectPublicKey has unused bits`, keyEl);
  const keyBits = bits.bytes;
  if (oid === OID.ecPublicKey) {
    if (params?.tag !== TAG.OID) parseFail(`${what}: EC key without a named curve`, algEl);
    const curve = params.oid();
    const size = { [OID.prime256v1]: 32, [OID.secp384r1]: 48, [OID.secp521r1]: 66 }[curve];
    if (!size) throw new X509Error('ERR_X509_UNSUPPORTED', `${what}: unsupported EC curve ${curve}`);
    if (keyBits.length !== 1 + 2 * size || keyBits[0] !== 4) parseFail(`${what}: EC point is not an uncompressed point on ${curve}`, keyEl);
    return { der: el.bytes, keyType: 'ec', curve, keyBits };
  }
  if (oid === OID.rsaEncryption) {
    if (params !== undefined) params.expect(TAG.NULL, `${what} RSA parameters`).null();
    const rsa = decodeDer(keyBits).expect(TAG.SEQUENCE, `${what} RSAPublicKey`).children();
    if (rsa.length !== 2) parseFail(`${what}: RSAPublicKey has ${rsa.length} parts, expected 2`);
    const n = (rsa[0] as DerElement).integer();
    const e = (rsa[1] as DerElement).integer();
    if (n <= 0n || e <= 1n) parseFail(`${what}: invalid RSA key`);
    const modulusBits = n.toString(2).length;
    if (modulusBits < 2048) throw new X509Error('ERR_X509_UNSUPPORTED', `${what}: RSA key of ${modulusBits} bits is too small (at least 2048)`);
    return { der: el.bytes, keyType: 'rsa', keyBits, rsaModulusBytes: Math.ceil(modulusBits / 8) };
  }
  if (oid === OID.ed25519) {
    if (params !== undefined || keyBits.length !== 32) parseFail(`${what}: invalid Ed25519 key`, el);
    return { der: el.bytes, keyType: 'ed25519', keyBits };
  }
  throw new X509Error('ERR_X509_UNSUPPORTED', `${what}: unsupported public key algorithm ${oid}`);
}

/** SubjectKeyIdentifier as Go and SPIRE make it: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function subjectKeyId(spki: Uint8Array | PublicKeyInfo): Uint8Array {
  const info = spki instanceof Uint8Array ? parseSpki(spki) : spki;
  return new Uint8Array(createHash('sha1').update(info.keyBits).digest());
}

/** The algorithm Go's `x509.CreateCertificate` picks for a signing key: ECDSA with the curve's hash, RSA PKCS#1 SHA-256. */
export function defaultSignatureAlgorithm(spki: Uint8Array | PublicKeyInfo): SignatureAlgorithm {
  const info = spki instanceof Uint8Array ? parseSpki(spki) : spki;
  if (info.keyType === 'rsa') return 'rsa-pkcs1-sha256';
  if (info.keyType === 'ec') return info.curve === OID.secp384r1 ? 'ecdsa-sha384' : info.curve === OID.secp521r1 ? 'ecdsa-sha512' : 'ecdsa-sha256';
  throw new X509Error('ERR_X509_UNSUPPORTED', 'Ed25519 keys cannot sign certificates here');
}

const JWK_CURVES: Readonly<Record<string, string>> = { [OID.prime256v1]: 'P-256' };

function b64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url');
}

function unsignedBytes(el: DerElement): Uint8Array {
  const c = el.expect(TAG.INTEGER, 'RSA parameter').contents;
  return c[0] === 0 ? c.subarray(1) : c;
}

/**
 * node:crypto public key for a SubjectPublicKeyInfo, by the cheapest import
 * OpenSSL 3.0 offers for the key type: JWK for P-256, RSA and Ed25519 (the
 * DER decoder costs ~110 µs a key, RSA/Ed25519 JWK ~7 µs, P-256 JWK ~75 µs),
 * DER for P-384/P-521 (whose JWK import runs a slow point-order check).
 * OpenSSL checks EC points are on the curve either way.
 * @throws X509Error `ERR_X509_PARSE` when OpenSSL refuses the key.
 */
export function publicKeyObject(spki: Uint8Array | PublicKeyInfo, what = 'public key'): KeyObject {
  const info = spki instanceof Uint8Array ? parseSpki(spki, what) : spki;
  try {
    const crv = info.curve === undefined ? undefined : JWK_CURVES[info.curve];
    if (info.keyType === 'ec' && crv) {
      const n = (info.keyBits.length - 1) / 2;
      const jwk = { kty: 'EC', crv, x: b64url(info.keyBits.subarray(1, 1 + n)), y: b64url(info.keyBits.subarray(1 + n)) };
      return createPublicKey({ key: jwk, format: 'jwk' });
    }
    if (info.keyType === 'rsa') {
      const [n, e] = decodeDer(info.keyBits).children() as [DerElement, DerElement];
      return createPublicKey({ key: { kty: 'RSA', n: b64url(unsignedBytes(n)), e: b64url(unsignedBytes(e)) }, format: 'jwk' });
    }
    if (info.keyType === 'ed25519') return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(info.keyBits) }, format: 'jwk' });
    const der = info.der;
    return createPublicKey({ key: Buffer.from(der.buffer, der.byteOffset, der.length), format: 'der', type: 'spki' });
  } catch (err) {
    throw new X509Error('ERR_X509_PARSE', `${what}: not a usable public key: ${(err as Error).message}`, { cause: err });
  }
}

const WEBCRYPTO_CURVES: Readonly<Record<string, string>> = { [OID.prime256v1]: 'P-256', [OID.secp384r1]: 'P-384', [OID.secp521r1]: 'P-521' };

/**
 * {@link publicKeyObject}, but EC keys are imported through WebCrypto's raw
 * point import, the cheapest EC path in OpenSSL 3.0 (~60 µs with P-256, less
 * than the JWK or DER import followed by a first use).
 */
export async function publicKeyObjectAsync(spki: Uint8Array | PublicKeyInfo, what = 'public key'): Promise<KeyObject> {
  const info = spki instanceof Uint8Array ? parseSpki(spki, what) : spki;
  const namedCurve = info.curve === undefined ? undefined : WEBCRYPTO_CURVES[info.curve];
  if (info.keyType !== 'ec' || !namedCurve) return publicKeyObject(info, what);
  try {
    return KeyObject.from(await webcrypto.subtle.importKey('raw', info.keyBits, { name: 'ECDSA', namedCurve }, true, ['verify']));
  } catch (err) {
    throw new X509Error('ERR_X509_PARSE', `${what}: not a usable public key: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Verifies `signature` over `data` (the message, not a digest) with node:crypto.
 * Returns false for a wrong signature and for a key of the wrong type.
 */
export function verifySignature(alg: VerifyAlgorithm, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  const info = SIGNATURE_ALGORITHMS[alg];
  if (key.asymmetricKeyType !== info.keyType) return false;
  try {
    return cryptoVerify(info.hash, data, info.keyType === 'ec' ? { key, dsaEncoding: 'der' } : key, signature);
  } catch {
    return false;
  }
}

/** {@link verifySignature} on the libuv threadpool: the event loop does not pay for the verification. */
export function verifySignatureAsync(alg: VerifyAlgorithm, key: KeyObject, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const info = SIGNATURE_ALGORITHMS[alg];
  if (key.asymmetricKeyType !== info.keyType) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      cryptoVerify(info.hash, data, info.keyType === 'ec' ? { key, dsaEncoding: 'der' } : key, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}
