/** Contract: attested nodes, node selectors, node filters, pruning. */
import { beforeEach, describe, expect, it } from 'vitest';
import type { AttestedNode, NewNode, NodeFilters } from '@spire-ts/server-datastore-sql/wire';
import type { Harness } from './contract.js';
import { agentId, expectCode, sel } from './fixtures.js';

const node = (name: string, patch: Partial<NewNode> = {}): NewNode => ({
  spiffeId: agentId(name),
  attestationDataType: 'x509pop',
  certSerialNumber: `serial-${name}`,
  certNotAfter: 1_700_003_600,
  canReattest: true,
  agentVersion: '1.0.0',
  ...patch,
});

export function nodeTests(h: Harness): void {
  describe('attested nodes', () => {
    it('creates, fetches, updates with a mask and deletes a node', async () => {
      const created = await h.ds.createNode(node('n1', { newCertSerialNumber: 'next', newCertNotAfter: 1_700_007_200 }));
      expect(created).toMatchObject({ spiffeId: agentId('n1'), certSerialNumber: 'serial-n1', banned: false, canReattest: true, newCertSerialNumber: 'next' });
      expect(await h.ds.fetchNode(agentId('n1'))).toEqual(created);
      await expectCode(h.ds.createNode(node('n1')), 'ALREADY_EXISTS');

      const updated = await h.ds.updateNode({ spiffeId: agentId('n1'), certSerialNumber: 'serial-2', agentVersion: 'ignored' }, { certSerialNumber: true });
      expect(updated).toMatchObject({ certSerialNumber: 'serial-2', agentVersion: '1.0.0' });
      const banned = await h.ds.updateNode({ spiffeId: agentId('n1'), certSerialNumber: '', newCertSerialNumber: '' }, { certSerialNumber: true, newCertSerialNumber: true });
      expect(banned.banned).toBe(true);
      await expectCode(h.ds.updateNode({ spiffeId: agentId('nope') }, { canReattest: true }), 'NOT_FOUND');

      expect(await h.ds.deleteNode(agentId('n1'))).toEqual(banned);
      expect(await h.ds.fetchNode(agentId('n1'))).toBeNull();
      await expectCode(h.ds.deleteNode(agentId('n1')), 'NOT_FOUND');
    });

    it('rejects malformed nodes', async () => {
      await expectCode(h.ds.createNode(node('x', { spiffeId: 'spiffe://example.org/a//b' })), 'INVALID_ARGUMENT');
      await expectCode(h.ds.createNode(node('x', { certNotAfter: -5 })), 'INVALID_ARGUMENT');
      await expectCode(h.ds.createNode(node('x', { attestationDataType: 't'.repeat(300) })), 'INVALID_ARGUMENT');
      await expectCode(h.ds.createNode(node('x', { selectors: [sel('x509pop', '')] })), 'INVALID_ARGUMENT');
      expect(await h.ds.countNodes()).toBe(0);
      expect(await h.ds.listNodeEvents()).toEqual([]);
    });

    it('sets, replaces and gets node selectors', async () => {
      await h.ds.createNode(node('s1', { selectors: [sel('x509pop', 'cn:a')] }));
      expect(await h.ds.getNodeSelectors(agentId('s1'))).toEqual([sel('x509pop', 'cn:a')]);
      await h.ds.setNodeSelectors(agentId('s1'), [sel('x509pop', 'cn:b'), sel('x509pop', 'ca:1')]);
      expect(await h.ds.getNodeSelectors(agentId('s1'))).toEqual([sel('x509pop', 'ca:1'), sel('x509pop', 'cn:b')]);
      expect((await h.ds.fetchNode(agentId('s1'), { fetchSelectors: true }))?.selectors).toEqual([sel('x509pop', 'ca:1'), sel('x509pop', 'cn:b')]);
      await h.ds.setNodeSelectors(agentId('s1'), []);
      expect(await h.ds.getNodeSelectors(agentId('s1'))).toEqual([]);
      const nodes = await h.ds.fetchNodes([agentId('s1'), agentId('missing')]);
      expect(nodes.map((n) => n.spiffeId)).toEqual([agentId('s1')]);
    });

    describe('filters', () => {
      beforeEach(async () => {
        await h.ds.createNode(node('a', { attestationDataType: 'join_token', certNotAfter: 100, selectors: [sel('t', '1')] }));
        await h.ds.createNode(node('b', { certNotAfter: 200, canReattest: false, selectors: [sel('t', '1'), sel('t', '2')] }));
        await h.ds.createNode(node('c', { certNotAfter: 300, certSerialNumber: '', selectors: [sel('t', '3')] }));
        await h.ds.createNode(node('d', { certNotAfter: 400 }));
      });
      const names = (list: AttestedNode[]): string[] => list.map((n) => n.spiffeId.split('/').pop() as string).sort();
      const check = async (f: NodeFilters, expected: string[]): Promise<void> => {
        expect(names((await h.ds.listNodes(f)).nodes)).toEqual(expected);
        expect(await h.ds.countNodes(f)).toBe(expected.length);
      };

      it('by attestation type, banned, expiry and re-attestability', async () => {
        await check({ byAttestationType: 'join_token' }, ['a']);
        await check({ byBanned: true }, ['c']);
        await check({ byBanned: false }, ['a', 'b', 'd']);
        await check({ byExpiresBefore: 300 }, ['a', 'b']);
        await check({ byCanReattest: false }, ['b']);
        await check({ byCanReattest: true, byExpiresBefore: 350, byBanned: false }, ['a']);
      });

      it('by selectors, with every match behaviour', async () => {
        await check({ bySelectorMatch: { selectors: [sel('t', '1')], match: 'exact' } }, ['a']);
        await check({ bySelectorMatch: { selectors: [sel('t', '1'), sel('t', '2')], match: 'subset' } }, ['a', 'b']);
        await check({ bySelectorMatch: { selectors: [sel('t', '1')], match: 'superset' } }, ['a', 'b']);
        await check({ bySelectorMatch: { selectors: [sel('t', '2'), sel('t', '3')], match: 'any' } }, ['b', 'c']);
        await check({ bySelectorMatch: { selectors: [sel('t', '1')], match: 'superset' }, byCanReattest: true }, ['a']);
        await expectCode(h.ds.listNodes({ bySelectorMatch: { selectors: [], match: 'any' } }), 'INVALID_ARGUMENT');
      });

      it('returns selectors only when asked, and pages', async () => {
        const plain = await h.ds.listNodes({});
        expect(plain.nodes.every((n) => n.selectors === undefined)).toBe(true);
        const withSel = await h.ds.listNodes({ fetchSelectors: true, byAttestationType: 'x509pop' });
        expect(withSel.nodes.find((n) => n.spiffeId === agentId('b'))?.selectors).toEqual([sel('t', '1'), sel('t', '2')]);
        const p1 = await h.ds.listNodes({ pagination: { pageSize: 3 } });
        const p2 = await h.ds.listNodes({ pagination: { pageSize: 3, token: p1.nextPageToken } });
        expect(names([...p1.nodes, ...p2.nodes])).toEqual(['a', 'b', 'c', 'd']);
        expect(p2.nextPageToken).toBe('');
      });
    });

    it('prunes expired nodes that can re-attest, keeps banned ones, and emits events', async () => {
      await h.ds.createNode(node('old-reattest', { certNotAfter: 10, selectors: [sel('t', 'x')] }));
      await h.ds.createNode(node('old-fixed', { certNotAfter: 10, canReattest: false }));
      await h.ds.createNode(node('old-banned', { certNotAfter: 10, certSerialNumber: '' }));
      await h.ds.createNode(node('fresh', { certNotAfter: 1000 }));
      const before = (await h.ds.listNodeEvents()).at(-1)?.eventId ?? 0;
      expect(await h.ds.pruneNodes(100)).toBe(1);
      expect(await h.ds.getNodeSelectors(agentId('old-reattest'))).toEqual([]);
      expect(await h.ds.pruneNodes(100, { includeNonReattestable: true })).toBe(1);
      expect((await h.ds.listNodes()).nodes.map((n) => n.spiffeId.split('/').pop()).sort()).toEqual(['fresh', 'old-banned']);
      expect((await h.ds.listNodeEvents({ afterId: before })).map((e) => e.spiffeId)).toEqual([agentId('old-reattest'), agentId('old-fixed')]);
    });
  });
}
