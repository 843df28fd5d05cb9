/**
 * SPIRE's per-IP rate limits on the TCP endpoint (`server.ratelimit`):
 * agent attestation 1 per second per IP (`attestation`, default on),
 * X.509 CSRs and JWT-SVIDs 500 per second per IP (`signing`, default on),
 * PublishJWTAuthority 500 and PostStatus 10 per second per IP (always).
 * A limited call waits for its tokens, as SPIRE's (a token bucket whose burst
 * is its rate); one that needs more than the burst at once (a batch of more
 * than 500 CSRs) is refused with RESOURCE_EXHAUSTED. Callers on the admin
 * socket are never limited.
 */
import { Status } from '@spire-ts/plugin-sdk';
import { apiError } from './errors.js';

export const ATTEST_LIMIT_PER_IP = 1;
export const SIGN_LIMIT_PER_IP = 500;
export const PUSH_KEY_LIMIT_PER_IP = 500;
export const POST_STATUS_LIMIT_PER_IP = 10;

/** A token bucket refilled at `rate` per second up to `burst` (golang.org/x/time/rate's semantics for WaitN). */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  private refill(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    return t;
  }

  /** True when the bucket is full (an idle key whose state can be dropped). */
  get idle(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }

  /**
   * Takes `n` tokens now and answers how long to wait (ms) before acting on
   * them: 0 when they were there. The tokens are reserved either way, so
   * concurrent callers queue in order.
   */
  reserve(n: number): number {
    if (n > this.burst) throw apiError(Status.RESOURCE_EXHAUSTED, `rate (${n}) exceeds burst size (${this.burst})`);
    this.refill();
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }

  /** Gives back a reservation the caller did not use (its call was cancelled while waiting). */
  cancel(n: number): void {
    this.refill();
    this.tokens = Math.min(this.burst, this.tokens + n);
  }
}

/** One bucket per key (client IP), forgetting keys whose bucket has been full for a while. */
export class PerKeyLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private gets = 0;

  constructor(
    readonly rate: number,
    private readonly now: () => number = Date.now,
  ) {}

  bucket(key: string): TokenBucket {
    let b = this.buckets.get(key);
    if (!b) {
      b = new TokenBucket(this.rate, this.rate, this.now);
      this.buckets.set(key, b);
    }
    if (++this.gets % 1024 === 0) for (const [k, v] of this.buckets) if (v !== b && v.idle) this.buckets.delete(k);
    return b;
  }

  get size(): number {
    return this.buckets.size;
  }
}

/** The method paths SPIRE limits, and what each call counts. */
export type LimitedMethod = 'attest' | 'csr' | 'jwt' | 'push-key' | 'post-status';

const METHODS: Readonly<Record<string, LimitedMethod>> = {
  '/spire.api.server.agent.v1.Agent/AttestAgent': 'attest',
  '/spire.api.server.svid.v1.SVID/BatchNewX509SVID': 'csr',
  '/spire.api.server.svid.v1.SVID/NewDownstreamX509CA': 'csr',
  '/spire.api.server.svid.v1.SVID/NewJWTSVID': 'jwt',
  '/spire.api.server.bundle.v1.Bundle/PublishJWTAuthority': 'push-key',
  '/spire.api.server.agent.v1.Agent/PostStatus': 'post-status',
};

export interface RateLimitConfig {
  /** Limit AttestAgent (SPIRE's `ratelimit.attestation`). */
  readonly attestation: boolean;
  /** Limit CSR and JWT signing (SPIRE's `ratelimit.signing`). */
  readonly signing: boolean;
}

/** The request-dependent count of a limited call: BatchNewX509SVID counts its CSRs. */
export function callCount(method: LimitedMethod, request: unknown): number {
  if (method !== 'csr') return 1;
  const params = (request as { params?: unknown } | null | undefined)?.params;
  return Array.isArray(params) ? Math.max(1, params.length) : 1;
}

/** The limiters of one server. */
export class RateLimits {
  private readonly limiters = new Map<LimitedMethod, PerKeyLimiter>();

  constructor(config: RateLimitConfig, now: () => number = Date.now) {
    if (config.attestation) this.limiters.set('attest', new PerKeyLimiter(ATTEST_LIMIT_PER_IP, now));
    if (config.signing) {
      this.limiters.set('csr', new PerKeyLimiter(SIGN_LIMIT_PER_IP, now));
      this.limiters.set('jwt', new PerKeyLimiter(SIGN_LIMIT_PER_IP, now));
    }
    this.limiters.set('push-key', new PerKeyLimiter(PUSH_KEY_LIMIT_PER_IP, now));
    this.limiters.set('post-status', new PerKeyLimiter(POST_STATUS_LIMIT_PER_IP, now));
  }

  /** The limited method a path is, if any. */
  static methodOf(path: string): LimitedMethod | undefined {
    return METHODS[path];
  }

  /**
   * Waits until the caller at `ip` may make a `method` call counting `n`;
   * resolves at once for an unlimited method. `cancelled` ends the wait early
   * (the tokens are given back) and rejects with CANCELLED.
   */
  async wait(method: LimitedMethod, ip: string, n: number, cancelled?: (onCancel: () => void) => void): Promise<void> {
    const limiter = this.limiters.get(method);
    if (!limiter) return;
    const bucket = limiter.bucket(ip);
    const delay = bucket.reserve(n);
    if (delay <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, delay);
      cancelled?.(() => {
        clearTimeout(timer);
        bucket.cancel(n);
        reject(apiError(Status.CANCELLED, 'call cancelled while rate limited'));
      });
    });
  }
}

/** The IP of a formatted `host:port` / `[v6]:port` address. */
export function ipOf(address: string): string {
  if (address.startsWith('[')) return address.slice(1, address.indexOf(']'));
  const i = address.lastIndexOf(':');
  return i < 0 ? address : address.slice(0, i);
}
