// The server's DataStore facade over the real SQL DataStore plugin process on
// SQLite: round trips of each method, plugin errors prefixed once with their
// gRPC code kept, and hostile responses refused as INTERNAL.
import { describe, expect, it } from 'vitest';
import type { Bundle } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { DataStoreV1 } from '../src/index.js';
import type { DataStorePlugin } from './plugins.js';
import { failure, selfSignedCA, sqlDataStoreForFile } from './plugins.js';

const TD = 'example.org';

const { ds } = sqlDataStoreForFile('datastore-v1-');

const AGENT = 'spiffe://example.org/spire/agent/join_token/abc';

describe('DataStoreV1 over the SQL plugin (SQLite)', () => {
  it('CA journal: create, replace, fetch latest, prune', async () => {
    expect(await ds.fetchLatestCAJournal()).toBeUndefined();
    const a = await ds.setCAJournal({ data: new Uint8Array([1, 2]), activeX509AuthorityId: 'aa', activeJwtAuthorityId: 'k1', expiresAt: 100 });
    expect(a.id).toBeGreaterThan(0);
    const a2 = await ds.setCAJournal({ id: a.id, data: new Uint8Array([3]), activeX509AuthorityId: 'aa', activeJwtAuthorityId: 'k2', expiresAt: 100 });
    expect(a2).toMatchObject({ id: a.id, activeJwtAuthorityId: 'k2' });
    const b = await ds.setCAJournal({ data: new Uint8Array([4]), activeX509AuthorityId: 'bb', activeJwtAuthorityId: 'k3', expiresAt: 4_000_000_000 });
    expect(b.id).toBeGreaterThan(a.id);
    const latest = await ds.fetchLatestCAJournal();
    expect(latest).toMatchObject({ id: b.id, activeX509AuthorityId: 'bb', activeJwtAuthorityId: 'k3', expiresAt: 4_000_000_000 });
    expect(Array.from(latest?.data ?? [])).toEqual([4]);
    expect(await ds.pruneCAJournals(200)).toBe(1);
    expect((await ds.fetchLatestCAJournal())?.id).toBe(b.id);
  });

  it('CA journal: replacing an unknown id is NOT_FOUND, prefixed once', async () => {
    const err = await failure(ds.setCAJournal({ id: 999_999, data: new Uint8Array([1]), activeX509AuthorityId: '', activeJwtAuthorityId: '', expiresAt: 0 }));
    expect(err.grpcCode).toBe(Status.NOT_FOUND);
    expect(err.message).toMatch(/^datastore\(sql\): failed to set CA journal: /);
    expect(err.message.match(/datastore\(sql\)/g)).toHaveLength(1);
  });

  it('bundles: set, fetch, append', async () => {
    expect(await ds.fetchBundle(TD)).toBeUndefined();
    const ca1 = await selfSignedCA(TD);
    const ca2 = await selfSignedCA(TD);
    const bundle: Bundle = {
      trustDomain: TD,
      x509Authorities: [ca1.der],
      jwtAuthorities: [{ keyId: 'kid-1', publicKeyDer: ca1.spki, expiresAt: 4_000_000_000 }],
      refreshHint: 0,
      sequenceNumber: 1,
    };
    const set = await ds.setBundle(bundle);
    expect(set.trustDomain).toBe(TD);
    const fetched = await ds.fetchBundle(`spiffe://${TD}`);
    expect(fetched?.trustDomain).toBe(TD);
    expect(fetched?.x509Authorities.map((d) => Buffer.from(d).toString('hex'))).toEqual([Buffer.from(ca1.der).toString('hex')]);
    expect(fetched?.jwtAuthorities).toEqual([{ keyId: 'kid-1', publicKeyDer: ca1.spki, expiresAt: 4_000_000_000 }]);
    const appended = await ds.appendBundle({ ...bundle, x509Authorities: [ca1.der, ca2.der], jwtAuthorities: [] });
    expect(appended.x509Authorities).toHaveLength(2);
    expect(appended.jwtAuthorities.map((a) => a.keyId)).toEqual(['kid-1']);
    expect(appended.sequenceNumber).toBeGreaterThan(fetched?.sequenceNumber ?? 0);
  });

  it('entries: create, fetch, list with paging, update with revision, delete', async () => {
    const created = [];
    for (let i = 0; i < 3; i++) {
      created.push(
        await ds.createEntry({
          spiffeId: `spiffe://example.org/workload/${i}`,
          parentId: AGENT,
          selectors: [{ type: 'unix', value: `uid:${1000 + i}` }],
          dnsNames: [`w${i}.example.org`],
          x509SvidTtl: 3600,
        }),
      );
    }
    const [e0] = created;
    if (!e0) throw new Error('unreachable');
    expect(e0.id).not.toBe('');
    expect(e0).toMatchObject({ spiffeId: 'spiffe://example.org/workload/0', parentId: AGENT, dnsNames: ['w0.example.org'], x509SvidTtl: 3600 });
    expect(await ds.fetchEntry(e0.id)).toEqual(e0);
    expect(await ds.fetchEntry('no-such-entry')).toBeUndefined();

    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = await ds.listEntries({ pageSize: 2, pageToken: token });
      seen.push(...page.items.map((e) => e.id));
      token = page.nextPageToken;
      pages++;
    } while (token !== '' && pages < 10);
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(seen.sort()).toEqual(created.map((e) => e.id).sort());

    const updated = await ds.updateEntry({ ...e0, hint: 'db', admin: true }, { expectedRevision: e0.revisionNumber });
    expect(updated).toMatchObject({ id: e0.id, hint: 'db', admin: true, revisionNumber: e0.revisionNumber + 1 });
    const stale = await failure(ds.updateEntry({ ...e0, hint: 'x' }, { expectedRevision: e0.revisionNumber }));
    expect(stale.grpcCode).toBe(Status.ABORTED);
    expect(stale.message).toMatch(/^datastore\(sql\): failed to update entry /);

    expect((await ds.deleteEntry(e0.id)).id).toBe(e0.id);
    expect(await ds.fetchEntry(e0.id)).toBeUndefined();
    const gone = await failure(ds.deleteEntry(e0.id));
    expect(gone.grpcCode).toBe(Status.NOT_FOUND);
    expect(gone.message).toMatch(/^datastore\(sql\): failed to delete entry "[^"]+": /);
  });

  it('entries: a duplicate is ALREADY_EXISTS, prefixed once', async () => {
    const e = { spiffeId: 'spiffe://example.org/dup', parentId: AGENT, selectors: [{ type: 'unix', value: 'uid:1' }] };
    await ds.createEntry(e);
    const err = await failure(ds.createEntry(e));
    expect(err.grpcCode).toBe(Status.ALREADY_EXISTS);
    expect(err.message).toMatch(/^datastore\(sql\): failed to create entry for "spiffe:\/\/example.org\/dup": /);
    expect(err.message.match(/datastore\(sql\)/g)).toHaveLength(1);
  });

  it('attested nodes: create, fetch (with selectors), update, delete; duplicates refused', async () => {
    const node = {
      spiffeId: 'spiffe://example.org/spire/agent/join_token/n1',
      attestationDataType: 'join_token',
      certSerialNumber: '1',
      certNotAfter: 4_000_000_000,
      newCertSerialNumber: '',
      newCertNotAfter: 0,
      canReattest: false,
      agentVersion: '1.0.0',
      selectors: [{ type: 'join_token', value: 'n1' }],
    };
    const created = await ds.createNode(node);
    expect(created).toMatchObject({ ...node, banned: false });
    expect(await ds.fetchNode(node.spiffeId, { selectors: true })).toMatchObject({ selectors: node.selectors });
    expect((await ds.fetchNode(node.spiffeId))?.selectors).toBeUndefined();
    expect(await ds.fetchNode('spiffe://example.org/spire/agent/none')).toBeUndefined();
    const dup = await failure(ds.createNode(node));
    expect(dup.grpcCode).toBe(Status.ALREADY_EXISTS);
    expect(dup.message).toMatch(/^datastore\(sql\): failed to create node /);

    const { selectors: _s, ...plain } = node;
    const banned = await ds.updateNode({ ...plain, certSerialNumber: '', agentVersion: '1.1.0' });
    expect(banned).toMatchObject({ banned: true, agentVersion: '1.1.0' });
    expect((await ds.deleteNode(node.spiffeId)).spiffeId).toBe(node.spiffeId);
    const gone = await failure(ds.deleteNode(node.spiffeId));
    expect(gone.grpcCode).toBe(Status.NOT_FOUND);
  });

  it('join tokens: create, consume once', async () => {
    const t = await ds.createJoinToken({ token: 'tok-1', expiresAt: 4_000_000_000 });
    expect(t).toEqual({ token: 'tok-1', expiresAt: 4_000_000_000 });
    const dup = await failure(ds.createJoinToken(t));
    expect(dup.grpcCode).toBe(Status.ALREADY_EXISTS);
    expect(dup.message).not.toContain('tok-1');
    expect(await ds.consumeJoinToken('tok-1')).toEqual(t);
    expect(await ds.consumeJoinToken('tok-1')).toBeUndefined();
  });

  it('events: entry and node writes are listed after an id, in order', async () => {
    const before = await ds.listEntryEvents(0);
    const last = before.at(-1)?.eventId ?? 0;
    const e = await ds.createEntry({ spiffeId: 'spiffe://example.org/ev', parentId: AGENT, selectors: [{ type: 'unix', value: 'uid:7' }] });
    await ds.deleteEntry(e.id);
    const after = await ds.listEntryEvents(last);
    expect(after.map((x) => x.subject)).toEqual([e.id, e.id]);
    expect(after[0]?.eventId).toBeGreaterThan(last);
    expect(await ds.listEntryEvents(last, 1)).toHaveLength(1);
    const nodes = await ds.listNodeEvents(0);
    expect(nodes.map((x) => x.subject)).toContain('spiffe://example.org/spire/agent/join_token/n1');
  });
});

describe('DataStoreV1 refuses hostile responses', () => {
  // A stand-in for a misbehaving plugin: only `call` and `label` are used.
  const hostile = (response: Record<string, unknown>): DataStoreV1 =>
    new DataStoreV1({ label: 'datastore(sql)', call: () => Promise.resolve(response) } as unknown as DataStorePlugin);

  it.each([
    ['a delete without entry', (d: DataStoreV1) => d.deleteEntry('x'), {}, /DeleteEntry returned no entry/],
    ['an entry without spiffe_id', (d: DataStoreV1) => d.fetchEntry('x'), { entry: { id: 'x', spiffe_id: '', parent_id: 'p', selectors: [], federates_with: [], dns_names: [] } }, /without id, spiffe_id/],
    ['another entry than asked', (d: DataStoreV1) => d.fetchEntry('x'), { entry: { id: 'y', spiffe_id: 's', parent_id: 'p', selectors: [], federates_with: [], dns_names: [] } }, /entry "y" for "x"/],
    ['a journal without id', (d: DataStoreV1) => d.fetchLatestCAJournal(), { ca_journal: { id: 0, data: Buffer.from([1]) } }, /CA journal without id/],
    ['a set without journal', (d: DataStoreV1) => d.setCAJournal({ data: new Uint8Array([1]), activeX509AuthorityId: '', activeJwtAuthorityId: '', expiresAt: 0 }), {}, /SetCAJournal returned no CA journal/],
    ['a bundle with a bad certificate', (d: DataStoreV1) => d.fetchBundle(TD), { bundle: { trust_domain: `spiffe://${TD}`, x509_authorities: [{ asn1: Buffer.from([1, 2, 3]) }], jwt_authorities: [] } }, /unparsable X.509 authority/],
    ['a JWT authority without kid', (d: DataStoreV1) => d.fetchBundle(TD), { bundle: { trust_domain: TD, x509_authorities: [], jwt_authorities: [{ key_id: '', public_key: Buffer.from([1]) }] } }, /JWT authority without key_id/],
    ['another trust domain', (d: DataStoreV1) => d.fetchBundle(TD), { bundle: { trust_domain: 'evil.org', x509_authorities: [], jwt_authorities: [] } }, /bundle of "evil.org"/],
    ['a node without id', (d: DataStoreV1) => d.fetchNode('spiffe://example.org/a'), { node: { spiffe_id: '', selectors: [] } }, /node without spiffe_id/],
    ['another join token', (d: DataStoreV1) => d.consumeJoinToken('a'), { join_token: { token: 'b', expires_at: 1 } }, /join token "b" for another token/],
    ['events out of order', (d: DataStoreV1) => d.listEntryEvents(5), { events: [{ event_id: 5, entry_id: 'e', created_at: 1 }] }, /event 5 out of order/],
    ['more events than the limit', (d: DataStoreV1) => d.listNodeEvents(0, 1), { events: [{ event_id: 1, spiffe_id: 'a', created_at: 1 }, { event_id: 2, spiffe_id: 'a', created_at: 1 }] }, /2 events for a limit of 1/],
    ['a page larger than asked', (d: DataStoreV1) => d.listEntries({ pageSize: 0 }), { entries: [{}], next_page_token: '' }, /1 entries for a page of 0/],
  ])('%s is INTERNAL naming the plugin', async (_name, run, response, msg) => {
    const err = await failure(run(hostile(response)));
    expect(err.grpcCode).toBe(Status.INTERNAL);
    expect(err.message).toMatch(/^datastore\(sql\): /);
    expect(err.message).toMatch(msg);
  });
});
