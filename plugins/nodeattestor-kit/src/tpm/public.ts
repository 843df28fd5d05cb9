/**
 * TPMT_PUBLIC (TPM 2.0 Part 2 §12.2.4) for RSA and ECC objects: decode,
 * encode, the object's Name (nameAlg ‖ H(TPMT_PUBLIC)) and the public key
 * as a node:crypto KeyObject. Decoding is strict: unknown algorithms,
 * oversized buffers and trailing bytes are refused.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { MAX_DIGEST_SIZE, MAX_ECC_BYTES, MAX_RSA_BYTES, TPM_ALG, TPM_ECC_CURVE, TPMA_OBJECT, algName, hashInfo, hex16, type ObjectAttribute } from './constants.js';
import { TpmError, TpmReader, TpmWriter } from './wire.js';

/** TPMT_SYM_DEF_OBJECT; `algorithm` NULL means no symmetric part. */
export interface SymDef {
  readonly algorithm: number;
  readonly keyBits: number;
  readonly mode: number;
}

/** A signing/encryption/KDF scheme: TPM_ALG_NULL or an algorithm with its hash (ECDAA adds a count). */
export interface Scheme {
  readonly scheme: number;
  readonly hashAlg: number;
  readonly count?: number;
}

export interface RsaPublic {
  readonly type: typeof TPM_ALG.RSA;
  readonly nameAlg: number;
  readonly objectAttributes: number;
  readonly authPolicy: Buffer;
  readonly symmetric: SymDef;
  readonly scheme: Scheme;
  readonly keyBits: number;
  /** The exponent as encoded; 0 means the default 65537. */
  readonly exponent: number;
  readonly modulus: Buffer;
}

export interface EccPublic {
  readonly type: typeof TPM_ALG.ECC;
  readonly nameAlg: number;
  readonly objectAttributes: number;
  readonly authPolicy: Buffer;
  readonly symmetric: SymDef;
  readonly scheme: Scheme;
  readonly curveId: number;
  readonly kdf: Scheme;
  readonly x: Buffer;
  readonly y: Buffer;
}

export type TpmPublic = RsaPublic | EccPublic;

const NULL_SYM: SymDef = { algorithm: TPM_ALG.NULL, keyBits: 0, mode: 0 };
const NULL_SCHEME: Scheme = { scheme: TPM_ALG.NULL, hashAlg: 0 };

function readSymDef(r: TpmReader): SymDef {
  const algorithm = r.u16('symmetric.algorithm');
  if (algorithm === TPM_ALG.NULL) return NULL_SYM;
  if (algorithm !== TPM_ALG.AES && algorithm !== TPM_ALG.SM4 && algorithm !== TPM_ALG.CAMELLIA) {
    throw new TpmError(`TPMT_PUBLIC: unsupported symmetric algorithm ${algName(algorithm)}`);
  }
  return { algorithm, keyBits: r.u16('symmetric.keyBits'), mode: r.u16('symmetric.mode') };
}

function writeSymDef(w: TpmWriter, s: SymDef): void {
  w.u16(s.algorithm);
  if (s.algorithm !== TPM_ALG.NULL) w.u16(s.keyBits).u16(s.mode);
}

const RSA_SCHEMES = new Set<number>([TPM_ALG.RSASSA, TPM_ALG.RSAPSS, TPM_ALG.OAEP, TPM_ALG.RSAES]);
const ECC_SCHEMES = new Set<number>([TPM_ALG.ECDSA, TPM_ALG.ECDAA, TPM_ALG.SM2, TPM_ALG.ECSCHNORR, TPM_ALG.ECDH, TPM_ALG.ECMQV]);
const KDF_SCHEMES = new Set<number>([TPM_ALG.KDF1_SP800_56A, TPM_ALG.KDF2, TPM_ALG.KDF1_SP800_108]);

function readScheme(r: TpmReader, field: string, allowed: ReadonlySet<number>): Scheme {
  const scheme = r.u16(`${field}.scheme`);
  if (scheme === TPM_ALG.NULL) return NULL_SCHEME;
  if (!allowed.has(scheme)) throw new TpmError(`TPMT_PUBLIC: unsupported ${field} ${algName(scheme)}`);
  if (scheme === TPM_ALG.RSAES) return { scheme, hashAlg: 0 }; // RSAES carries no hash
  const hashAlg = r.u16(`${field}.hashAlg`);
  if (scheme === TPM_ALG.ECDAA) return { scheme, hashAlg, count: r.u16(`${field}.count`) };
  return { scheme, hashAlg };
}

function writeScheme(w: TpmWriter, s: Scheme): void {
  w.u16(s.scheme);
  if (s.scheme === TPM_ALG.NULL || s.scheme === TPM_ALG.RSAES) return;
  w.u16(s.hashAlg);
  if (s.scheme === TPM_ALG.ECDAA) w.u16(s.count ?? 0);
}

/** Decodes a TPMT_PUBLIC (no TPM2B size prefix), refusing trailing bytes. */
export function decodePublic(bytes: Uint8Array): TpmPublic {
  const r = new TpmReader(Buffer.from(bytes), 'TPMT_PUBLIC');
  const type = r.u16('type');
  const nameAlg = r.u16('nameAlg');
  if (nameAlg !== TPM_ALG.NULL && !hashInfo(nameAlg)) throw new TpmError(`TPMT_PUBLIC: unsupported nameAlg ${algName(nameAlg)}`);
  const objectAttributes = r.u32('objectAttributes');
  const authPolicy = r.tpm2b('authPolicy', MAX_DIGEST_SIZE);
  let pub: TpmPublic;
  if (type === TPM_ALG.RSA) {
    const symmetric = readSymDef(r);
    const scheme = readScheme(r, 'scheme', RSA_SCHEMES);
    const keyBits = r.u16('keyBits');
    const exponent = r.u32('exponent');
    const modulus = r.tpm2b('unique.rsa', MAX_RSA_BYTES);
    pub = { type, nameAlg, objectAttributes, authPolicy, symmetric, scheme, keyBits, exponent, modulus };
  } else if (type === TPM_ALG.ECC) {
    const symmetric = readSymDef(r);
    const scheme = readScheme(r, 'scheme', ECC_SCHEMES);
    const curveId = r.u16('curveID');
    const kdf = readScheme(r, 'kdf', KDF_SCHEMES);
    const x = r.tpm2b('unique.x', MAX_ECC_BYTES);
    const y = r.tpm2b('unique.y', MAX_ECC_BYTES);
    pub = { type, nameAlg, objectAttributes, authPolicy, symmetric, scheme, curveId, kdf, x, y };
  } else {
    throw new TpmError(`TPMT_PUBLIC: unsupported object type ${algName(type)} (want rsa or ecc)`);
  }
  r.end();
  return pub;
}

/** Encodes a TPMT_PUBLIC (no TPM2B size prefix). */
export function encodePublic(p: TpmPublic): Buffer {
  const w = new TpmWriter().u16(p.type).u16(p.nameAlg).u32(p.objectAttributes).tpm2b(p.authPolicy);
  writeSymDef(w, p.symmetric);
  writeScheme(w, p.scheme);
  if (p.type === TPM_ALG.RSA) {
    w.u16(p.keyBits).u32(p.exponent).tpm2b(p.modulus);
  } else {
    w.u16(p.curveId);
    writeScheme(w, p.kdf);
    w.tpm2b(p.x).tpm2b(p.y);
  }
  return w.finish();
}

/**
 * The TPM Name of an object: nameAlg ‖ H_nameAlg(TPMT_PUBLIC). Computed
 * over `encoded` exactly as given (what the TPM hashed), after checking
 * it decodes.
 */
export function publicName(encoded: Uint8Array): Buffer {
  const pub = decodePublic(encoded);
  const h = hashInfo(pub.nameAlg);
  if (!h) throw new TpmError(`TPMT_PUBLIC: an object with nameAlg ${algName(pub.nameAlg)} has no Name digest`);
  const alg = Buffer.alloc(2);
  alg.writeUInt16BE(pub.nameAlg);
  return Buffer.concat([alg, createHash(h.name).update(encoded).digest()]);
}

/** Whether every attribute in `names` is set on `pub`. */
export function hasAttributes(pub: TpmPublic, names: readonly ObjectAttribute[]): boolean {
  return names.every((n) => (pub.objectAttributes & TPMA_OBJECT[n]) !== 0);
}

const CURVES = new Map<number, { crv: string; size: number }>([
  [TPM_ECC_CURVE.NIST_P256, { crv: 'P-256', size: 32 }],
  [TPM_ECC_CURVE.NIST_P384, { crv: 'P-384', size: 48 }],
  [TPM_ECC_CURVE.NIST_P521, { crv: 'P-521', size: 66 }],
]);

/** The JWK curve name and coordinate size of a TPM curve, if node:crypto supports it. */
export function eccCurve(curveId: number): { crv: string; size: number } | undefined {
  return CURVES.get(curveId);
}

const b64url = (b: Buffer): string => b.toString('base64url');

function leftPad(b: Buffer, size: number, what: string): Buffer {
  let i = 0;
  while (i < b.length - size && b[i] === 0) i++;
  const v = b.subarray(i);
  if (v.length > size) throw new TpmError(`TPMT_PUBLIC: ${what} is ${v.length} bytes, longer than the curve's ${size}`);
  return Buffer.concat([Buffer.alloc(size - v.length), v]);
}

/** The object's public key as a KeyObject (RSA, or ECC on NIST P-256/P-384/P-521). */
export function publicKeyOf(pub: TpmPublic): KeyObject {
  if (pub.type === TPM_ALG.RSA) {
    if (pub.modulus.length === 0) throw new TpmError('TPMT_PUBLIC: empty RSA modulus');
    if (pub.keyBits !== 0 && pub.modulus.length * 8 !== pub.keyBits) {
      throw new TpmError(`TPMT_PUBLIC: RSA modulus is ${pub.modulus.length * 8} bits, keyBits says ${pub.keyBits}`);
    }
    const e = pub.exponent === 0 ? 65537 : pub.exponent;
    const eb = Buffer.alloc(4);
    eb.writeUInt32BE(e);
    let i = 0;
    while (i < 3 && eb[i] === 0) i++;
    try {
      return createPublicKey({ key: { kty: 'RSA', n: b64url(pub.modulus), e: b64url(eb.subarray(i)) }, format: 'jwk' });
    } catch (err) {
      throw new TpmError(`TPMT_PUBLIC: invalid RSA key: ${(err as Error).message}`);
    }
  }
  const curve = CURVES.get(pub.curveId);
  if (!curve) throw new TpmError(`TPMT_PUBLIC: unsupported ECC curve ${hex16(pub.curveId)} (want NIST P-256, P-384 or P-521)`);
  const x = leftPad(pub.x, curve.size, 'x');
  const y = leftPad(pub.y, curve.size, 'y');
  try {
    return createPublicKey({ key: { kty: 'EC', crv: curve.crv, x: b64url(x), y: b64url(y) }, format: 'jwk' });
  } catch (err) {
    throw new TpmError(`TPMT_PUBLIC: invalid ECC point: ${(err as Error).message}`);
  }
}

/** Whether two public keys are the same key (compared by their SPKI encodings). */
export function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ format: 'der', type: 'spki' }).equals(b.export({ format: 'der', type: 'spki' }));
}
