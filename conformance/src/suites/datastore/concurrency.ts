/** Contract: two servers writing at once on one database. */
import { describe, expect, it } from 'vitest';
import type { Harness } from './contract.js';
import { workload } from './entries.js';
import { agentId, GrpcCode, sel } from './fixtures.js';

export function concurrencyTests(h: Harness): void {
  describe('concurrent writers', () => {
    it('two writers creating entries at once: all written, events gapless and in commit order', async () => {
      const other = await h.another();
      const writes = Array.from({ length: 20 }, (_, i) => (i % 2 ? other : h.ds).createEntries([workload(`c${i}-a`), workload(`c${i}-b`)]));
      await Promise.all(writes);
      expect(await h.ds.countEntries()).toBe(40);
      const ids = (await other.listEntryEvents()).map((e) => e.eventId);
      expect(ids).toHaveLength(40);
      const first = ids[0] as number;
      expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => first + i));
    });

    it('two writers racing to create the same entry: exactly one wins', async () => {
      const other = await h.another();
      const results = await Promise.allSettled([h.ds.createEntry(workload('race')), other.createEntry(workload('race'))]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect((failed.reason as { code?: number }).code).toBe(GrpcCode.ALREADY_EXISTS);
      expect(await h.ds.countEntries()).toBe(1);
    });

    it('two writers updating one entry at the same revision: one succeeds, the other is ABORTED', async () => {
      const e = await h.ds.createEntry(workload('rev'));
      const other = await h.another();
      const results = await Promise.allSettled([
        h.ds.updateEntry({ id: e.id, hint: 'one' }, { hint: true }, { expectedRevision: 0 }),
        other.updateEntry({ id: e.id, hint: 'two' }, { hint: true }, { expectedRevision: 0 }),
      ]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok).toHaveLength(1);
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect((failed.reason as { code?: number }).code).toBe(GrpcCode.ABORTED);
      const final = await h.ds.fetchEntry(e.id);
      expect(final?.revisionNumber).toBe(1);
      expect(final?.hint).toBe((ok[0] as PromiseFulfilledResult<{ hint: string }>).value.hint);
    });

    it('interleaved updates without an expected revision all apply', async () => {
      const e = await h.ds.createEntry(workload('many'));
      const other = await h.another();
      await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : h.ds).updateEntry({ id: e.id, x509SvidTtl: i }, { x509SvidTtl: true })));
      expect((await h.ds.fetchEntry(e.id))?.revisionNumber).toBe(10);
    });

    it('concurrent node selector updates leave one complete set', async () => {
      const other = await h.another();
      await h.ds.createNode({ spiffeId: agentId('x'), certSerialNumber: '1' });
      await Promise.all(
        Array.from({ length: 6 }, (_, i) => (i % 2 ? other : h.ds).setNodeSelectors(agentId('x'), [sel('t', `a${i}`), sel('t', `b${i}`)])),
      );
      const final = await h.ds.getNodeSelectors(agentId('x'));
      expect(final).toHaveLength(2);
      expect(final[0]?.value.slice(1)).toBe(final[1]?.value.slice(1));
    });
  });
}
