/**
 * The addon against node:crypto: the same verdict for valid signatures,
 * signatures over other messages, by other keys, tampered, non-canonical
 * DER (the verdict OpenSSL's own ECDSA_verify gives), and points that are
 * not P-256 public keys; also from a worker thread (one group per thread).
 */
import { createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { EcPointError, ecVerifyAvailable, ecVerifyUnavailableReason, verifyP256Sha256 } from '../src/index.js';

function keyPair(): { privateKey: KeyObject; point: Buffer; spki: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return { privateKey, point: spki.subarray(26), spki };
}

function nodeVerify(spki: Buffer, message: Buffer, signature: Buffer): boolean {
  return verify('sha256', message, { key: createPublicKey({ key: spki, format: 'der', type: 'spki' }), dsaEncoding: 'der' }, signature);
}

describe('verifyP256Sha256', () => {
  it('is built (npm ci builds it; the server falls back to node:crypto otherwise)', () => {
    expect(ecVerifyUnavailableReason).toBeUndefined();
    expect(ecVerifyAvailable).toBe(true);
  });

  it('agrees with node:crypto on valid, wrong and tampered signatures', () => {
    for (let i = 0; i < 200; i++) {
      const k = keyPair();
      const other = keyPair();
      const message = randomBytes(1 + (i % 300));
      const sig = sign('sha256', message, k.privateKey);
      expect(verifyP256Sha256(k.point, message, sig)).toBe(true);
      const wrongMessage = Buffer.concat([message, Buffer.from([i & 0xff])]);
      expect(verifyP256Sha256(k.point, wrongMessage, sig)).toBe(false);
      expect(verifyP256Sha256(other.point, message, sig)).toBe(false);
      const tampered = Buffer.from(sig);
      tampered[tampered.length - 1 - (i % 8)]! ^= 1 << (i % 8);
      expect(verifyP256Sha256(k.point, message, tampered)).toBe(nodeVerify(k.spki, message, tampered));
    }
  });

  it('refuses what OpenSSL refuses: trailing bytes, BER lengths, r or s out of range, garbage', () => {
    const k = keyPair();
    const message = randomBytes(64);
    const sig = sign('sha256', message, k.privateKey);
    const variants: Buffer[] = [
      Buffer.concat([sig, Buffer.from([0])]),
      // The same SEQUENCE with a long-form length (BER, not DER).
      Buffer.concat([Buffer.from([0x30, 0x81, sig[1]!]), sig.subarray(2)]),
      Buffer.alloc(0),
      randomBytes(70),
      // r = 0, s = 1.
      Buffer.from([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01]),
    ];
    for (const v of variants) {
      expect(verifyP256Sha256(k.point, message, v)).toBe(false);
      expect(nodeVerify(k.spki, message, v)).toBe(false);
    }
  });

  it('throws EcPointError for points that are not P-256 public keys', () => {
    const k = keyPair();
    const message = randomBytes(32);
    const sig = sign('sha256', message, k.privateKey);
    const offCurve = Buffer.from(k.point);
    offCurve[64]! ^= 1;
    const bad = [offCurve, k.point.subarray(0, 64), Buffer.from([0x00]), Buffer.alloc(0), Buffer.concat([k.point, Buffer.from([1])])];
    for (const p of bad) expect(() => verifyP256Sha256(p, message, sig)).toThrow(EcPointError);
    // node:crypto refuses the off-curve key too.
    const spki = Buffer.from(k.spki);
    spki[spki.length - 1]! ^= 1;
    expect(() => createPublicKey({ key: spki, format: 'der', type: 'spki' })).toThrow();
    // A compressed encoding of the same point is the same key.
    const x = k.point.subarray(1, 33);
    const compressed = Buffer.concat([Buffer.from([0x02 + (k.point[64]! & 1)]), x]);
    expect(verifyP256Sha256(compressed, message, sig)).toBe(true);
  });

  it('refuses arguments that are not Uint8Arrays', () => {
    const verifyLoose = verifyP256Sha256 as (...a: unknown[]) => boolean;
    expect(() => verifyLoose('x', Buffer.alloc(1), Buffer.alloc(1))).toThrow(TypeError);
    expect(() => verifyLoose(Buffer.alloc(65), new Uint16Array(2), Buffer.alloc(1))).toThrow(TypeError);
  });

  it('works from worker threads, each with its own group', async () => {
    const k = keyPair();
    const message = randomBytes(100);
    const sig = sign('sha256', message, k.privateKey);
    const url = new URL('../dist/index.js', import.meta.url).href;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.url).then((m) => {
        const ok = m.verifyP256Sha256(workerData.point, workerData.message, workerData.sig);
        const bad = m.verifyP256Sha256(workerData.point, workerData.message.subarray(1), workerData.sig);
        parentPort.postMessage([ok, bad]);
      });`;
    const results = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<unknown>((resolve, reject) => {
            const w = new Worker(code, { eval: true, workerData: { url, point: k.point, message, sig } });
            w.once('message', (m) => {
              resolve(m);
              void w.terminate();
            });
            w.once('error', reject);
          }),
      ),
    );
    expect(results).toEqual([[true, false], [true, false], [true, false]]);
  });
});
