// The DataStore facade's listing, filtering, batch, prune and bundle methods
// over the real SQL DataStore plugin process on SQLite, and the hostile
// responses they refuse.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Bundle } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { DataStoreV1 } from '../src/index.js';
import type { DataStorePlugin } from './plugins.js';
import { caCert, failure, sqlDataStoreForFile } from './plugins.js';
import type { AttestedNode, DataStore, NewEntry, Page, RegistrationEntry } from '../src/plugin/datastore/datastore.js';


const bundleOf = (trustDomain: string, x509Authorities: Uint8Array[]): Bundle => ({
  trustDomain, x509Authorities, jwtAuthorities: [], refreshHint: 0, sequenceNumber: 0,
});

async function all<T>(list: (token: string) => Promise<Page<T>>): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let token = '';
  let pages = 0;
  do {
    const page = await list(token);
    items.push(...page.items);
    token = page.nextPageToken;
    pages++;
  } while (token !== '' && pages < 100);
  return { items, pages };
}

const { ds } = sqlDataStoreForFile('datastore-v1-more-');

const A1 = 'spiffe://example.org/spire/agent/x/a1';
const A2 = 'spiffe://example.org/spire/agent/x/a2';
const sel = (...vs: string[]): { type: string; value: string }[] => vs.map((v) => ({ type: 'unix', value: v }));
const ids = (es: readonly RegistrationEntry[]): string[] => es.map((e) => e.spiffeId).sort();

describe('DataStoreV1 entries: filters, counts, batches, prune, attributes', () => {
  const made: RegistrationEntry[] = [];
  beforeAll(async () => {
    await ds.createBundle(bundleOf('fed.example', [await caCert('fed.example', 3_600_000)]));
    const specs: NewEntry[] = [
      { spiffeId: 'spiffe://example.org/w/a', parentId: A1, selectors: sel('uid:1') },
      { spiffeId: 'spiffe://example.org/w/ab', parentId: A1, selectors: sel('uid:1', 'gid:1'), hint: 'db' },
      { spiffeId: 'spiffe://example.org/w/abc', parentId: A1, selectors: sel('uid:1', 'gid:1', 'user:x'), downstream: true },
      { spiffeId: 'spiffe://example.org/w/c', parentId: A2, selectors: sel('user:x'), federatesWith: ['fed.example'] },
      { spiffeId: 'spiffe://example.org/w/a', parentId: A2, selectors: sel('uid:2'), expiresAt: 1000 },
    ];
    for (const s of specs) made.push(await ds.createEntry(s));
  });

  it('filters by parent, by SPIFFE ID, by hint and downstream; counts agree', async () => {
    const byParent = await ds.listEntries({ pageSize: 10 }, { byParentId: A1 });
    expect(ids(byParent.items)).toEqual(['spiffe://example.org/w/a', 'spiffe://example.org/w/ab', 'spiffe://example.org/w/abc']);
    expect(await ds.countEntries({ byParentId: A1 })).toBe(3);
    const bySpiffe = await ds.listEntries({ pageSize: 10 }, { bySpiffeId: 'spiffe://example.org/w/a' });
    expect(bySpiffe.items.map((e) => e.parentId).sort()).toEqual([A1, A2]);
    expect(await ds.countEntries({ bySpiffeId: 'spiffe://example.org/w/a', byParentId: A2 })).toBe(1);
    expect(ids((await ds.listEntries({ pageSize: 10 }, { byHint: 'db' })).items)).toEqual(['spiffe://example.org/w/ab']);
    expect(ids((await ds.listEntries({ pageSize: 10 }, { byDownstream: true })).items)).toEqual(['spiffe://example.org/w/abc']);
    expect(await ds.countEntries()).toBe(5);
  });

  it.each([
    ['EXACT', ['uid:1', 'gid:1'], ['spiffe://example.org/w/ab']],
    ['SUBSET', ['uid:1', 'gid:1'], ['spiffe://example.org/w/a', 'spiffe://example.org/w/ab']],
    ['SUPERSET', ['uid:1', 'gid:1'], ['spiffe://example.org/w/ab', 'spiffe://example.org/w/abc']],
    ['ANY', ['gid:1', 'user:x'], ['spiffe://example.org/w/ab', 'spiffe://example.org/w/abc', 'spiffe://example.org/w/c']],
  ] as const)('selector match %s', async (match, values, want) => {
    const f = { bySelectors: { selectors: sel(...values), match } };
    expect(ids((await ds.listEntries({ pageSize: 10 }, f)).items)).toEqual(want);
    expect(await ds.countEntries(f)).toBe(want.length);
  });

  it('filters by federated trust domain', async () => {
    const f = { byFederatesWith: { trustDomains: ['fed.example'], match: 'ANY' as const } };
    const got = (await ds.listEntries({ pageSize: 10 }, f)).items;
    expect(ids(got)).toEqual(['spiffe://example.org/w/c']);
    expect(got[0]?.federatesWith).toEqual(['fed.example']);
  });

  it('pages through a filtered listing without loss or repeats', async () => {
    const { items, pages } = await all((t) => ds.listEntries({ pageSize: 1, pageToken: t }, { byParentId: A1 }));
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(items.map((e) => e.id).sort()).toEqual(made.filter((e) => e.parentId === A1).map((e) => e.id).sort());
  });

  it('an empty selector filter is INVALID_ARGUMENT, prefixed once', async () => {
    const err = await failure(ds.listEntries({ pageSize: 10 }, { bySelectors: { selectors: [], match: 'ANY' } }));
    expect(err.grpcCode).toBe(Status.INVALID_ARGUMENT);
    expect(err.message).toMatch(/^datastore\(sql\): failed to list entries: /);
  });

  it('fetchEntries answers the existing ones, in request order', async () => {
    const [e0, e1] = made;
    if (!e0 || !e1) throw new Error('unreachable');
    const got = await ds.fetchEntries([e1.id, 'no-such-entry', e0.id]);
    expect(got.map((e) => e.id)).toEqual([e1.id, e0.id]);
    expect(got[0]).toEqual(e1);
    expect(await ds.fetchEntries([])).toEqual([]);
  });

  it('additional attributes round-trip, survive updates, and can be cleared', async () => {
    const e = await ds.createEntry({
      spiffeId: 'spiffe://example.org/w/attrs', parentId: A2, selectors: sel('uid:9'),
      additionalAttributes: { disableX509SvidPrefetch: true, jwtSvidIncludeJti: false },
    });
    expect(e.additionalAttributes).toEqual({ disableX509SvidPrefetch: true, jwtSvidIncludeJti: false });
    const u = await ds.updateEntry({ ...e, hint: 'h', additionalAttributes: { disableX509SvidPrefetch: false, jwtSvidIncludeJti: true } });
    expect(u.additionalAttributes).toEqual({ disableX509SvidPrefetch: false, jwtSvidIncludeJti: true });
    expect((await ds.fetchEntry(e.id))?.additionalAttributes).toEqual({ disableX509SvidPrefetch: false, jwtSvidIncludeJti: true });
    const { additionalAttributes: _a, ...plain } = u;
    expect((await ds.updateEntry(plain)).additionalAttributes).toBeUndefined();
    await ds.deleteEntry(e.id);
  });

  it('pruneEntries deletes only those expired before the time', async () => {
    expect(await ds.pruneEntries(999)).toBe(0);
    expect(await ds.pruneEntries(2000)).toBe(1);
    expect(await ds.countEntries()).toBe(4);
  });
});

describe('DataStoreV1 nodes: listing, filters, batches, selectors', () => {
  const node = (n: number, over: Partial<AttestedNode> = {}): Omit<AttestedNode, 'banned'> => ({
    spiffeId: `spiffe://example.org/spire/agent/x/n${n}`, attestationDataType: n % 2 ? 'odd' : 'even', certSerialNumber: `${n}`,
    certNotAfter: 1_000 * n, newCertSerialNumber: '', newCertNotAfter: 0, canReattest: n % 2 === 1, agentVersion: '1',
    selectors: [{ type: 'x', value: `n:${n}` }, { type: 'x', value: 'all' }], ...over,
  });
  beforeAll(async () => {
    for (let n = 1; n <= 5; n++) await ds.createNode(node(n));
    const { selectors: _s, ...n5 } = node(5);
    await ds.updateNode({ ...n5, certSerialNumber: '' });
  });

  it('lists with and without selectors, paging', async () => {
    const { items, pages } = await all((t) => ds.listNodes({ pageSize: 2, pageToken: t }, {}, { selectors: true }));
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(items).toHaveLength(5);
    const n1 = items.find((n) => n.spiffeId.endsWith('/n1'));
    expect(n1?.selectors?.map((s) => s.value).sort()).toEqual(['all', 'n:1']);
    expect((await ds.listNodes({ pageSize: 10 })).items.every((n) => n.selectors === undefined)).toBe(true);
  });

  it('filters by attestation type, banned, expiry, re-attestability and selectors; counts agree', async () => {
    const names = async (f: Parameters<DataStore['listNodes']>[1]): Promise<string[]> =>
      (await ds.listNodes({ pageSize: 10 }, f)).items.map((n) => n.spiffeId.split('/').at(-1) ?? '').sort();
    expect(await names({ byAttestationType: 'even' })).toEqual(['n2', 'n4']);
    expect(await names({ byBanned: true })).toEqual(['n5']);
    expect(await names({ byBanned: false, byCanReattest: true })).toEqual(['n1', 'n3']);
    expect(await names({ byExpiresBefore: 3_000 })).toEqual(['n1', 'n2']);
    expect(await names({ bySelectorMatch: { selectors: [{ type: 'x', value: 'n:3' }], match: 'SUPERSET' } })).toEqual(['n3']);
    expect(await names({ bySelectorMatch: { selectors: [{ type: 'x', value: 'n:3' }, { type: 'x', value: 'n:4' }], match: 'ANY' } })).toEqual(['n3', 'n4']);
    expect(await ds.countNodes()).toBe(5);
    expect(await ds.countNodes({ byAttestationType: 'odd' })).toBe(3);
  });

  it('fetchNodes answers the existing ones with selectors', async () => {
    const got = await ds.fetchNodes([node(2).spiffeId, 'spiffe://example.org/spire/agent/x/none', node(1).spiffeId]);
    expect(got.map((n) => n.spiffeId)).toEqual([node(2).spiffeId, node(1).spiffeId]);
    expect(got[0]?.selectors?.map((s) => s.value).sort()).toEqual(['all', 'n:2']);
    expect(await ds.fetchNodes([])).toEqual([]);
  });

  it('sets and gets node selectors (even without a node record)', async () => {
    await ds.setNodeSelectors(node(1).spiffeId, [{ type: 'y', value: 'z' }]);
    expect(await ds.getNodeSelectors(node(1).spiffeId)).toEqual([{ type: 'y', value: 'z' }]);
    await ds.setNodeSelectors('spiffe://example.org/spire/agent/x/ghost', [{ type: 'y', value: 'g' }]);
    expect(await ds.getNodeSelectors('spiffe://example.org/spire/agent/x/ghost')).toEqual([{ type: 'y', value: 'g' }]);
    expect(await ds.getNodeSelectors('spiffe://example.org/spire/agent/x/nobody')).toEqual([]);
  });
});

describe('DataStoreV1 join tokens: fetch and prune', () => {
  it('fetches without consuming; prunes the expired', async () => {
    await ds.createJoinToken({ token: 'old', expiresAt: 100 });
    await ds.createJoinToken({ token: 'new', expiresAt: 4_000_000_000 });
    expect(await ds.fetchJoinToken('old')).toEqual({ token: 'old', expiresAt: 100 });
    expect(await ds.fetchJoinToken('old')).toEqual({ token: 'old', expiresAt: 100 });
    expect(await ds.fetchJoinToken('none')).toBeUndefined();
    expect(await ds.pruneJoinTokens(200)).toBe(1);
    expect(await ds.fetchJoinToken('old')).toBeUndefined();
    expect(await ds.fetchJoinToken('new')).toBeDefined();
  });
});

describe('DataStoreV1 bundles: create, update, list, count, delete modes, prune', () => {
  it('create refuses a duplicate; update refuses an absent one; list pages; count', async () => {
    const before = await ds.countBundles();
    const b = await ds.createBundle(bundleOf('b1.example', [await caCert('b1.example', 3_600_000)]));
    expect(b.trustDomain).toBe('b1.example');
    const dup = await failure(ds.createBundle(b));
    expect(dup.grpcCode).toBe(Status.ALREADY_EXISTS);
    expect(dup.message).toMatch(/^datastore\(sql\): failed to create bundle "b1.example": /);
    const ca2 = await caCert('b1.example', 3_600_000);
    const u = await ds.updateBundle({ ...b, x509Authorities: [ca2], refreshHint: 60, sequenceNumber: 7 });
    expect(u).toMatchObject({ trustDomain: 'b1.example', refreshHint: 60, sequenceNumber: 7 });
    expect(u.x509Authorities).toEqual([ca2]);
    const absent = await failure(ds.updateBundle(bundleOf('absent.example', [ca2])));
    expect(absent.grpcCode).toBe(Status.NOT_FOUND);
    await ds.createBundle(bundleOf('b2.example', [await caCert('b2.example', 3_600_000)]));
    expect(await ds.countBundles()).toBe(before + 2);
    const { items, pages } = await all((t) => ds.listBundles({ pageSize: 1, pageToken: t }));
    expect(pages).toBeGreaterThanOrEqual(before + 2);
    expect(items.map((x) => x.trustDomain)).toEqual(expect.arrayContaining(['b1.example', 'b2.example']));
  });

  it.each(['RESTRICT', 'DELETE', 'DISSOCIATE'] as const)('delete mode %s', async (mode) => {
    const td = `del-${mode.toLowerCase()}.example`;
    await ds.createBundle(bundleOf(td, [await caCert(td, 3_600_000)]));
    const e = await ds.createEntry({ spiffeId: `spiffe://example.org/fed/${mode}`, parentId: A1, selectors: sel(`m:${mode}`), federatesWith: [td] });
    if (mode === 'RESTRICT') {
      const err = await failure(ds.deleteBundle(td, mode));
      expect(err.grpcCode).toBe(Status.FAILED_PRECONDITION);
      expect(err.message).toMatch(new RegExp(`^datastore\\(sql\\): failed to delete bundle "${td}": `));
      expect(await ds.fetchBundle(td)).toBeDefined();
      await ds.deleteEntry(e.id);
      await ds.deleteBundle(td, mode);
    } else {
      await ds.deleteBundle(td, mode);
      const after = await ds.fetchEntry(e.id);
      if (mode === 'DELETE') expect(after).toBeUndefined();
      else expect(after).toMatchObject({ federatesWith: [], revisionNumber: e.revisionNumber + 1 });
    }
    expect(await ds.fetchBundle(td)).toBeUndefined();
    expect((await failure(ds.deleteBundle(td, mode))).grpcCode).toBe(Status.NOT_FOUND);
  });

  it('prunes expired authorities, never all of them', async () => {
    const shortLived = await caCert('prune.example', 3_600_000);
    const longLived = await caCert('prune.example', 36_000_000);
    await ds.createBundle(bundleOf('prune.example', [shortLived, longLived]));
    const now = Math.floor(Date.now() / 1000);
    expect(await ds.pruneBundle('prune.example', now)).toBe(false);
    expect(await ds.pruneBundle('prune.example', now + 7_200)).toBe(true);
    expect((await ds.fetchBundle('prune.example'))?.x509Authorities).toEqual([longLived]);
    expect((await failure(ds.pruneBundle('prune.example', now + 72_000))).grpcCode).toBe(Status.FAILED_PRECONDITION);
    expect(await ds.pruneBundle('nothing.example', now)).toBe(false);
  });
});

describe('DataStoreV1 refuses hostile responses (new methods)', () => {
  const hostile = (response: Record<string, unknown>): DataStoreV1 =>
    new DataStoreV1({ label: 'datastore(sql)', call: () => Promise.resolve(response) } as unknown as DataStorePlugin);
  const entry = (id: string): Record<string, unknown> => ({ id, spiffe_id: 's', parent_id: 'p', selectors: [], federates_with: [], dns_names: [] });
  const nodeMsg = (id: string): Record<string, unknown> => ({ spiffe_id: id, selectors: [] });

  it.each([
    ['an unrequested entry', (d: DataStoreV1) => d.fetchEntries(['a']), { entries: [entry('b')] }, /FetchEntries returned unrequested "b"/],
    ['an entry twice', (d: DataStoreV1) => d.fetchEntries(['a']), { entries: [entry('a'), entry('a')] }, /FetchEntries returned twice "a"/],
    ['an unrequested node', (d: DataStoreV1) => d.fetchNodes(['a']), { nodes: [nodeMsg('b')] }, /FetchNodes returned unrequested "b"/],
    ['a negative count', (d: DataStoreV1) => d.countEntries(), { count: -1 }, /CountEntries returned an invalid count -1/],
    ['an oversized node page', (d: DataStoreV1) => d.listNodes({ pageSize: 1 }), { nodes: [nodeMsg('a'), nodeMsg('b')], next_page_token: '' }, /2 nodes for a page of 1/],
    ['an oversized bundle page', (d: DataStoreV1) => d.listBundles({ pageSize: 0 }), { bundles: [{}], next_page_token: '' }, /1 bundles for a page of 0/],
    ['another bundle on create', (d: DataStoreV1) => d.createBundle(bundleOf('a.org', [])), { bundle: { trust_domain: 'b.org', x509_authorities: [], jwt_authorities: [] } }, /bundle of "b.org" for "a.org"/],
    ['an update without bundle', (d: DataStoreV1) => d.updateBundle(bundleOf('a.org', [])), {}, /UpdateBundle returned no bundle/],
    ['a bad node selector', (d: DataStoreV1) => d.getNodeSelectors('a'), { selectors: [{ type: '', value: 'x' }] }, /selector without type/],
    ['another join token', (d: DataStoreV1) => d.fetchJoinToken('a'), { join_token: { token: 'b', expires_at: 1 } }, /join token "b" for another token/],
  ])('%s is INTERNAL naming the plugin', async (_name, run, response, msg) => {
    const err = await failure(run(hostile(response)));
    expect(err.grpcCode).toBe(Status.INTERNAL);
    expect(err.message).toMatch(/^datastore\(sql\): /);
    expect(err.message).toMatch(msg);
  });
});
