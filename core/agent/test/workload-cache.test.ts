// StaticWorkloadCache: SPIRE's matching rule, per-entry federated bundles,
// change notifications only to the subscribers whose view changed, stored
// state isolated from the caller's objects, and the JWT-SVID cache.
import { describe, expect, it } from 'vitest';
import {
  StaticWorkloadCache,
  entryMatches,
  filterDuplicateHints,
  type Selector,
  type WorkloadEntry,
  type WorkloadUpdate,
} from '../src/workload/index.js';
import { bundleOf, jwtMinter, makeCa, makeJwtKey, makeSvid } from './workload-fixtures.js';

const sel = (...values: string[]): Selector[] => values.map((v) => ({ type: 'unix', value: v }));
const entry = (entryId: string, selectors: Selector[], extra: Partial<WorkloadEntry> = {}): WorkloadEntry => ({
  entryId,
  spiffeId: `spiffe://example.org/${entryId}`,
  selectors,
  hint: '',
  federatesWith: [],
  createdAt: 0,
  ...extra,
});
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('entryMatches', () => {
  it('matches when every entry selector is among the caller selectors', () => {
    expect(entryMatches(sel('uid:1'), sel('uid:1', 'gid:2'))).toBe(true);
    expect(entryMatches(sel('uid:1', 'gid:2'), sel('uid:1', 'gid:2', 'user:x'))).toBe(true);
    expect(entryMatches(sel('uid:1', 'gid:3'), sel('uid:1', 'gid:2'))).toBe(false);
    expect(entryMatches([{ type: 'k8s', value: 'uid:1' }], sel('uid:1'))).toBe(false);
    expect(entryMatches([], sel('uid:1'))).toBe(false);
  });
});

describe('filterDuplicateHints', () => {
  it('keeps the oldest entry per hint, then the lowest entry ID, and every entry without a hint', () => {
    const items = [
      { entryId: 'c', hint: 'h', createdAt: 5 },
      { entryId: 'b', hint: 'h', createdAt: 3 },
      { entryId: 'z', hint: '', createdAt: 9 },
      { entryId: 'a', hint: 'h', createdAt: 3 },
      { entryId: 'y', hint: '', createdAt: 1 },
    ];
    const { kept, dropped } = filterDuplicateHints(items);
    expect(kept.map((i) => i.entryId)).toEqual(['z', 'a', 'y']);
    expect(dropped.map((i) => i.entryId)).toEqual(['c', 'b']);
  });
});

describe('StaticWorkloadCache', () => {
  it('returns matching identities oldest first, the own bundle, and only the federated bundles of matching entries', async () => {
    const ca = await makeCa('example.org');
    const fed1 = await makeCa('one.test');
    const fed2 = await makeCa('two.test');
    const cache = new StaticWorkloadCache({ trustDomain: 'example.org' });
    for (const c of [ca, fed1, fed2]) cache.setBundle(bundleOf(c));
    cache.setEntry(entry('new', sel('uid:1'), { createdAt: 20, federatesWith: ['one.test'] }), await makeSvid(ca, 'spiffe://example.org/new'));
    cache.setEntry(entry('old', sel('uid:1'), { createdAt: 10 }), await makeSvid(ca, 'spiffe://example.org/old'));
    cache.setEntry(entry('other', sel('uid:2'), { federatesWith: ['two.test'] }), await makeSvid(ca, 'spiffe://example.org/other'));
    cache.setEntry(entry('nosvid', sel('uid:1'), { createdAt: 30 }));

    const u = cache.fetchWorkloadUpdate(sel('uid:1', 'gid:0'));
    expect(u.identities.map((i) => i.entryId)).toEqual(['old', 'new']);
    expect(u.bundle?.trustDomain).toBe('example.org');
    expect(u.federatedBundles.map((b) => b.trustDomain)).toEqual(['one.test']);
    expect(cache.matchingEntries(sel('uid:1')).map((e) => e.entryId)).toEqual(['old', 'new', 'nosvid']);
    expect(cache.fetchWorkloadUpdate(sel('uid:3'))).toMatchObject({ identities: [], federatedBundles: [] });
  });

  it('notifies, once per batch, only the subscribers whose view changed; unsubscribe stops it', async () => {
    const ca = await makeCa('example.org');
    const cache = new StaticWorkloadCache({ trustDomain: 'example.org' });
    cache.setBundle(bundleOf(ca));
    const a: WorkloadUpdate[] = [];
    const b: WorkloadUpdate[] = [];
    const unsubA = cache.subscribe(sel('uid:1'), (u) => a.push(u));
    cache.subscribe(sel('uid:2'), (u) => b.push(u));
    expect(a).toHaveLength(0); // never synchronously from subscribe

    const svid = await makeSvid(ca, 'spiffe://example.org/a');
    cache.setEntry(entry('a', sel('uid:1')), svid);
    cache.setX509Svid('a', svid);
    await tick();
    expect(a).toHaveLength(1);
    expect(a[0]!.identities.map((i) => i.entryId)).toEqual(['a']);
    expect(b).toHaveLength(0);

    // A bundle change reaches everyone.
    cache.setBundle(bundleOf(ca));
    await tick();
    expect([a.length, b.length]).toEqual([2, 1]);

    unsubA();
    unsubA();
    cache.removeEntry('a');
    await tick();
    expect(a).toHaveLength(2);
    expect(cache.subscriberCount).toBe(1);
  });

  it('keeps its own copies: mutating the inputs changes nothing', async () => {
    const ca = await makeCa('example.org');
    const cache = new StaticWorkloadCache({ trustDomain: 'example.org' });
    const bundle = bundleOf(ca);
    cache.setBundle(bundle);
    const svid = await makeSvid(ca, 'spiffe://example.org/a');
    const selectors = sel('uid:1');
    cache.setEntry(entry('a', selectors), svid);
    (selectors as Selector[]).push({ type: 'unix', value: 'uid:99' });
    svid.certChainDer[0]!.fill(0);
    bundle.x509Authorities[0]!.fill(0);
    const u = cache.fetchWorkloadUpdate(sel('uid:1'));
    expect(u.identities).toHaveLength(1);
    expect(u.identities[0]!.certChainDer[0]![0]).toBe(0x30);
    expect(u.bundle!.x509Authorities[0]![0]).toBe(0x30);
    expect(Object.isFrozen(u.identities[0])).toBe(true);
  });

  it('rejects bad input without changing state', async () => {
    const ca = await makeCa('example.org');
    const cache = new StaticWorkloadCache({ trustDomain: 'example.org' });
    const svid = await makeSvid(ca, 'spiffe://example.org/a');
    expect(() => cache.setEntry(entry('a', []))).toThrow(/selectors must not be empty/);
    expect(() => cache.setEntry({ ...entry('a', sel('uid:1')), spiffeId: 'spiffe://Example.org/x' })).toThrow();
    expect(() => cache.setEntry(entry('a', sel('uid:1'), { federatesWith: ['not a td'] }))).toThrow();
    expect(() => cache.setEntry(entry('a', [{ type: 'unix', value: '' }]))).toThrow(/non-empty type and value/);
    expect(() => cache.setEntry(entry('a', sel('uid:1')), { ...svid, certChainDer: [] })).toThrow(/chain is empty/);
    expect(() => cache.setX509Svid('missing', { certChainDer: [ca.cert.der], privateKeyPkcs8Der: new Uint8Array(1), expiresAt: new Date() })).toThrow(/no entry/);
    expect(() => cache.removeBundle('example.org')).toThrow(/cannot be removed/);
    expect(cache.matchingEntries(sel('uid:1'))).toEqual([]);
  });

  it('caches JWT-SVIDs per entry and audience set until half their lifetime, and forgets them on entry change', async () => {
    const key = await makeJwtKey();
    const minted: string[] = [];
    let now = Date.now();
    const cache = new StaticWorkloadCache({ trustDomain: 'example.org', mintJwtSvid: jwtMinter(key, 300_000, minted), now: () => new Date(now) });
    const e = entry('a', sel('uid:1'));
    cache.setEntry(e);
    const t1 = await cache.fetchJwtSvid(e, ['x', 'y']);
    expect((await cache.fetchJwtSvid(e, ['y', 'x'])).token).toBe(t1.token);
    await cache.fetchJwtSvid(e, ['z']);
    expect(minted).toEqual(['a', 'a']);
    now += 200_000;
    await cache.fetchJwtSvid(e, ['x', 'y']);
    expect(minted).toHaveLength(3);
    cache.setEntry(e);
    await cache.fetchJwtSvid(e, ['x', 'y']);
    expect(minted).toHaveLength(4);
    await expect(cache.fetchJwtSvid(entry('unknown', sel('uid:1')), ['x'])).rejects.toThrow(/no entry/);
    await expect(new StaticWorkloadCache({ trustDomain: 'example.org' }).fetchJwtSvid(e, ['x'])).rejects.toThrow(/no entry/);
  });
});
