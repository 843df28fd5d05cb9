/** Contract: registration entry CRUD, uniqueness, revisions, validation, pruning, authorized entries. */
import { describe, expect, it } from 'vitest';
import type { NewEntry } from '@spire-ts/server-datastore-sql/wire';
import type { Harness } from './contract.js';
import { agentId, expectCode, fakeCert, SERVER_ID, sel, TD } from './fixtures.js';

export const workload = (name: string, parent = agentId('a1'), selectors = [sel('unix', `uid:${name}`)]): NewEntry => ({
  spiffeId: `${TD}/workload/${name}`,
  parentId: parent,
  selectors,
});

export function entryTests(h: Harness): void {
  describe('registration entries', () => {
    it('creates and fetches an entry with every field', async () => {
      await h.ds.createBundle({ trustDomain: 'spiffe://fed.example', x509Authorities: [{ asn1: fakeCert({ notAfter: h.clock.t + 1000, ski: 'aa' }), tainted: false }] });
      const input: NewEntry = {
        id: 'entry-1',
        spiffeId: `${TD}/web`,
        parentId: agentId('a1'),
        selectors: [sel('unix', 'uid:1000'), sel('docker', 'label:app:web')],
        x509SvidTtl: 3600,
        jwtSvidTtl: 300,
        federatesWith: ['fed.example'],
        admin: true,
        downstream: true,
        dnsNames: ['web.example.org', 'web'],
        expiresAt: h.clock.t + 86_400,
        hint: 'external',
        storeSvid: false,
        additionalAttributes: { disableX509SvidPrefetch: true, jwtSvidIncludeJti: false },
      };
      const created = await h.ds.createEntry(input);
      expect(created).toMatchObject({ ...input, selectors: created.selectors, revisionNumber: 0, createdAt: h.clock.t, federatesWith: ['spiffe://fed.example'] });
      expect(created.selectors).toEqual([sel('docker', 'label:app:web'), sel('unix', 'uid:1000')]);
      expect(await h.ds.fetchEntry('entry-1')).toEqual(created);
      expect(await h.ds.fetchEntry('nope')).toBeNull();
    });

    it('generates ids and fetches several entries in the order asked', async () => {
      const [a, b] = await h.ds.createEntries([workload('a'), workload('b')]);
      expect(a?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(a?.id).not.toBe(b?.id);
      const got = await h.ds.fetchEntries([b!.id, 'missing', a!.id]);
      expect(got.map((e) => e.id)).toEqual([b!.id, a!.id]);
    });

    it('refuses an entry with the same parent, SPIFFE ID and selectors (any order)', async () => {
      const first = await h.ds.createEntry({ ...workload('w', agentId('a1'), [sel('unix', 'uid:1'), sel('unix', 'gid:1')]) });
      const err = await expectCode(h.ds.createEntry(workload('w', agentId('a1'), [sel('unix', 'gid:1'), sel('unix', 'uid:1')])), 'ALREADY_EXISTS');
      expect(err.details).toMatchObject({ existingEntryId: first.id });
      await h.ds.createEntry(workload('w', agentId('a1'), [sel('unix', 'uid:1')]));
      await h.ds.createEntry(workload('w', agentId('a2'), [sel('unix', 'uid:1'), sel('unix', 'gid:1')]));
      await expectCode(h.ds.createEntry({ ...workload('other'), id: first.id }), 'ALREADY_EXISTS');
      expect(await h.ds.countEntries()).toBe(3);
    });

    it('writes a batch atomically: one bad or duplicate entry writes nothing', async () => {
      await h.ds.createEntry(workload('exists'));
      await expectCode(h.ds.createEntries([workload('x1'), { ...workload('x2'), spiffeId: 'spiffe://example.org/bad//path' }]), 'INVALID_ARGUMENT');
      await expectCode(h.ds.createEntries([workload('x1'), workload('exists')]), 'ALREADY_EXISTS');
      await expectCode(h.ds.createEntries([workload('x1'), workload('x1')]), 'ALREADY_EXISTS');
      await expectCode(h.ds.createEntries([workload('x1'), { ...workload('x3'), federatesWith: ['spiffe://nobundle.example'] }]), 'FAILED_PRECONDITION');
      expect(await h.ds.countEntries()).toBe(1);
      expect(await h.ds.listEntryEvents()).toHaveLength(1);
    });

    it('updates with a mask, bumps the revision and checks the expected revision', async () => {
      const e = await h.ds.createEntry({ ...workload('u'), hint: 'h1', x509SvidTtl: 60 });
      h.clock.advance(10);
      const u1 = await h.ds.updateEntry({ id: e.id, hint: 'h2', x509SvidTtl: 999 }, { hint: true });
      expect(u1).toMatchObject({ hint: 'h2', x509SvidTtl: 60, revisionNumber: 1, createdAt: e.createdAt });
      const u2 = await h.ds.updateEntry({ id: e.id, selectors: [sel('unix', 'uid:2')], dnsNames: ['a.example'] }, { selectors: true, dnsNames: true }, { expectedRevision: 1 });
      expect(u2).toMatchObject({ selectors: [sel('unix', 'uid:2')], dnsNames: ['a.example'], revisionNumber: 2 });
      await expectCode(h.ds.updateEntry({ id: e.id, hint: 'stale' }, { hint: true }, { expectedRevision: 1 }), 'ABORTED');
      expect(await h.ds.fetchEntry(e.id)).toEqual(u2);
      expect((await h.ds.listEntries({ bySelectors: { selectors: [sel('unix', 'uid:2')], match: 'exact' } })).entries.map((x) => x.id)).toEqual([e.id]);
      expect((await h.ds.listEntries({ bySelectors: { selectors: [sel('unix', 'uid:u')], match: 'any' } })).entries).toEqual([]);
    });

    it('updates every field when no mask is given', async () => {
      const e = await h.ds.createEntry({ ...workload('full'), admin: true, hint: 'x' });
      const u = await h.ds.updateEntry({ id: e.id, spiffeId: `${TD}/moved`, parentId: agentId('a9'), selectors: [sel('k8s', 'ns:x')] });
      expect(u).toMatchObject({ spiffeId: `${TD}/moved`, parentId: agentId('a9'), admin: false, hint: '', revisionNumber: 1 });
    });

    it('refuses updates that collide, do not validate, or target a missing entry', async () => {
      const a = await h.ds.createEntry(workload('a'));
      const b = await h.ds.createEntry(workload('b'));
      await expectCode(h.ds.updateEntry({ id: b.id, spiffeId: a.spiffeId, selectors: a.selectors }, { spiffeId: true, selectors: true }), 'ALREADY_EXISTS');
      await expectCode(h.ds.updateEntry({ id: b.id, selectors: [] }, { selectors: true }), 'INVALID_ARGUMENT');
      await expectCode(h.ds.updateEntry({ id: 'missing', hint: 'x' }, { hint: true }), 'NOT_FOUND');
      expect(await h.ds.fetchEntry(b.id)).toEqual(b);
    });

    it('deletes an entry and returns it', async () => {
      const e = await h.ds.createEntry(workload('d'));
      expect(await h.ds.deleteEntry(e.id)).toEqual(e);
      expect(await h.ds.fetchEntry(e.id)).toBeNull();
      await expectCode(h.ds.deleteEntry(e.id), 'NOT_FOUND');
      expect((await h.ds.listEntries({ bySelectors: { selectors: e.selectors, match: 'any' } })).entries).toEqual([]);
    });

    it('prunes expired entries only', async () => {
      const now = h.clock.t;
      await h.ds.createEntries([
        { ...workload('old'), expiresAt: now - 10 },
        { ...workload('edge'), expiresAt: now },
        { ...workload('new'), expiresAt: now + 10 },
        { ...workload('forever'), expiresAt: 0 },
      ]);
      const before = (await h.ds.listEntryEvents()).length;
      expect(await h.ds.pruneEntries(now)).toBe(1);
      expect((await h.ds.listEntries()).entries.map((e) => e.spiffeId).sort()).toEqual([`${TD}/workload/edge`, `${TD}/workload/forever`, `${TD}/workload/new`]);
      expect(await h.ds.listEntryEvents({ afterId: before })).toHaveLength(1);
    });

    describe('rejects bad input with INVALID_ARGUMENT and writes nothing', () => {
      const long = 'a'.repeat(2100);
      const cases: Array<[string, Partial<NewEntry>]> = [
        ['empty SPIFFE ID', { spiffeId: '' }],
        ['SPIFFE ID without scheme', { spiffeId: 'example.org/web' }],
        ['wrong scheme', { spiffeId: 'https://example.org/web' }],
        ['uppercase trust domain', { spiffeId: 'spiffe://Example.org/web' }],
        ['trailing slash', { spiffeId: 'spiffe://example.org/web/' }],
        ['dot segment', { spiffeId: 'spiffe://example.org/a/../b' }],
        ['percent-encoding', { spiffeId: 'spiffe://example.org/a%20b' }],
        ['query', { spiffeId: 'spiffe://example.org/a?b=c' }],
        ['port in trust domain', { spiffeId: 'spiffe://example.org:8443/a' }],
        ['oversized SPIFFE ID', { spiffeId: `spiffe://example.org/${long}` }],
        ['malformed parent ID', { parentId: 'spiffe:///nothing' }],
        ['no selectors', { selectors: [] }],
        ['selector with empty type', { selectors: [sel('', 'uid:1')] }],
        ['selector with empty value', { selectors: [sel('unix', '')] }],
        ['selector type with a colon', { selectors: [sel('unix:uid', '1')] }],
        ['oversized selector value', { selectors: [sel('unix', long)] }],
        ['NUL in a selector', { selectors: [sel('unix', 'uid\u00001')] }],
        ['negative TTL', { x509SvidTtl: -1 }],
        ['fractional TTL', { jwtSvidTtl: 1.5 }],
        ['oversized hint', { hint: 'h'.repeat(300) }],
        ['too many DNS names', { dnsNames: Array.from({ length: 300 }, (_, i) => `n${i}.example`) }],
        ['DNS name with a space', { dnsNames: ['a b'] }],
        ['malformed federated trust domain', { federatesWith: ['spiffe://UPPER'] }],
        ['bad entry id', { id: 'has space' }],
        ['mixed selector types with storeSvid', { storeSvid: true, selectors: [sel('unix', 'uid:1'), sel('k8s', 'ns:a')] }],
      ];
      for (const [name, patch] of cases) {
        it(name, async () => {
          await expectCode(h.ds.createEntry({ ...workload('bad'), ...patch } as NewEntry), 'INVALID_ARGUMENT');
          expect(await h.ds.countEntries()).toBe(0);
          expect(await h.ds.listEntryEvents()).toEqual([]);
        });
      }
    });

    it('lists the authorized entries of an agent: direct children, node aliases and descendants', async () => {
      const agent = agentId('node1');
      await h.ds.createNode({ spiffeId: agent, attestationDataType: 'x509pop', certSerialNumber: '1', certNotAfter: h.clock.t + 3600 });
      await h.ds.setNodeSelectors(agent, [sel('x509pop', 'subject:cn:node1'), sel('x509pop', 'ca:fingerprint:abc')]);
      await h.ds.createEntries([
        { spiffeId: `${TD}/alias/cluster`, parentId: SERVER_ID, selectors: [sel('x509pop', 'ca:fingerprint:abc')] },
        { spiffeId: `${TD}/alias/other`, parentId: SERVER_ID, selectors: [sel('x509pop', 'ca:fingerprint:zzz')] },
        { spiffeId: `${TD}/alias/needs-more`, parentId: SERVER_ID, selectors: [sel('x509pop', 'ca:fingerprint:abc'), sel('x509pop', 'san:x')] },
        workload('direct', agent),
        workload('via-alias', `${TD}/alias/cluster`),
        workload('grandchild', `${TD}/workload/via-alias`),
        workload('great-grandchild', `${TD}/workload/grandchild`),
        workload('not-mine', `${TD}/alias/other`),
        workload('other-agent', agentId('node2')),
        workload('needs-more-child', `${TD}/alias/needs-more`),
      ]);
      const names = (list: Array<{ spiffeId: string }>): string[] => list.map((e) => e.spiffeId.split('/').pop() as string).sort();
      expect(names(await h.ds.listAuthorizedEntries(agent))).toEqual(['direct', 'grandchild', 'great-grandchild', 'via-alias']);
      expect(names(await h.ds.listAuthorizedEntries(agent, { selectors: [sel('x509pop', 'ca:fingerprint:zzz')] }))).toEqual(['direct', 'not-mine']);
      expect(names(await h.ds.listAuthorizedEntries(agentId('nobody')))).toEqual([]);
    });

    it('terminates on parent cycles', async () => {
      await h.ds.createEntries([
        workload('a', `${TD}/workload/b`),
        workload('b', `${TD}/workload/a`),
        workload('root', agentId('a1')),
        workload('c', `${TD}/workload/root`),
      ]);
      expect((await h.ds.listAuthorizedEntries(agentId('a1'), { selectors: [] })).map((e) => e.spiffeId.split('/').pop()).sort()).toEqual(['c', 'root']);
    });
  });
}
