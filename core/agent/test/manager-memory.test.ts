// The agent's compact representation of entries and SVIDs (what a cache of
// ten thousand entries keeps per entry) and the minting that leaves little
// behind: each must keep the agent's behaviour exactly, checked here with
// the real CA of manager-support.ts.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { memoryLogger, parseCertificate, type KeyType } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import { entryFromProto } from '../src/node/convert.js';
import { toWorkloadEntry } from '../src/manager/entries.js';
import { IdentityCache, type DueSvid } from '../src/manager/identity-cache.js';
import { KEYGEN_SLICE, mintX509Batch } from '../src/manager/x509-minter.js';
import { SyncGarbage } from '../src/manager/gc.js';
import type { X509SvidResult } from '../src/node/server-api.js';
import { FakeTime, TD, TestServer, checkIdentity, entry, harness } from './manager-support.js';

const protoEntry = (id: string, path: string, selectors: [string, string][], over: Partial<apiTypes.Entry__Output> = {}): apiTypes.Entry__Output =>
  ({
    id,
    spiffe_id: { trust_domain: TD, path },
    selectors: selectors.map(([type, value]) => ({ type, value })),
    federates_with: [],
    admin: false,
    downstream: false,
    revision_number: '3',
    store_svid: false,
    hint: '',
    created_at: '1700000000',
    ...over,
  }) as unknown as apiTypes.Entry__Output;

const due = (id: string, path: string): DueSvid => ({ entryId: id, spiffeId: `spiffe://${TD}${path}`, revision: 1, reason: 'prefetch' });

describe('decoded entries', () => {
  it('are deeply frozen, share equal selector strings, and their workload view shares their selectors', () => {
    // Strings built at run time, as a decoder makes them: equal but distinct objects.
    const uid = ['uid:', '1000'].join('');
    const a = entryFromProto(protoEntry('a', '/a', [['unix', 'uid:1000'], ['unix', 'gid:1']]));
    const b = entryFromProto(protoEntry('b', '/b', [[['un', 'ix'].join(''), uid]]));
    expect(Object.isFrozen(a) && Object.isFrozen(a.selectors) && a.selectors.every((s) => Object.isFrozen(s))).toBe(true);
    expect(Object.isFrozen(a.federatesWith)).toBe(true);
    expect(a.revisionNumber).toBe(3);
    expect(b.selectors).toEqual([{ type: 'unix', value: 'uid:1000' }]);
    const view = toWorkloadEntry(a, TD);
    if (typeof view === 'string') throw new Error(view);
    expect(view.selectors).toBe(a.selectors);
    expect(view.spiffeId).toBe(a.spiffeId);
    expect(view.federatesWith).toEqual([]);
    expect(Object.isFrozen(view)).toBe(true);
  });

  it('keep their federated trust domains, and a view of a mutable entry still copies its selectors', () => {
    const fed = entryFromProto(protoEntry('f', '/f', [['unix', 'uid:1']], { federates_with: ['other.org'] }));
    const view = toWorkloadEntry(fed, TD);
    if (typeof view === 'string') throw new Error(view);
    expect(view.federatesWith).toEqual(['other.org']);
    const mutable = entry('m', '/m', ['unix:uid:1']);
    const v2 = toWorkloadEntry(mutable, TD);
    if (typeof v2 === 'string') throw new Error(v2);
    expect(v2.selectors).not.toBe(mutable.selectors);
    expect(v2.selectors).toEqual(mutable.selectors);
    (mutable.selectors as { type: string; value: string }[])[0]!.value = 'uid:2';
    expect(v2.selectors[0]!.value).toBe('uid:1');
  });
});

describe('mintX509Batch', () => {
  for (const keyType of ['ec-p256', 'ec-p384', 'rsa-2048'] as KeyType[]) {
    it(`issues ${keyType} SVIDs whose chains and keys are views of one slab, each key matching its certificate`, async () => {
      const time = new FakeTime();
      const server = await TestServer.create(time);
      const n = keyType === 'rsa-2048' ? 3 : KEYGEN_SLICE * 2 + 3; // several slices for EC keys
      const dues = Array.from({ length: n }, (_, i) => due(`e${i}`, `/w/${i}`));
      for (const [i, d] of dues.entries()) server.put(entry(d.entryId, `/w/${i}`, [`unix:gid:${i}`]));
      const outcomes = await mintX509Batch(server, dues, keyType, () => time.now());
      expect(outcomes.map((o) => o.ok)).toEqual(dues.map(() => true));
      const slabs = new Set<ArrayBufferLike>();
      for (const [i, o] of outcomes.entries()) {
        if (!o.ok) throw new Error(o.message);
        expect(o.due).toBe(dues[i]);
        slabs.add(o.privateKeyPkcs8Der.buffer);
        for (const c of o.certChainDer) slabs.add(c.buffer);
        const leaf = new X509Certificate(o.certChainDer[0]!);
        expect(leaf.subjectAltName).toBe(`URI:${dues[i]!.spiffeId}`);
        expect(leaf.checkPrivateKey(createPrivateKey({ key: Buffer.from(o.privateKeyPkcs8Der), format: 'der', type: 'pkcs8' }))).toBe(true);
        expect(o.notAfter.getTime()).toBe(parseCertificate(o.certChainDer[0]!).notAfter.getTime());
        expect(Object.isFrozen(o.certChainDer)).toBe(true);
      }
      expect(slabs.size).toBe(1);
      const keyTypeOf = createPrivateKey({ key: Buffer.from((outcomes[0] as { privateKeyPkcs8Der: Uint8Array }).privateKeyPkcs8Der), format: 'der', type: 'pkcs8' }).asymmetricKeyType;
      expect(keyTypeOf).toBe(keyType.startsWith('ec') ? 'ec' : 'rsa');
    });
  }

  it('keeps a per-entry failure out of the slab and the SVIDs around it intact', async () => {
    const time = new FakeTime();
    const server = await TestServer.create(time);
    const dues = [due('ok1', '/ok1'), due('refused', '/refused'), due('ok2', '/ok2')];
    for (const d of dues) server.put(entry(d.entryId, `/${d.entryId}`, ['unix:uid:1']));
    server.refuse.add('refused');
    const outcomes = await mintX509Batch(server, dues, 'ec-p256', () => time.now());
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    const refused = outcomes[1]!;
    expect(refused.ok ? undefined : [refused.code, refused.message]).toEqual([8, 'rate limited']);
    const [a, , b] = outcomes;
    if (!a?.ok || !b?.ok) throw new Error('mint failed');
    // Side by side in one slab: a's chain and key, then b's.
    expect(a.privateKeyPkcs8Der.buffer).toBe(b.certChainDer[0]!.buffer);
    expect(a.privateKeyPkcs8Der.byteOffset + a.privateKeyPkcs8Der.byteLength).toBe(b.certChainDer[0]!.byteOffset);
    expect(b.privateKeyPkcs8Der.byteOffset + b.privateKeyPkcs8Der.byteLength).toBe(b.privateKeyPkcs8Der.buffer.byteLength);
  });

  it('rejects a chain for another key or SPIFFE ID, and a wrong number of results', async () => {
    const time = new FakeTime();
    const server = await TestServer.create(time);
    server.put(entry('a', '/a', ['unix:uid:1']));
    server.put(entry('b', '/b', ['unix:uid:1']));
    const swapped = {
      batchNewX509Svid: async (requests: readonly { entryId: string; csr: Uint8Array }[]): Promise<X509SvidResult[]> => {
        const [ra, rb] = await server.batchNewX509Svid(requests);
        // a gets b's certificate (another key and SPIFFE ID); b gets a's certificate re-labelled.
        return [{ ...(rb as X509SvidResult), entryId: 'a' }, { ...(ra as X509SvidResult), entryId: 'b' }];
      },
    } as unknown as TestServer;
    const outcomes = await mintX509Batch(swapped, [due('a', '/a'), due('b', '/b')], 'ec-p256', () => time.now());
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.message))).toEqual([expect.stringMatching(/X\.509-SVID for \["spiffe:\/\/example\.org\/b"\], expected spiffe:\/\/example\.org\/a/), expect.stringMatching(/X\.509-SVID for \["spiffe:\/\/example\.org\/a"\]/)]);
    const short = { batchNewX509Svid: async (): Promise<X509SvidResult[]> => [] } as unknown as TestServer;
    await expect(mintX509Batch(short, [due('a', '/a')], 'ec-p256', () => time.now())).rejects.toThrow(/returned 0 results for 1 requests/);
  });
});

/**
 * A cache for one SVID holding entries a (unix:uid:1) and b (unix:uid:2),
 * with a's SVID stored (renewal at 5000) and so b not prefetched;
 * `beforeMint` sees the cache before a's SVID is stored.
 */
async function fullCacheOfA(beforeMint: (cache: IdentityCache) => void = () => undefined): Promise<IdentityCache> {
  const time = new FakeTime();
  const server = await TestServer.create(time);
  const cache = new IdentityCache({ trustDomain: TD, maxSvids: 1, now: () => 0, log: memoryLogger() });
  const [a, b] = [entry('a', '/a', ['unix:uid:1']), entry('b', '/b', ['unix:uid:2'])];
  server.put(a);
  server.put(b);
  cache.replaceEntries([a, b].map((e) => ({ entry: e, view: toWorkloadEntry(e, TD) as Exclude<ReturnType<typeof toWorkloadEntry>, string> })));
  beforeMint(cache);
  const [o] = await mintX509Batch(server, [due('a', '/a')], 'ec-p256', () => time.now());
  if (!o?.ok) throw new Error('mint failed');
  cache.store(o.due, { ...o, rotateAt: 5000 });
  return cache;
}

describe('IdentityCache', () => {
  const options = { trustDomain: TD, maxSvids: 10, now: () => 0, log: memoryLogger() };

  it('stores minted material as given, and record() reports the SVID bookkeeping', async () => {
    const time = new FakeTime();
    const server = await TestServer.create(time);
    const cache = new IdentityCache(options);
    const e = entry('a', '/a', ['unix:uid:1']);
    server.put(e);
    const view = toWorkloadEntry(e, TD);
    if (typeof view === 'string') throw new Error(view);
    cache.replaceEntries([{ entry: e, view }]);
    expect(cache.record('a')?.svid).toBeUndefined();
    const [o] = await mintX509Batch(server, [due('a', '/a')], 'ec-p256', () => time.now());
    if (!o?.ok) throw new Error('mint failed');
    expect(cache.store(o.due, { ...o, rotateAt: 12345 })).toBe(true);
    const rec = cache.record('a');
    expect(rec?.svid).toEqual({ identity: expect.anything(), notAfter: o.notAfter.getTime(), rotateAt: 12345, revision: 1 });
    const id = rec!.svid!.identity;
    expect(id.certChainDer[0]).toBe(o.certChainDer[0]);
    expect(id.privateKeyPkcs8Der).toBe(o.privateKeyPkcs8Der);
    expect(id.expiresAt).not.toBe(o.notAfter);
    checkIdentity(id, server.ca.bundle(), time.now());
    expect(cache.due(12344)).toEqual([]);
    expect(cache.due(12345)).toEqual([{ entryId: 'a', spiffeId: e.spiffeId, revision: 1, reason: 'rotation', currentExpiresAt: id.expiresAt }]);
    // A new revision keeps the SVID but makes it due; a new SPIFFE ID drops it.
    const e2 = { ...e, revisionNumber: 2, hint: 'h' };
    const v2 = toWorkloadEntry(e2, TD) as Exclude<ReturnType<typeof toWorkloadEntry>, string>;
    cache.replaceEntries([{ entry: e2, view: v2 }]);
    expect(cache.record('a')?.svid?.identity.hint).toBe('h');
    expect(cache.due(0).map((d) => d.reason)).toEqual(['revision']);
    const e3 = { ...e2, spiffeId: `spiffe://${TD}/moved`, revisionNumber: 3 };
    cache.replaceEntries([{ entry: e3, view: toWorkloadEntry(e3, TD) as typeof v2 }]);
    expect(cache.record('a')?.svid).toBeUndefined();
    expect(cache.svidCount).toBe(0);
  });

  it('finds nothing due without walking again until a renewal time, a change or a request', async () => {
    const cache = await fullCacheOfA((c) => expect(c.due(0).map((d) => [d.entryId, d.reason])).toEqual([['a', 'prefetch']]));
    // The cache is full: b is not prefetched, and nothing is due before a's renewal.
    expect(cache.due(1)).toEqual([]);
    expect(cache.due(4999)).toEqual([]);
    // A workload asking for b makes it due at once, beyond the size bound.
    expect(cache.touch(new Set(['unix:uid:2']))).toBe(true);
    expect(cache.due(2).map((d) => [d.entryId, d.reason])).toEqual([['b', 'requested']]);
    // So does a subscriber to b (the request is still pending too).
    const sub = cache.subscribe([{ type: 'unix', value: 'uid:2' }], () => {});
    expect(cache.due(3).map((d) => [d.entryId, d.reason])).toEqual([['b', 'subscribed']]);
    sub.unsubscribe();
    expect(cache.due(5000).map((d) => [d.entryId, d.reason])).toEqual([['b', 'requested'], ['a', 'rotation']]);
  });

  it('counts a new subscriber only when one of its entries lacks an SVID', async () => {
    const cache = await fullCacheOfA();
    expect(cache.due(1)).toEqual([]);
    // Subscribers to a, which has its SVID, come and go: still nothing due.
    for (let i = 0; i < 3; i++) cache.subscribe([{ type: 'unix', value: 'uid:1' }], () => {}).unsubscribe();
    expect(cache.due(2)).toEqual([]);
    // A subscriber to b, which has none (the cache is full), makes it due at once, with no request.
    const sub = cache.subscribe([{ type: 'unix', value: 'uid:2' }], () => {});
    expect(cache.due(3).map((d) => [d.entryId, d.reason])).toEqual([['b', 'subscribed']]);
    // Once it leaves, b is no longer due: the full cache has no room to prefetch it.
    sub.unsubscribe();
    expect(cache.due(4)).toEqual([]);
  });
});

describe('IdentityCache updates by selector set', () => {
  it('answers the same frozen update until something changes, and the new state after each change', async () => {
    const time = new FakeTime();
    const server = await TestServer.create(time);
    let clock = 0;
    const cache = new IdentityCache({ trustDomain: TD, maxSvids: 1, now: () => clock, log: memoryLogger() });
    const views = ['a', 'b'].map((id) => {
      const e = entry(id, `/${id}`, ['unix:uid:1', `unix:gid:${id}`]);
      server.put(e);
      const view = toWorkloadEntry(e, TD);
      if (typeof view === 'string') throw new Error(view);
      return { entry: e, view };
    });
    cache.replaceEntries(views);
    const callerA = new Set(['unix:uid:1', 'unix:gid:a']);
    const first = cache.update(callerA);
    expect(first.identities).toEqual([]);
    expect(cache.update(new Set(['unix:uid:1', 'unix:gid:a']))).toBe(first);
    // Another order of the same selectors: the same answer.
    expect(cache.update(new Set(['unix:gid:a', 'unix:uid:1']))).toEqual(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.identities)).toBe(true);
    expect(cache.matching(callerA).map((v) => v.entryId)).toEqual(['a']);

    // An SVID stored: a new update carries it.
    const [o] = await mintX509Batch(server, [due('a', '/a')], 'ec-p256', () => time.now());
    if (!o?.ok) throw new Error('mint failed');
    cache.store(o.due, { ...o, rotateAt: 1 });
    const second = cache.update(callerA);
    expect(second).not.toBe(first);
    expect(second.identities.map((i) => i.entryId)).toEqual(['a']);

    // Over the cache size (1): storing b's SVID and evicting the least recently used (a) shows at once.
    const [ob] = await mintX509Batch(server, [due('b', '/b')], 'ec-p256', () => time.now());
    if (!ob?.ok) throw new Error('mint failed');
    cache.store(ob.due, { ...ob, rotateAt: 1 });
    clock = 5;
    cache.touch(new Set(['unix:uid:1', 'unix:gid:b']));
    expect(cache.evict()).toEqual(['a']);
    expect(cache.update(callerA).identities).toEqual([]);

    // Bundles and entries: a new bundle, then the entry removed.
    cache.setBundles(server.ca.bundle(), new Map());
    const withBundle = cache.update(callerA);
    expect(withBundle.bundle).toBeDefined();
    cache.replaceEntries([views[1]!]);
    expect(cache.matching(callerA)).toEqual([]);
    expect(cache.update(new Set(['unix:uid:1', 'unix:gid:b'])).identities.map((i) => i.entryId)).toEqual(['b']);
  });
});

describe('the manager with many entries', () => {
  it('serves every entry an SVID after one sync, with chains and keys in a few shared slabs', async () => {
    const h = await harness({ x509SvidCacheMaxSize: 1200 });
    for (let i = 0; i < 1100; i++) h.server.put(entry(`e${i}`, `/w/${i}`, ['unix:uid:1', `unix:gid:${i}`]));
    await h.manager.start();
    expect(h.manager.stats).toMatchObject({ entries: 1100, x509Svids: 1100 });
    const slabs = new Set<ArrayBufferLike>();
    for (let i = 0; i < 1100; i += 97) {
      const u = h.manager.fetchWorkloadUpdate([
        { type: 'unix', value: 'uid:1' },
        { type: 'unix', value: `gid:${i}` },
      ]);
      expect(u.identities.map((id) => id.entryId)).toEqual([`e${i}`]);
      checkIdentity(u.identities[0]!, u.bundle, h.time.now());
      slabs.add(u.identities[0]!.privateKeyPkcs8Der.buffer);
    }
    // 1100 SVIDs in batches of 500: three slabs.
    expect(slabs.size).toBeLessThanOrEqual(3);
    await h.manager.stop();
  });
});

describe('SyncGarbage', () => {
  it('collects once enough work was recorded, then starts counting again', () => {
    const g = new SyncGarbage(10);
    g.add(9);
    expect(g.collectIfDue()).toBe(false);
    g.add(1);
    expect(g.collectIfDue()).toBe(true);
    expect(g.collectIfDue()).toBe(false);
    g.add(25);
    expect(g.collectIfDue()).toBe(true);
  });
});
