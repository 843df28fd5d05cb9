// SPIRE's per-IP rate limits: token buckets that make a limited call wait,
// refuse a batch over the burst, and leave the admin socket alone; and
// through real TLS endpoints, two attestations from one IP a second apart.
import { describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import { PerKeyLimiter, RateLimits, TokenBucket, callCount, ipOf } from '../src/api/ratelimit.js';

describe('TokenBucket', () => {
  it('answers the wait of each reservation, in order, and refills at its rate', () => {
    let t = 0;
    const b = new TokenBucket(1, 1, () => t);
    expect(b.reserve(1)).toBe(0);
    expect(b.reserve(1)).toBe(1000);
    expect(b.reserve(1)).toBe(2000);
    t = 2500;
    expect(b.reserve(1)).toBe(500);
    t = 10_000;
    expect(b.idle).toBe(true);
  });

  it('refuses more than the burst at once with RESOURCE_EXHAUSTED, as SPIRE', () => {
    const b = new TokenBucket(500, 500);
    expect(() => b.reserve(501)).toThrow(expect.objectContaining({ code: Status.RESOURCE_EXHAUSTED, message: 'rate (501) exceeds burst size (500)' }) as Error);
    expect(b.reserve(500)).toBe(0);
  });

  it('gives back the tokens of a cancelled wait', () => {
    const t = 0;
    const b = new TokenBucket(10, 10, () => t);
    b.reserve(10);
    expect(b.reserve(5)).toBe(500);
    b.cancel(5);
    expect(b.reserve(5)).toBe(500);
  });
});

describe('RateLimits', () => {
  it('limits attestation per IP: a second attestation from one IP waits a second, another IP does not', async () => {
    const limits = new RateLimits({ attestation: true, signing: true });
    const t0 = Date.now();
    await limits.wait('attest', '10.0.0.1', 1);
    await limits.wait('attest', '10.0.0.2', 1);
    expect(Date.now() - t0).toBeLessThan(200);
    await limits.wait('attest', '10.0.0.1', 1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it('a cancelled wait rejects with CANCELLED', async () => {
    const limits = new RateLimits({ attestation: true, signing: false });
    await limits.wait('attest', '10.0.0.3', 1);
    let cancel: (() => void) | undefined;
    const waiting = limits.wait('attest', '10.0.0.3', 1, (fn) => (cancel = fn));
    cancel?.();
    await expect(waiting).rejects.toMatchObject({ code: Status.CANCELLED });
  });

  it('ratelimit { attestation = false signing = false } leaves those calls alone; PostStatus stays limited', async () => {
    const limits = new RateLimits({ attestation: false, signing: false });
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) await limits.wait('attest', '10.0.0.4', 1);
    await limits.wait('csr', '10.0.0.4', 5000);
    expect(Date.now() - t0).toBeLessThan(200);
    await expect(limits.wait('post-status', '10.0.0.4', 11)).rejects.toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
  });

  it('knows SPIRE\'s limited methods and what a call counts', () => {
    expect(RateLimits.methodOf('/spire.api.server.agent.v1.Agent/AttestAgent')).toBe('attest');
    expect(RateLimits.methodOf('/spire.api.server.svid.v1.SVID/BatchNewX509SVID')).toBe('csr');
    expect(RateLimits.methodOf('/spire.api.server.svid.v1.SVID/MintX509SVID')).toBeUndefined();
    expect(callCount('csr', { params: [{}, {}, {}] })).toBe(3);
    expect(callCount('jwt', { id: 'x' })).toBe(1);
    expect(ipOf('[::1]:4242')).toBe('::1');
    expect(ipOf('127.0.0.1:8081')).toBe('127.0.0.1');
  });

  it('forgets idle keys', () => {
    let t = 0;
    const l = new PerKeyLimiter(1, () => t);
    for (let i = 0; i < 2000; i++) l.bucket(`10.1.${i >> 8}.${i & 255}`).reserve(1);
    t = 5_000;
    for (let i = 0; i < 1024; i++) l.bucket('10.9.9.9');
    expect(l.size).toBeLessThan(10);
  });
});
