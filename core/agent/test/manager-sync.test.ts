// The cache manager against a real server CA: first sync, rotation at
// half-life, entry removal and revision changes, LRU eviction and
// subscriptions. SVIDs are verified with node:crypto and validateX509Svid.
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Bundle } from '@spire-ts/common';
import type { Selector, WorkloadUpdate } from '../src/workload/cache.js';
import { HOUR, MIN, TD, checkIdentity, entry, harness, settle } from './manager-support.js';

const sel = (s: string): Selector => ({ type: s.slice(0, s.indexOf(':')), value: s.slice(s.indexOf(':') + 1) });
const serial = (der: Uint8Array | undefined): string => new X509Certificate(der as Uint8Array).serialNumber;

describe('AgentManager: first sync', () => {
  it('fetches entries and bundles, mints SVIDs for prefetchable entries in one batch', async () => {
    const h = await harness();
    h.server.put(entry('a', '/web', ['unix:uid:1000'], { createdAt: 10 }));
    h.server.put(entry('b', '/lazy', ['unix:uid:1000'], { createdAt: 20, disableX509SvidPrefetch: true }));
    h.server.put(entry('c', '/db', ['unix:uid:2000'], { createdAt: 30 }));
    await h.manager.start();

    expect(h.server.calls.sync).toBe(1);
    expect(h.server.calls.batches).toEqual([['a', 'c']]);
    expect(h.manager.stats).toMatchObject({ entries: 3, x509Svids: 2 });
    expect(h.manager.lastSync?.getTime()).toBe(h.time.t);
    expect(h.log.lines.filter((l) => l.msg === 'Creating X509-SVID').map((l) => l.fields.entry_id)).toEqual(['a', 'c']);

    expect(h.manager.matchingEntries([sel('unix:uid:1000'), sel('unix:gid:0')]).map((e) => e.entryId)).toEqual(['a', 'b']);
    expect(h.manager.matchingEntries([sel('unix:gid:0')])).toEqual([]);

    const u = h.manager.fetchWorkloadUpdate([sel('unix:uid:1000')]);
    expect(u.identities.map((i) => i.spiffeId)).toEqual([`spiffe://${TD}/web`]);
    expect(u.bundle?.x509Authorities).toEqual(h.server.ca.bundle().x509Authorities);
    checkIdentity(u.identities[0]!, u.bundle, h.time.now());

    // The entry without prefetch is minted once a workload asks for it.
    await settle(h.manager);
    expect(h.server.calls.batches).toEqual([['a', 'c'], ['b']]);
    const u2 = h.manager.fetchWorkloadUpdate([sel('unix:uid:1000')]);
    expect(u2.identities.map((i) => i.entryId)).toEqual(['a', 'b']);
    for (const i of u2.identities) checkIdentity(i, u2.bundle, h.time.now());
    await h.manager.stop();
  });

  it('serves federated bundles for the trust domains entries federate with', async () => {
    const h = await harness();
    const other: Bundle = { trustDomain: 'other.org', x509Authorities: [h.server.ca.bundle().x509Authorities[0]!], jwtAuthorities: [], refreshHint: 0, sequenceNumber: 3 };
    h.server.federated.set('other.org', other);
    h.server.put(entry('a', '/web', ['unix:uid:1000'], { federatesWith: ['other.org', 'missing.org'] }));
    h.server.put(entry('b', '/db', ['unix:uid:2000']));
    await h.manager.start();
    expect(h.server.calls.federated.sort()).toEqual(['missing.org', 'other.org']);
    expect(h.manager.fetchWorkloadUpdate([sel('unix:uid:1000')]).federatedBundles.map((b) => [b.trustDomain, b.sequenceNumber])).toEqual([['other.org', 3]]);
    expect(h.manager.fetchWorkloadUpdate([sel('unix:uid:2000')]).federatedBundles).toEqual([]);

    // A federated bundle change reaches the subscriber.
    const seen: WorkloadUpdate[] = [];
    h.manager.subscribe([sel('unix:uid:1000')], (u) => seen.push(u));
    h.server.federated.set('other.org', { ...other, sequenceNumber: 4 });
    await h.runFor(5_000);
    expect(seen.map((u) => u.federatedBundles[0]?.sequenceNumber)).toEqual([4]);
    await h.manager.stop();
  });

  it('ignores malformed or foreign entries and store_svid entries, keeps the rest', async () => {
    const h = await harness();
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    h.server.put({ ...entry('bad', '/x', ['unix:uid:1000']), spiffeId: 'spiffe://elsewhere.org/x' });
    h.server.put(entry('nosel', '/y', []));
    h.server.put(entry('store', '/s', ['unix:uid:1000'], { storeSvid: true }));
    await h.manager.start();
    expect(h.manager.matchingEntries([sel('unix:uid:1000')]).map((e) => e.entryId)).toEqual(['a']);
    expect(h.server.calls.batches).toEqual([['a']]);
    await h.runFor(15_000);
    const warns = h.log.lines.filter((l) => l.msg === 'Ignoring registration entry');
    expect(warns.map((l) => l.fields.entry_id).sort()).toEqual(['bad', 'nosel']);
    expect(String(warns.find((l) => l.fields.entry_id === 'bad')?.fields.error)).toMatch(/not in the agent's trust domain/);
    await h.manager.stop();
  });

  it('rejects start when the first sync fails and stays stopped', async () => {
    const h = await harness();
    h.server.down = true;
    await expect(h.manager.start()).rejects.toThrow(/failed to sync with SPIRE Server: 14 connection refused/);
    expect(h.time.pendingDelay()).toBeUndefined();
    await expect(h.manager.start()).rejects.toThrow(/cannot be started: it is stopped/);
  });
});

describe('AgentManager: rotation and entry changes', () => {
  it('renews an SVID at half its lifetime and notifies subscribers once', async () => {
    const h = await harness({ syncIntervalMs: 60_000 });
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    await h.manager.start();
    const first = h.manager.fetchWorkloadUpdate([sel('unix:uid:1000')]).identities[0]!;
    const leaf = new X509Certificate(first.certChainDer[0]!);
    const half = (new Date(leaf.validFrom).getTime() + new Date(leaf.validTo).getTime()) / 2;

    const seen: WorkloadUpdate[] = [];
    h.manager.subscribe([sel('unix:uid:1000')], (u) => seen.push(u));
    await h.runFor(half - h.time.t - 61_000);
    expect(h.server.calls.batches).toHaveLength(1);
    expect(seen).toHaveLength(0);

    await h.runFor(2 * 60_000);
    expect(h.server.calls.batches).toEqual([['a'], ['a']]);
    expect(seen).toHaveLength(1);
    const renewed = seen[0]!.identities[0]!;
    expect(serial(renewed.certChainDer[0])).not.toBe(serial(first.certChainDer[0]));
    expect(renewed.expiresAt.getTime()).toBeGreaterThan(first.expiresAt.getTime());
    expect(Buffer.from(renewed.privateKeyPkcs8Der).equals(Buffer.from(first.privateKeyPkcs8Der))).toBe(false);
    checkIdentity(renewed, seen[0]!.bundle, h.time.now());
    expect(h.log.lines.filter((l) => l.msg === 'Renewing X509-SVID')).toHaveLength(1);
    await h.manager.stop();
  });

  it('drops a removed entry and notifies its subscribers', async () => {
    const h = await harness();
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    h.server.put(entry('b', '/api', ['unix:uid:1000']));
    await h.manager.start();
    const seen: WorkloadUpdate[] = [];
    const unrelated: WorkloadUpdate[] = [];
    h.manager.subscribe([sel('unix:uid:1000')], (u) => seen.push(u));
    h.manager.subscribe([sel('unix:uid:3000')], (u) => unrelated.push(u));
    const a = h.manager.matchingEntries([sel('unix:uid:1000')])[0]!;
    h.server.entries.delete('a');
    await h.runFor(5_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.identities.map((i) => i.entryId)).toEqual(['b']);
    expect(unrelated).toHaveLength(0);
    expect(h.manager.stats).toMatchObject({ entries: 1, x509Svids: 1 });
    await expect(h.manager.fetchJwtSvid(a, ['aud'])).rejects.toThrow(/no entry "a"/);
    await h.manager.stop();
  });

  it('a sync that changed nothing keeps every entry view; swapping one entry for another at the same count is seen', async () => {
    const h = await harness();
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    h.server.put(entry('b', '/api', ['unix:uid:1000'], { federatesWith: ['other.org'] }));
    await h.manager.start();
    const before = h.manager.matchingEntries([sel('unix:uid:1000')]);
    const seen: WorkloadUpdate[] = [];
    h.manager.subscribe([sel('unix:uid:1000')], (u) => seen.push(u));
    await h.runFor(15_000);
    expect(h.server.calls.sync).toBe(4);
    // The very same view objects: nothing was re-checked or re-indexed, and nobody was told.
    const after = h.manager.matchingEntries([sel('unix:uid:1000')]);
    expect(after).toHaveLength(2);
    after.forEach((v, i) => expect(v).toBe(before[i]));
    expect(seen).toEqual([]);
    // Federated bundles are still fetched on every sync.
    expect(h.server.calls.federated.filter((td) => td === 'other.org')).toHaveLength(4);

    h.server.entries.delete('a');
    h.server.put(entry('c', '/db', ['unix:uid:1000']));
    await h.runFor(5_000);
    expect(h.manager.matchingEntries([sel('unix:uid:1000')]).map((e) => e.entryId)).toEqual(['b', 'c']);
    expect(seen.at(-1)?.identities.map((i) => i.entryId)).toEqual(['b', 'c']);
    await h.manager.stop();
  });

  it('re-mints when the entry revision changes and drops at once an SVID whose SPIFFE ID changed', async () => {
    const h = await harness();
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    h.server.put(entry('b', '/api', ['unix:uid:2000']));
    await h.manager.start();
    const before = h.manager.fetchWorkloadUpdate([sel('unix:uid:1000')]).identities[0]!;
    const seen: WorkloadUpdate[] = [];
    h.manager.subscribe([sel('unix:uid:1000')], (u) => seen.push(u));

    h.server.put(entry('a', '/web', ['unix:uid:1000'], { revisionNumber: 2, hint: 'internal' }));
    await h.runFor(5_000);
    expect(h.server.calls.batches).toEqual([['a', 'b'], ['a']]);
    const after = h.manager.fetchWorkloadUpdate([sel('unix:uid:1000')]).identities[0]!;
    expect(after.hint).toBe('internal');
    expect(serial(after.certChainDer[0])).not.toBe(serial(before.certChainDer[0]));
    // The new hint and the new certificate arrive as one update.
    expect(seen).toHaveLength(1);
    expect(seen[0]!.identities[0]).toBe(after);

    // A new SPIFFE ID: the old certificate must not be served any more.
    h.server.put(entry('b', '/renamed', ['unix:uid:2000'], { revisionNumber: 2 }));
    h.server.refuse.add('b');
    await h.runFor(5_000);
    expect(h.manager.fetchWorkloadUpdate([sel('unix:uid:2000')]).identities).toEqual([]);
    h.server.refuse.delete('b');
    await h.runFor(5_000);
    const renamed = h.manager.fetchWorkloadUpdate([sel('unix:uid:2000')]).identities[0]!;
    expect(renamed.spiffeId).toBe(`spiffe://${TD}/renamed`);
    checkIdentity(renamed, h.manager.bundle, h.time.now());
    await h.manager.stop();
  });

  it('notifies every subscriber when the trust bundle changes (CA rotation)', async () => {
    const h = await harness({ syncIntervalMs: 10 * MIN });
    h.server.put(entry('a', '/web', ['unix:uid:1000']));
    await h.manager.start();
    const seen: WorkloadUpdate[] = [];
    h.manager.subscribe([sel('unix:uid:1000')], (u) => seen.push(u));
    const roots = h.manager.bundle!.x509Authorities.length;
    // The server CA prepares its next authority at half its lifetime and publishes it in the bundle.
    h.time.t += 13 * HOUR;
    await h.server.ca.rotate();
    expect(h.server.ca.bundle().x509Authorities.length).toBeGreaterThan(roots);
    await h.runFor(10 * MIN);
    expect(seen.some((u) => u.bundle!.x509Authorities.length > roots)).toBe(true);
    await h.manager.stop();
  });
});

describe('AgentManager: LRU cache', () => {
  it('keeps at most x509SvidCacheMaxSize SVIDs, evicting the least recently requested unsubscribed ones', async () => {
    const h = await harness({ x509SvidCacheMaxSize: 2 });
    for (const [id, uid, at] of [['a', 1, 1], ['b', 2, 2], ['c', 3, 3], ['d', 4, 4]] as const) {
      h.server.put(entry(id, `/${id}`, [`unix:uid:${uid}`], { createdAt: at }));
    }
    await h.manager.start();
    // Prefetch fills the cache up to its size, oldest entries first.
    expect(h.server.calls.batches).toEqual([['a', 'b']]);
    h.manager.fetchWorkloadUpdate([sel('unix:uid:1')]); // a is now more recently used than b

    const onC: WorkloadUpdate[] = [];
    h.manager.subscribe([sel('unix:uid:3')], (u) => onC.push(u));
    await settle(h.manager);
    expect(h.server.calls.batches.at(-1)).toEqual(['c']);
    expect(onC).toHaveLength(1);
    expect(onC[0]!.identities.map((i) => i.entryId)).toEqual(['c']);
    expect(h.manager.stats.x509Svids).toBe(3);

    await h.runFor(5_000); // the next sync trims: b goes (least recently requested, unsubscribed)
    expect(h.manager.stats.x509Svids).toBe(2);
    expect(h.manager.fetchWorkloadUpdate([sel('unix:uid:1')]).identities).toHaveLength(1);

    // Subscribed entries are never evicted, even beyond the size.
    h.manager.subscribe([sel('unix:uid:4')], () => {});
    h.manager.subscribe([sel('unix:uid:1')], () => {});
    await settle(h.manager);
    const held = [1, 3, 4].map((n) => h.manager.fetchWorkloadUpdate([sel(`unix:uid:${n}`)]).identities[0]);
    const batches = h.server.calls.batches.length;
    await h.runFor(15_000);
    expect(h.manager.stats.x509Svids).toBe(3);
    expect(h.server.calls.batches).toHaveLength(batches); // nothing evicted, so nothing re-minted
    expect([1, 3, 4].map((n) => h.manager.fetchWorkloadUpdate([sel(`unix:uid:${n}`)]).identities[0])).toEqual(held);
    expect(onC).toHaveLength(1);
    for (const uid of [1, 3, 4]) expect(h.manager.fetchWorkloadUpdate([sel(`unix:uid:${uid}`)]).identities).toHaveLength(1);

    // An evicted entry is minted again when a workload asks.
    expect(h.manager.fetchWorkloadUpdate([sel('unix:uid:2')]).identities).toEqual([]);
    await settle(h.manager);
    const b = h.manager.fetchWorkloadUpdate([sel('unix:uid:2')]).identities;
    expect(b.map((i) => i.entryId)).toEqual(['b']);
    checkIdentity(b[0]!, h.manager.bundle, h.time.now());
    await h.manager.stop();
  });

  it('unsubscribing lets an entry be evicted again', async () => {
    const h = await harness({ x509SvidCacheMaxSize: 1 });
    h.server.put(entry('a', '/a', ['unix:uid:1'], { createdAt: 1 }));
    h.server.put(entry('b', '/b', ['unix:uid:2'], { createdAt: 2 }));
    await h.manager.start();
    const unsubscribe = h.manager.subscribe([sel('unix:uid:2')], () => {});
    await settle(h.manager);
    await h.runFor(5_000);
    expect(h.manager.fetchWorkloadUpdate([sel('unix:uid:2')]).identities).toHaveLength(1);
    expect(h.manager.stats.x509Svids).toBe(1); // a was evicted, b is held for its subscriber
    unsubscribe();
    unsubscribe();
    h.manager.fetchWorkloadUpdate([sel('unix:uid:1')]); // a is wanted again, now the most recent
    await settle(h.manager);
    await h.runFor(5_000);
    expect(h.manager.stats.x509Svids).toBe(1);
    expect(h.manager.fetchWorkloadUpdate([sel('unix:uid:1')]).identities).toHaveLength(1);
    await h.manager.stop();
  });
});
