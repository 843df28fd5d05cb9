/** Contract: join tokens, federation relationships, CA journal, change events, unreachable database. */
import { describe, expect, it } from 'vitest';
import type { FederationRelationshipInput } from '@spire-ts/server-datastore-sql/wire';
import type { Harness } from './contract.js';
import { workload } from './entries.js';
import { agentId, expectCode, fakeCert } from './fixtures.js';

export function miscTests(h: Harness): void {
  describe('join tokens', () => {
    it('creates, fetches, deletes and prunes tokens', async () => {
      const t = h.clock.t;
      expect(await h.ds.createJoinToken({ token: 'tok-1', expiresAt: t + 60 })).toEqual({ token: 'tok-1', expiresAt: t + 60 });
      await expectCode(h.ds.createJoinToken({ token: 'tok-1', expiresAt: t + 60 }), 'ALREADY_EXISTS');
      await expectCode(h.ds.createJoinToken({ token: '', expiresAt: t }), 'INVALID_ARGUMENT');
      expect(await h.ds.fetchJoinToken('tok-1')).toEqual({ token: 'tok-1', expiresAt: t + 60 });
      expect(await h.ds.fetchJoinToken('TOK-1')).toBeNull();
      await h.ds.deleteJoinToken('tok-1');
      await expectCode(h.ds.deleteJoinToken('tok-1'), 'NOT_FOUND');
      await h.ds.createJoinToken({ token: 'old', expiresAt: t - 1 });
      await h.ds.createJoinToken({ token: 'new', expiresAt: t + 1 });
      expect(await h.ds.pruneJoinTokens(t)).toBe(1);
      expect(await h.ds.fetchJoinToken('old')).toBeNull();
      expect(await h.ds.fetchJoinToken('new')).not.toBeNull();
    });

    it('consumes a token exactly once, even under concurrent use', async () => {
      await h.ds.createJoinToken({ token: 'once', expiresAt: h.clock.t + 60 });
      const other = await h.another();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? other : h.ds).consumeJoinToken('once')));
      expect(results.filter((r) => r !== null)).toEqual([{ token: 'once', expiresAt: h.clock.t + 60 }]);
      expect(await h.ds.fetchJoinToken('once')).toBeNull();
    });
  });

  describe('federation relationships', () => {
    const fr = (td: string, patch: Partial<FederationRelationshipInput> = {}): FederationRelationshipInput => ({
      trustDomain: td,
      bundleEndpointUrl: `https://${td}/bundle`,
      bundleEndpointProfile: { type: 'https_web' },
      ...patch,
    });

    it('creates, fetches, lists, updates and deletes', async () => {
      const bundle = { trustDomain: 'spiffe://one.example', x509Authorities: [{ asn1: fakeCert({ notAfter: h.clock.t + 10, ski: '01' }), tainted: false }] };
      const one = await h.ds.createFederationRelationship(fr('one.example', { trustDomainBundle: bundle }));
      expect(one).toMatchObject({ trustDomain: 'spiffe://one.example', bundleEndpointUrl: 'https://one.example/bundle' });
      expect(one.trustDomainBundle?.x509Authorities).toHaveLength(1);
      expect(await h.ds.fetchBundle('one.example')).toEqual(one.trustDomainBundle);
      await expectCode(h.ds.createFederationRelationship(fr('one.example')), 'ALREADY_EXISTS');
      await h.ds.createFederationRelationship(fr('two.example', { bundleEndpointProfile: { type: 'https_spiffe', endpointSpiffeId: 'spiffe://two.example/spire/server' } }));
      await h.ds.createFederationRelationship(fr('three.example'));

      expect(await h.ds.fetchFederationRelationship('spiffe://two.example')).toMatchObject({
        bundleEndpointProfile: { type: 'https_spiffe', endpointSpiffeId: 'spiffe://two.example/spire/server' },
      });
      expect(await h.ds.fetchFederationRelationship('none.example')).toBeNull();
      const p1 = await h.ds.listFederationRelationships({ pageSize: 2 });
      const p2 = await h.ds.listFederationRelationships({ pageSize: 2, token: p1.nextPageToken });
      expect([...p1.relationships, ...p2.relationships].map((r) => r.trustDomain)).toEqual([
        'spiffe://one.example', 'spiffe://two.example', 'spiffe://three.example',
      ]);

      const u = await h.ds.updateFederationRelationship(fr('two.example', { bundleEndpointUrl: 'https://new.example/b', bundleEndpointProfile: { type: 'https_web' } }), {
        bundleEndpointUrl: true,
      });
      expect(u).toMatchObject({ bundleEndpointUrl: 'https://new.example/b', bundleEndpointProfile: { type: 'https_spiffe' } });
      const u2 = await h.ds.updateFederationRelationship(fr('two.example'), { bundleEndpointProfile: true });
      expect(u2.bundleEndpointProfile).toEqual({ type: 'https_web' });
      await expectCode(h.ds.updateFederationRelationship(fr('none.example')), 'NOT_FOUND');

      await h.ds.deleteFederationRelationship('two.example');
      await expectCode(h.ds.deleteFederationRelationship('two.example'), 'NOT_FOUND');
      expect((await h.ds.listFederationRelationships()).relationships).toHaveLength(2);
    });

    it('rejects malformed relationships', async () => {
      await expectCode(h.ds.createFederationRelationship(fr('x.example', { bundleEndpointUrl: 'http://x.example/b' })), 'INVALID_ARGUMENT');
      await expectCode(h.ds.createFederationRelationship(fr('x.example', { bundleEndpointProfile: { type: 'https_spiffe', endpointSpiffeId: '' } })), 'INVALID_ARGUMENT');
      await expectCode(h.ds.createFederationRelationship(fr('X.example')), 'INVALID_ARGUMENT');
      expect((await h.ds.listFederationRelationships()).relationships).toEqual([]);
    });
  });

  describe('CA journal', () => {
    it('sets, fetches, lists, deletes and prunes journals', async () => {
      const a = await h.ds.setCAJournal({ data: new Uint8Array([1, 2]), activeX509AuthorityId: 'x1', activeJwtAuthorityId: 'j1', expiresAt: 100 });
      expect(a.id).toBeGreaterThan(0);
      const b = await h.ds.setCAJournal({ data: new Uint8Array([3]), activeX509AuthorityId: 'x2', expiresAt: 1000 });
      expect(await h.ds.fetchCAJournal('x1')).toEqual(a);
      expect(await h.ds.fetchLatestCAJournal()).toEqual(b);
      const a2 = await h.ds.setCAJournal({ ...a, data: new Uint8Array([9, 9, 9]), activeX509AuthorityId: 'x3' });
      expect(await h.ds.fetchCAJournal('x3')).toEqual(a2);
      expect(await h.ds.fetchCAJournal('x1')).toBeNull();
      await expectCode(h.ds.setCAJournal({ id: 999_999, data: new Uint8Array(), activeX509AuthorityId: 'x' }), 'NOT_FOUND');
      await h.ds.setCAJournal({ data: new Uint8Array([4]), activeX509AuthorityId: 'unknown-expiry' });
      expect(await h.ds.pruneCAJournals(500)).toBe(1);
      expect((await h.ds.listCAJournals()).map((j) => j.activeX509AuthorityId)).toEqual(['x2', 'unknown-expiry']);
      await h.ds.deleteCAJournal(b.id);
      await expectCode(h.ds.deleteCAJournal(b.id), 'NOT_FOUND');
      expect(await h.ds.listCAJournals()).toHaveLength(1);
    });
  });

  describe('change events', () => {
    it('records entry and node changes with increasing ids, in order', async () => {
      const e = await h.ds.createEntry(workload('ev'));
      await h.ds.updateEntry({ id: e.id, hint: 'x' }, { hint: true });
      h.clock.advance(100);
      await h.ds.deleteEntry(e.id);
      await h.ds.createNode({ spiffeId: agentId('n'), certSerialNumber: '1' });
      await h.ds.setNodeSelectors(agentId('n'), []);
      await h.ds.deleteNode(agentId('n'));

      const entryEvents = await h.ds.listEntryEvents();
      expect(entryEvents.map((x) => x.entryId)).toEqual([e.id, e.id, e.id]);
      const ids = entryEvents.map((x) => x.eventId);
      expect(ids).toEqual([...ids].sort((p, q) => p - q));
      expect(new Set(ids).size).toBe(3);
      expect(await h.ds.listEntryEvents({ afterId: ids[0] })).toHaveLength(2);
      expect(await h.ds.listEntryEvents({ beforeId: ids[2] })).toHaveLength(2);
      expect(await h.ds.listEntryEvents({ afterId: ids[0], limit: 1 })).toEqual([entryEvents[1]]);
      expect(await h.ds.fetchEntryEvent(ids[1] as number)).toEqual(entryEvents[1]);
      expect(await h.ds.fetchEntryEvent(999_999)).toBeNull();
      expect((await h.ds.listNodeEvents()).map((x) => x.spiffeId)).toEqual([agentId('n'), agentId('n'), agentId('n')]);

      expect(await h.ds.pruneEntryEvents(h.clock.t)).toBe(2);
      expect((await h.ds.listEntryEvents()).map((x) => x.eventId)).toEqual([ids[2]]);
      expect(await h.ds.pruneNodeEvents(h.clock.t + 1)).toBe(3);
      expect(await h.ds.listNodeEvents()).toEqual([]);
      const next = await h.ds.createEntry(workload('after-prune'));
      expect((await h.ds.listEntryEvents()).at(-1)).toMatchObject({ entryId: next.id });
      expect((await h.ds.listEntryEvents()).at(-1)?.eventId).toBeGreaterThan(ids[2] as number);
    });
  });

  describe('unreachable database', () => {
    it('fails with UNAVAILABLE naming the host, without a stack trace', async (t) => {
      if (!h.factory.unreachable) return t.skip('this factory cannot make an unreachable database');
      const { open, host } = h.factory.unreachable();
      const err = await expectCode(open(), 'UNAVAILABLE');
      expect(err.message).toContain(host);
      expect(err.message).not.toMatch(/\n\s+at /);
    });
  });
}
