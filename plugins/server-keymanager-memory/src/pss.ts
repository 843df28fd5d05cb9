/**
 * EMSA-PSS encoding (RFC 8017 §9.1.1) over an already computed message hash,
 * with MGF1 (RFC 8017 §B.2.1) using the same hash function.
 *
 * node:crypto only offers PSS over the message itself (it always hashes), so
 * signing a caller-supplied digest needs the encoding done here followed by a
 * raw RSA private-key operation.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Inputs to {@link emsaPssEncode}. */
export interface PssEncodeParams {
  /** node:crypto hash name used for H = Hash(M') and for MGF1. */
  readonly hashName: string;
  /** Length in bytes of that hash's output. */
  readonly hashSize: number;
  /** Maximal bit length of the integer OS2IP(EM): modulus bits - 1. */
  readonly emBits: number;
  /** Exact salt length in bytes (already resolved from any "auto" convention). */
  readonly saltLength: number;
  /** Salt source; defaults to node:crypto `randomBytes`. Only tests should override it. */
  readonly random?: (n: number) => Uint8Array;
}

/** Length in octets of the encoded message for `emBits`. */
export function pssEncodedLength(emBits: number): number {
  return Math.ceil(emBits / 8);
}

/** MGF1(seed, maskLen) with the given hash. */
export function mgf1(hashName: string, seed: Uint8Array, maskLen: number): Uint8Array {
  const mask = new Uint8Array(maskLen);
  const counter = new Uint8Array(4);
  for (let offset = 0, c = 0; offset < maskLen; c++) {
    new DataView(counter.buffer).setUint32(0, c);
    const block = createHash(hashName).update(seed).update(counter).digest();
    const n = Math.min(block.length, maskLen - offset);
    mask.set(block.subarray(0, n), offset);
    offset += n;
  }
  return mask;
}

/**
 * Computes EM = maskedDB || H || 0xbc for the message hash `mHash`.
 * @throws RangeError if `mHash` has the wrong length, or the salt does not fit
 *   (emLen < hLen + sLen + 2); callers are expected to have validated both.
 */
export function emsaPssEncode(mHash: Uint8Array, params: PssEncodeParams): Uint8Array {
  const { hashName, hashSize: hLen, emBits, saltLength: sLen } = params;
  const emLen = pssEncodedLength(emBits);
  if (mHash.length !== hLen) throw new RangeError(`PSS: message hash must be ${hLen} bytes, got ${mHash.length}`);
  if (!Number.isSafeInteger(sLen) || sLen < 0 || emLen < hLen + sLen + 2) {
    throw new RangeError(`PSS: salt length ${sLen} does not fit a ${emBits}-bit encoded message with a ${hLen}-byte hash`);
  }

  const salt = sLen === 0 ? new Uint8Array(0) : (params.random ?? randomBytes)(sLen);
  if (salt.length !== sLen) throw new RangeError('PSS: random source returned the wrong number of bytes');

  // M' = (0x)00 00 00 00 00 00 00 00 || mHash || salt
  const h = createHash(hashName).update(new Uint8Array(8)).update(mHash).update(salt).digest();

  // DB = PS || 0x01 || salt, masked in place.
  const dbLen = emLen - hLen - 1;
  const db = new Uint8Array(dbLen);
  db[dbLen - sLen - 1] = 0x01;
  db.set(salt, dbLen - sLen);
  const mask = mgf1(hashName, h, dbLen);
  for (let i = 0; i < dbLen; i++) db[i] = db[i] ^ mask[i];
  // Clear the leftmost 8*emLen - emBits bits so that EM < 2^emBits <= modulus.
  db[0] = db[0] & (0xff >>> (8 * emLen - emBits));

  const em = new Uint8Array(emLen);
  em.set(db, 0);
  em.set(h, dbLen);
  em[emLen - 1] = 0xbc;
  return em;
}
