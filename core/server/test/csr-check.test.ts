// The CSR check pool: worker threads give the same verdicts and errors as
// checking on the main thread, per CSR of a mixed batch, and a pool whose
// workers go away mid-batch still answers every check.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { X509Error, buildCSR, memoryLogger, parseCSRAsync } from '@spire-ts/common';
import { CsrCheckPool } from '../src/api/csr-check.js';

function csr(kind: 'ec-p256' | 'ec-p384' | 'rsa' = 'ec-p256'): Uint8Array {
  const { privateKey } =
    kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: kind === 'ec-p256' ? 'P-256' : 'P-384' });
  return buildCSR(privateKey, { uris: ['spiffe://example.org/w'] });
}

/** The same CSR with the last byte of its signature changed (still DER). */
function tampered(der: Uint8Array): Uint8Array {
  const out = new Uint8Array(der);
  out[out.length - 1] ^= 0x01;
  return out;
}

/** A P-256 CSR whose public key point is not on the curve (x+1), so OpenSSL refuses to import it. */
function offCurve(der: Uint8Array): Uint8Array {
  const out = new Uint8Array(der);
  // The uncompressed point 04||X||Y follows the P-256 SPKI prefix.
  const prefix = [0x03, 0x42, 0x00, 0x04];
  let at = -1;
  for (let i = 0; i + prefix.length < out.length; i++) if (prefix.every((b, k) => out[i + k] === b)) { at = i + prefix.length; break; }
  if (at < 0) throw new Error('no P-256 point in the CSR');
  out[at + 31] ^= 0x01;
  return out;
}

const pools: CsrCheckPool[] = [];
function pool(threads: number): CsrCheckPool {
  const p = new CsrCheckPool({ threads, log: memoryLogger() });
  pools.push(p);
  return p;
}

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

describe('CsrCheckPool', () => {
  it.each([0, 1, 2])('with %i worker thread(s): valid, tampered, off-curve and malformed CSRs in one batch', async (threads) => {
    const p = pool(threads);
    const good = [csr(), csr('ec-p384'), csr('rsa')];
    const bad = tampered(csr());
    const offCurveCsr = offCurve(csr());
    const settled = await Promise.allSettled([...good, bad, offCurveCsr, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])].map((d) => p.check(d)));
    expect(p.runningThreads).toBe(threads);
    for (let i = 0; i < good.length; i++) {
      const r = settled[i]!;
      expect(r.status).toBe('fulfilled');
      if (r.status === 'fulfilled') {
        expect(r.value.signatureValid).toBe(true);
        expect(r.value.uris).toEqual(['spiffe://example.org/w']);
        expect(Buffer.from(r.value.der).equals(Buffer.from(good[i]!))).toBe(true);
      }
    }
    const t = settled[3]!;
    expect(t.status === 'fulfilled' && t.value.signatureValid).toBe(false);
    // Same verdicts and error codes as the main-thread parser.
    for (const [i, der] of [[4, offCurveCsr], [5, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])]] as const) {
      const r = settled[i]!;
      expect(r.status).toBe('rejected');
      const inline = await parseCSRAsync(der).then(() => undefined, (e: unknown) => e);
      expect(inline).toBeInstanceOf(X509Error);
      if (r.status === 'rejected') {
        expect(r.reason).toBeInstanceOf(X509Error);
        expect((r.reason as X509Error).code).toBe((inline as X509Error).code);
      }
    }
  });

  it('answers each CSR of a large batch with its own verdict', async () => {
    const p = pool(2);
    const ders = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? tampered(csr()) : csr()));
    const out = await Promise.all(ders.map((d) => p.check(d)));
    expect(out.map((c) => c.signatureValid)).toEqual(ders.map((_, i) => i % 3 !== 0));
    // Fields come back as the main thread parsed them (views of the caller's bytes).
    for (let i = 0; i < ders.length; i++) expect(Buffer.from(out[i]!.der).equals(Buffer.from(ders[i]!))).toBe(true);
  });

  it('finishes checks in flight on the main thread when its workers stop', async () => {
    const p = new CsrCheckPool({ threads: 1 });
    await p.check(csr());
    expect(p.runningThreads).toBe(1);
    const ders = Array.from({ length: 20 }, (_, i) => (i % 2 ? tampered(csr()) : csr()));
    const pending = ders.map((d) => p.check(d));
    await p.close();
    expect(p.runningThreads).toBe(0);
    expect((await Promise.all(pending)).map((c) => c.signatureValid)).toEqual(ders.map((_, i) => i % 2 === 0));
    // Closed: still answers, on the main thread.
    expect((await p.check(csr())).signatureValid).toBe(true);
    expect(p.runningThreads).toBe(0);
  });

  it('refuses a bad thread count', () => {
    expect(() => new CsrCheckPool({ threads: -1 })).toThrow(/non-negative integer/);
    expect(() => new CsrCheckPool({ threads: 1.5 })).toThrow(/non-negative integer/);
  });
});
