// The cache manager when things go wrong, and its JWT-SVID cache: server
// outages (served from cache, logged once, recovered with one line), the
// jittered exponential backoff, per-entry issuance failures, and JWT-SVID
// cache hits, misses, half-life renewal and request sharing.
import { describe, expect, it } from 'vitest';
import { validateJwtSvid } from '@spire-ts/common';
import { Backoff, DEGRADED_MESSAGE, RECOVERED_MESSAGE, SVIDS_CURRENT_MESSAGE, SVIDS_EXPIRED_MESSAGE, SVIDS_OVERDUE_MESSAGE, jwtCacheKey } from '../src/manager/index.js';
import type { Selector, WorkloadEntry } from '../src/workload/cache.js';
import { MIN, TD, checkIdentity, entry, harness, settle } from './manager-support.js';

const uid = (n: number): Selector => ({ type: 'unix', value: `uid:${n}` });

describe('AgentManager: server outage', () => {
  it('keeps serving cached identities, logs the degraded state once and the recovery once', async () => {
    const h = await harness();
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    await h.manager.start();
    const before = h.manager.fetchWorkloadUpdate([uid(1000)]);

    h.server.down = true;
    await h.runFor(3 * MIN);
    expect(h.manager.degraded).toBe(true);
    const during = h.manager.fetchWorkloadUpdate([uid(1000)]);
    expect(during.identities[0]).toBe(before.identities[0]);
    expect(during.bundle).toBe(before.bundle);
    checkIdentity(during.identities[0]!, during.bundle, h.time.now());
    const degraded = h.log.lines.filter((l) => l.msg === DEGRADED_MESSAGE);
    expect(degraded).toHaveLength(1);
    expect(degraded[0]!.level).toBe('error');
    expect(degraded[0]!.fields.error).toBe('14 connection refused');
    expect(h.log.lines.filter((l) => l.level === 'error' || l.level === 'warn')).toHaveLength(1);

    h.server.down = false;
    await h.runFor(30_000);
    expect(h.manager.degraded).toBe(false);
    const recovered = h.log.lines.filter((l) => l.msg === RECOVERED_MESSAGE);
    expect(recovered).toHaveLength(1);
    expect(recovered[0]!.fields.failed_attempts).toBeGreaterThan(3);
    await h.runFor(MIN);
    expect(h.log.lines.filter((l) => l.msg === RECOVERED_MESSAGE || l.msg === DEGRADED_MESSAGE)).toHaveLength(2);
    await h.manager.stop();
  });

  it('keeps serving X509-SVIDs past their renewal time and expiry, saying so once per change (not per SVID, not per sync)', async () => {
    // The operator's repro: x509_svid_ttl 120 s, the server gone.
    const h = await harness({}, 2 * MIN);
    for (let i = 0; i < 3; i++) h.server.put(entry(`e${i}`, `/w${i}`, [`unix:uid:${1000 + i}`]));
    await h.manager.start();
    const first = h.manager.fetchWorkloadUpdate([uid(1000)]).identities[0]!;
    const expiresAt = first.expiresAt.toISOString();
    h.server.down = true;
    await h.runFor(4 * MIN);
    // Served as they are, even expired.
    expect(h.manager.fetchWorkloadUpdate([uid(1000)]).identities[0]).toBe(first);
    const said = h.log.lines.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => [l.level, l.msg]);
    expect(said).toEqual([
      ['error', DEGRADED_MESSAGE],
      ['warn', SVIDS_OVERDUE_MESSAGE],
      ['error', SVIDS_EXPIRED_MESSAGE],
    ]);
    const overdue = h.log.lines.find((l) => l.msg === SVIDS_OVERDUE_MESSAGE)!;
    expect(overdue.fields).toEqual({ count: 3, spiffe_id: `spiffe://${TD}/w0`, entry_id: 'e0', expires_at: expiresAt });
    const expired = h.log.lines.find((l) => l.msg === SVIDS_EXPIRED_MESSAGE)!;
    expect(expired.fields).toEqual({ expired: 3, spiffe_id: `spiffe://${TD}/w0`, entry_id: 'e0', expired_at: expiresAt, renewal_overdue: 0 });

    h.server.down = false;
    await h.runFor(30_000);
    expect(h.log.lines.filter((l) => l.msg === SVIDS_CURRENT_MESSAGE)).toHaveLength(1);
    checkIdentity(h.manager.fetchWorkloadUpdate([uid(1000)]).identities[0]!, h.manager.bundle, h.time.now());
    await h.runFor(5 * MIN);
    expect(h.log.lines.filter((l) => l.msg.startsWith('Cached X509-SVIDs'))).toHaveLength(3);
    await h.manager.stop();
  });

  it('with many SVIDs coming due at different times, says at most one line per sync attempt', async () => {
    const h = await harness({ random: Math.random }, 2 * MIN);
    const n = 300;
    for (let i = 0; i < n; i++) h.server.put(entry(`e${i}`, `/w${i}`, [`unix:uid:${i}`]));
    await h.manager.start();
    const syncs = h.server.calls.sync;
    let attempts = 0;
    const sync = h.server.syncAuthorizedEntries.bind(h.server);
    h.server.syncAuthorizedEntries = (known) => {
      attempts++;
      return sync(known);
    };
    h.server.down = true;
    await h.runFor(4 * MIN);
    expect(h.server.calls.sync).toBe(syncs);
    const lines = h.log.lines.filter((l) => l.msg === SVIDS_OVERDUE_MESSAGE || l.msg === SVIDS_EXPIRED_MESSAGE);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.length).toBeLessThanOrEqual(attempts);
    const last = lines.at(-1)!;
    expect(last.fields.expired).toBe(n);
    await h.manager.stop();
  });

  it('says nothing of its own and stops syncing when a call says the agent is banned (the node identity reports it)', async () => {
    const h = await harness();
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    await h.manager.start();
    const banned = Object.assign(new Error('agent is banned: the server refused to sync registration entries'), { terminal: true });
    let attempts = 0;
    h.server.syncAuthorizedEntries = () => {
      attempts++;
      return Promise.reject(banned);
    };
    await h.runFor(MIN);
    expect(attempts).toBe(1);
    expect(h.log.lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
    expect(h.manager.degraded).toBe(false);
    expect(h.time.pendingDelay()).toBeUndefined();
    // Still serving what it has until the agent stops.
    expect(h.manager.fetchWorkloadUpdate([uid(1000)]).identities).toHaveLength(1);
    await h.manager.stop();
  });

  it('retries with exponential backoff capped at 5x the interval, then returns to the interval', async () => {
    const h = await harness();
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    await h.manager.start();
    expect(h.time.delays).toEqual([5_000]);
    h.server.down = true;
    await h.runFor(2 * MIN);
    expect(h.time.delays.slice(0, 7)).toEqual([5_000, 7_500, 11_250, 16_875, 25_000, 25_000, 25_000]);
    h.server.down = false;
    await h.runFor(30_000);
    expect(h.time.delays.at(-1)).toBe(5_000);
    await h.manager.stop();
    expect(h.time.pendingDelay()).toBeUndefined();
  });

  it('jitters each delay by up to ±10 %', async () => {
    const values = [0, 0.999999, 0.25];
    let i = 0;
    const b = new Backoff({ initialMs: 1_000, maxMs: 10_000, random: () => values[i++ % values.length]! });
    expect([b.next(), b.next(), b.next()]).toEqual([900, 1650, 2138]);
    b.reset();
    expect(b.currentMs).toBe(1_000);

    const seen = new Set<number>();
    const h = await harness({ random: Math.random });
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    await h.manager.start();
    await h.runFor(MIN);
    for (const d of h.time.delays) {
      expect(d).toBeGreaterThanOrEqual(4_500);
      expect(d).toBeLessThanOrEqual(5_500);
      seen.add(d);
    }
    expect(seen.size).toBeGreaterThan(1);
    await h.manager.stop();
  });

  it('logs a per-entry issuance failure once, keeps the other entries working and retries on the next sync', async () => {
    const h = await harness();
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    h.server.put(entry('b', '/api', ['unix:uid:2000']));
    h.server.refuse.add('a');
    await h.manager.start();
    expect(h.manager.degraded).toBe(false);
    expect(h.manager.fetchWorkloadUpdate([uid(1000)]).identities).toEqual([]);
    expect(h.manager.fetchWorkloadUpdate([uid(2000)]).identities).toHaveLength(1);
    await h.runFor(20_000);
    const warns = h.log.lines.filter((l) => l.msg.startsWith('Failed to issue X509-SVID'));
    expect(warns).toHaveLength(1);
    expect(warns[0]!.fields).toMatchObject({ entry_id: 'a', code: 8, error: 'rate limited' });
    expect(h.server.calls.batches.filter((b) => b.includes('a')).length).toBeGreaterThan(2);
    h.server.refuse.delete('a');
    await h.runFor(5_000);
    checkIdentity(h.manager.fetchWorkloadUpdate([uid(1000)]).identities[0]!, h.manager.bundle, h.time.now());
    await h.manager.stop();
  });

  it('issues in batches of at most x509BatchSize', async () => {
    const h = await harness({ x509BatchSize: 2 });
    for (let i = 0; i < 5; i++) h.server.put(entry(`e${i}`, `/w${i}`, [`unix:uid:${i}`], { createdAt: i }));
    await h.manager.start();
    expect(h.server.calls.batches).toEqual([['e0', 'e1'], ['e2', 'e3'], ['e4']]);
    expect(h.manager.stats.x509Svids).toBe(5);
    await expect(harness({ x509BatchSize: 501 })).rejects.toThrow(/x509BatchSize must be an integer in 1\.\.500/);
    await h.manager.stop();
  });
});

describe('AgentManager: JWT-SVIDs', () => {
  async function setup(over: Parameters<typeof entry>[3] = {}) {
    const h = await harness();
    h.server.put(entry('a', '/web', ['unix:uid:1000'], over));
    await h.manager.start();
    const e = h.manager.matchingEntries([uid(1000)])[0] as WorkloadEntry;
    return { h, e };
  }

  it('caches per SPIFFE ID and audience set until half the lifetime', async () => {
    const { h, e } = await setup();
    const t1 = await h.manager.fetchJwtSvid(e, ['b', 'a']);
    const v = validateJwtSvid(t1.token, { audience: 'a', bundles: new Map([[TD, h.manager.bundle!]]), now: h.time.now() });
    expect(v.spiffeId.toString()).toBe(`spiffe://${TD}/web`);
    expect(v.audience.sort()).toEqual(['a', 'b']);
    expect(t1.expiresAt.getTime()).toBe(h.time.t + 5 * MIN);

    expect(await h.manager.fetchJwtSvid(e, ['a', 'b', 'a'])).toBe(t1); // same set: hit
    const other = await h.manager.fetchJwtSvid(e, ['a']); // another audience: miss
    expect(other.token).not.toBe(t1.token);
    expect(h.server.calls.jwt).toHaveLength(2);
    expect(h.manager.stats.jwtSvids).toBe(2);

    h.time.t += 2.5 * MIN - 1_000;
    expect(await h.manager.fetchJwtSvid(e, ['a', 'b'])).toBe(t1);
    h.time.t += 1_000;
    const t2 = await h.manager.fetchJwtSvid(e, ['a', 'b']);
    expect(t2.token).not.toBe(t1.token);
    expect(h.server.calls.jwt).toHaveLength(3);
    expect(h.server.calls.jwt.at(-1)).toEqual({ entryId: 'a', audience: ['a', 'b'] });
    expect(jwtCacheKey('spiffe://x/y', ['b', 'a', 'b'])).toBe(jwtCacheKey('spiffe://x/y', ['a', 'b']));
    await h.manager.stop();
  });

  it('shares one mint between concurrent identical requests', async () => {
    const { h, e } = await setup();
    let open!: () => void;
    h.server.jwtGate = new Promise<void>((r) => (open = r));
    const all = Promise.all([h.manager.fetchJwtSvid(e, ['x']), h.manager.fetchJwtSvid(e, ['x']), h.manager.fetchJwtSvid(e, ['x'])]);
    await new Promise((r) => setImmediate(r));
    open();
    const [a, b, c] = await all;
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(h.server.calls.jwt).toHaveLength(1);
    await h.manager.stop();
  });

  it('skips the cache for entries with jwt_svid_include_jti', async () => {
    const { h, e } = await setup({ jwtSvidIncludeJti: true });
    await h.manager.fetchJwtSvid(e, ['x']);
    await h.manager.fetchJwtSvid(e, ['x']);
    expect(h.server.calls.jwt).toHaveLength(2);
    expect(h.manager.stats.jwtSvids).toBe(0);
    await h.manager.stop();
  });

  it('returns the cached token when renewal fails before it expires, fails after', async () => {
    const { h, e } = await setup();
    const t1 = await h.manager.fetchJwtSvid(e, ['x']);
    h.server.down = true;
    h.time.t += 3 * MIN;
    expect(await h.manager.fetchJwtSvid(e, ['x'])).toBe(t1);
    expect(h.log.lines.filter((l) => l.msg === 'Unable to renew JWT; returning cached copy')).toHaveLength(1);
    h.time.t += 2 * MIN;
    await expect(h.manager.fetchJwtSvid(e, ['x'])).rejects.toThrow(/unable to renew JWT for "spiffe:\/\/example.org\/web": 14 connection refused/);
    await expect(h.manager.fetchJwtSvid(e, [])).rejects.toThrow(TypeError);
    await expect(h.manager.fetchJwtSvid({ ...e, spiffeId: `spiffe://${TD}/other` }, ['x'])).rejects.toThrow(/no entry "a" for spiffe:\/\/example.org\/other/);
    h.server.down = false;
    await settle(h.manager);
    await h.manager.stop();
  });
});
