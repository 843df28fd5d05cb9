// The ECDSA core: OpenSSL does k·G, we do the signature equation (nonce
// inverses made in batches). Prove it
// against OpenSSL's verifier on many random nonces, and pin the encodings.
import { createHash, createPrivateKey, generateKeyPairSync, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { P256, P384, bytesToBigInt, digestToInt, ecdsaSignDigest, encodeSignature } from '../src/ecdsa.js';

// A private key's JWK, exported from a copy re-imported from DER: Node 20 can deadlock JWK-exporting a generated KeyObject.
function privateJwkViaDer(key: KeyObject): JsonWebKey {
  return createPrivateKey({ key: key.export({ type: 'pkcs8', format: 'der' }), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
}

describe.each([
  { curve: P256, name: 'P-256' },
  { curve: P384, name: 'P-384' },
])('ECDSA $name', ({ curve, name }) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: name });
  const d = bytesToBigInt(Buffer.from(privateJwkViaDer(privateKey).d!, 'base64url'));

  it('every signature over 100 messages verifies with OpenSSL, and not for another message', () => {
    for (let i = 0; i < 100; i++) {
      const msg = Buffer.from(`message ${i}`);
      const sig = ecdsaSignDigest(curve, d, createHash('sha256').update(msg).digest());
      expect(verify('sha256', msg, { key: publicKey, dsaEncoding: 'der' }, sig)).toBe(true);
      expect(verify('sha256', Buffer.from(`other ${i}`), { key: publicKey, dsaEncoding: 'der' }, sig)).toBe(false);
    }
  });

  it('uses a fresh nonce each time', () => {
    const dig = createHash('sha256').update('same').digest();
    const a = Buffer.from(ecdsaSignDigest(curve, d, dig));
    const b = Buffer.from(ecdsaSignDigest(curve, d, dig));
    expect(a.equals(b)).toBe(false);
  });

  it('never reuses a nonce across batches and keys sharing the curve, and every signature verifies', () => {
    const other = generateKeyPairSync('ec', { namedCurve: name });
    const d2 = bytesToBigInt(Buffer.from(privateJwkViaDer(other.privateKey).d!, 'base64url'));
    const msg = Buffer.from('same message');
    const dig = createHash('sha256').update(msg).digest();
    const rs = new Set<string>();
    // Several nonce batches, the two keys interleaved.
    for (let i = 0; i < 200; i++) {
      const [key, pub] = i % 2 ? [d2, other.publicKey] : [d, publicKey];
      const sig = ecdsaSignDigest(curve, key, dig);
      expect(verify('sha256', msg, { key: pub, dsaEncoding: 'der' }, sig)).toBe(true);
      // r is the first INTEGER of the SEQUENCE; r = x(k·G) repeats only if k does.
      const body = Buffer.from(sig).subarray(sig[1]! & 0x80 ? 2 + (sig[1]! & 0x7f) : 2);
      rs.add(body.subarray(2, 2 + body[1]!).toString('hex'));
    }
    expect(rs.size).toBe(200);
  });
});

describe('encodings', () => {
  it('digestToInt keeps the leftmost order-size bytes (Go hashToInt)', () => {
    const digest = Buffer.alloc(64, 0);
    digest[0] = 0x80;
    digest[40] = 0xff; // beyond 32 bytes: dropped for P-256
    expect(digestToInt(digest, P256)).toBe(0x80n << 248n);
    expect(digestToInt(Buffer.from([1, 2]), P256)).toBe(0x0102n);
  });

  it('DER integers are minimal and positive', () => {
    expect(Buffer.from(encodeSignature(1n, 0x80n)).toString('hex')).toBe('3007020101020200' + '80');
    expect(Buffer.from(encodeSignature(0x7fn, 0x0100n)).toString('hex')).toBe('300702017f02020100');
  });

  it('uses long-form lengths when the body exceeds 127 bytes', () => {
    const big = (1n << 520n) + 5n; // 66-byte integers, as for P-521 sized values
    const der = Buffer.from(encodeSignature(big, big));
    expect(der[0]).toBe(0x30);
    expect(der[1]).toBe(0x81);
    expect(der[2]).toBe(der.length - 3);
  });
});
