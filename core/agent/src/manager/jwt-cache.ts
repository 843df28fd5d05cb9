/**
 * The agent's JWT-SVID cache (SPIRE's JWTSVIDCache): tokens by SPIFFE ID and
 * audience set, reused until half their lifetime, at most `maxSize` of them
 * (least recently used go first). Identical concurrent requests share one
 * mint. When renewal fails, a cached token that has not expired is returned.
 */
import type { Logger } from '@spire-ts/common';
import type { JwtSvid } from '../workload/cache.js';
import type { JwtSvidResult } from '../node/server-api.js';

interface Cached {
  readonly svid: JwtSvid;
  /** Unix ms. */
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export interface JwtSvidCacheOptions {
  /** SPIRE's `jwt_svid_cache_max_size`. */
  maxSize: number;
  /** Unix ms. */
  now: () => number;
  log: Logger;
}

/** The cache key: SPIFFE ID and the sorted, de-duplicated audience. */
export function jwtCacheKey(spiffeId: string, audience: readonly string[]): string {
  return JSON.stringify([spiffeId, ...[...new Set(audience)].sort()]);
}

/** Whether a token is due for renewal at `now`: past half its lifetime, or expired. */
export function jwtNeedsRenewal(c: { issuedAt: number; expiresAt: number }, now: number): boolean {
  return now >= c.expiresAt || now >= c.issuedAt + (c.expiresAt - c.issuedAt) / 2;
}

function toCached(r: JwtSvidResult, now: number): Cached {
  if (typeof r?.token !== 'string' || r.token === '') throw new Error('the server returned an empty JWT-SVID');
  const expiresAt = r.expiresAt * 1000;
  if (!Number.isFinite(expiresAt) || expiresAt <= now) throw new Error(`the server returned a JWT-SVID that expires at ${String(r.expiresAt)}`);
  const issuedAt = Number.isFinite(r.issuedAt) && r.issuedAt * 1000 < expiresAt ? r.issuedAt * 1000 : now;
  return { svid: Object.freeze({ token: r.token, expiresAt: new Date(expiresAt) }), issuedAt, expiresAt };
}

export class JwtSvidCache {
  readonly #o: JwtSvidCacheOptions;
  /** Insertion order = recency (entries are re-inserted on use). */
  readonly #tokens = new Map<string, Cached>();
  readonly #inflight = new Map<string, Promise<JwtSvid>>();

  constructor(options: JwtSvidCacheOptions) {
    this.#o = options;
  }

  get size(): number {
    return this.#tokens.size;
  }

  /**
   * A JWT-SVID for `spiffeId` and `audience`, from the cache or `mint`.
   * With `bypass` (entries with `jwt_svid_include_jti`: every token must be
   * unique) the cache and request sharing are skipped.
   */
  /** The cached token for `spiffeId` and `audience` if it needs no renewal (and marks it recently used), else undefined. */
  peek(spiffeId: string, audience: readonly string[]): JwtSvid | undefined {
    const key = jwtCacheKey(spiffeId, audience);
    const hit = this.#tokens.get(key);
    if (!hit || jwtNeedsRenewal(hit, this.#o.now())) return undefined;
    this.#tokens.delete(key);
    this.#tokens.set(key, hit);
    return hit.svid;
  }

  fetch(spiffeId: string, audience: readonly string[], bypass: boolean, mint: () => Promise<JwtSvidResult>): Promise<JwtSvid> {
    if (bypass) return mint().then((r) => toCached(r, this.#o.now()).svid);
    const key = jwtCacheKey(spiffeId, audience);
    const hit = this.#tokens.get(key);
    if (hit && !jwtNeedsRenewal(hit, this.#o.now())) {
      this.#tokens.delete(key);
      this.#tokens.set(key, hit);
      return Promise.resolve(hit.svid);
    }
    const running = this.#inflight.get(key);
    if (running) return running;
    const p = this.#renew(key, spiffeId, mint).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  async #renew(key: string, spiffeId: string, mint: () => Promise<JwtSvidResult>): Promise<JwtSvid> {
    let fresh: Cached;
    try {
      fresh = toCached(await mint(), this.#o.now());
    } catch (err) {
      const cached = this.#tokens.get(key);
      if (cached && this.#o.now() < cached.expiresAt) {
        this.#o.log.warn('Unable to renew JWT; returning cached copy', { spiffe_id: spiffeId, error: (err as Error)?.message ?? String(err) });
        return cached.svid;
      }
      if (cached) throw new Error(`unable to renew JWT for ${JSON.stringify(spiffeId)}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      throw err;
    }
    this.#tokens.delete(key);
    this.#tokens.set(key, fresh);
    while (this.#tokens.size > this.#o.maxSize) {
      const oldest = this.#tokens.keys().next().value as string;
      this.#tokens.delete(oldest);
    }
    return fresh.svid;
  }
}
