import { constants, createHash, generateKeyPairSync, privateEncrypt, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { emsaPssEncode, mgf1, pssEncodedLength } from '../src/pss.js';
import { HASH_SPECS, digestInfo, lookupHash } from '../src/digestinfo.js';

const message = Buffer.from('pss encoding test');

// Moduli whose bit length is not ≡ 0 (mod 8) exercise the emBits/emLen edge
// cases that the 2048/4096-bit key types never hit.
describe.each([1025, 1031, 1032])('EMSA-PSS with a %i-bit modulus', (modBits) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: modBits });
  const k = Math.ceil(modBits / 8);

  it.each([0, 20, 32])('salt length %i verifies with OpenSSL', (saltLength) => {
    const mHash = createHash('sha256').update(message).digest();
    const em = emsaPssEncode(mHash, { hashName: 'sha256', hashSize: 32, emBits: modBits - 1, saltLength });
    expect(em.length).toBe(pssEncodedLength(modBits - 1));
    const input = new Uint8Array(k);
    input.set(em, k - em.length);
    const sig = privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, input);
    const opts = { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength };
    expect(nodeVerify('sha256', message, opts, sig)).toBe(true);
  });
});

describe('emsaPssEncode', () => {
  it('is deterministic given the salt and ends in 0xbc', () => {
    const mHash = new Uint8Array(32).fill(7);
    const salt = new Uint8Array(32).fill(9);
    const params = { hashName: 'sha256', hashSize: 32, emBits: 2047, saltLength: 32, random: () => salt };
    const a = emsaPssEncode(mHash, params);
    const b = emsaPssEncode(mHash, params);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(a.length).toBe(256);
    expect(a[255]).toBe(0xbc);
    expect(a[0]! & 0x80).toBe(0);
  });

  it('rejects a salt that does not fit and a wrong-length hash', () => {
    const mHash = new Uint8Array(64);
    expect(() => emsaPssEncode(mHash, { hashName: 'sha512', hashSize: 64, emBits: 1023, saltLength: 63 })).toThrow(RangeError);
    expect(() => emsaPssEncode(mHash, { hashName: 'sha512', hashSize: 64, emBits: 1023, saltLength: 62 })).not.toThrow();
    expect(() => emsaPssEncode(new Uint8Array(32), { hashName: 'sha512', hashSize: 64, emBits: 1023, saltLength: 0 })).toThrow(RangeError);
  });

  it('MGF1 concatenates Hash(seed || counter) blocks', () => {
    const seed = Buffer.from('seed');
    const mask = mgf1('sha256', seed, 70);
    const block = (c: number): Buffer => createHash('sha256').update(seed).update(Buffer.from([0, 0, 0, c])).digest();
    expect(Buffer.from(mask).equals(Buffer.concat([block(0), block(1), block(2)]).subarray(0, 70))).toBe(true);
  });
});

describe('digestInfo', () => {
  it('matches the RFC 8017 §9.2 prefix for SHA-256', () => {
    const d = new Uint8Array(32);
    const hex = Buffer.from(digestInfo(HASH_SPECS.SHA256, d)).toString('hex');
    expect(hex).toBe('3031300d060960864801650304020105000420' + '00'.repeat(32));
  });

  it('matches the RFC 8017 §9.2 prefix for SHA-512/256', () => {
    const hex = Buffer.from(digestInfo(HASH_SPECS.SHA512_256, new Uint8Array(32))).toString('hex');
    expect(hex.startsWith('3031300d060960864801650304020605000420')).toBe(true);
  });

  it('looks hashes up by name and Go number only', () => {
    expect(lookupHash('SHA3_256')?.goId).toBe(11);
    expect(lookupHash(15)?.name).toBe('SHA512_256');
    expect(lookupHash('hasOwnProperty')).toBeUndefined();
    expect(lookupHash(1)).toBeUndefined();
  });
});
