/** Contract: entry list filters, their combinations, counts and pagination. */
import { beforeEach, describe, expect, it } from 'vitest';
import type { EntryFilters, RegistrationEntry } from '@spire-ts/server-datastore-sql/wire';
import type { Harness } from './contract.js';
import { workload } from './entries.js';
import { agentId, expectCode, fakeCert, sel, TD } from './fixtures.js';

const A = sel('unix', 'uid:1');
const B = sel('unix', 'gid:1');
const C = sel('docker', 'image:x');

export function filterTests(h: Harness): void {
  describe('entry list filters', () => {
    beforeEach(async () => {
      for (const td of ['spiffe://fed1.example', 'spiffe://fed2.example', 'spiffe://fed3.example']) {
        await h.ds.createBundle({ trustDomain: td, x509Authorities: [{ asn1: fakeCert({ notAfter: h.clock.t + 1000, ski: '01' }), tainted: false }] });
      }
      await h.ds.createEntries([
        { ...workload('a', agentId('p1'), [A]), hint: 'h1', federatesWith: ['spiffe://fed1.example'] },
        { ...workload('b', agentId('p1'), [B]), downstream: true },
        { ...workload('ab', agentId('p1'), [A, B]), hint: 'h1', federatesWith: ['spiffe://fed1.example', 'spiffe://fed2.example'] },
        { ...workload('abc', agentId('p2'), [A, B, C]), downstream: true, federatesWith: ['spiffe://fed1.example', 'spiffe://fed2.example', 'spiffe://fed3.example'] },
        { ...workload('c', agentId('p2'), [C]), hint: 'h2', federatesWith: ['spiffe://fed3.example'] },
      ]);
    });

    const names = (list: RegistrationEntry[]): string[] => list.map((e) => e.spiffeId.split('/').pop() as string).sort();
    const check = async (filters: EntryFilters, expected: string[]): Promise<void> => {
      expect(names((await h.ds.listEntries(filters)).entries)).toEqual(expected.sort());
      expect(await h.ds.countEntries(filters)).toBe(expected.length);
    };

    it('filters by parent ID, SPIFFE ID, hint and downstream', async () => {
      await check({}, ['a', 'b', 'ab', 'abc', 'c']);
      await check({ byParentId: agentId('p1') }, ['a', 'b', 'ab']);
      await check({ bySpiffeId: `${TD}/workload/ab` }, ['ab']);
      await check({ byHint: 'h1' }, ['a', 'ab']);
      await check({ byDownstream: true }, ['b', 'abc']);
      await check({ byDownstream: false }, ['a', 'ab', 'c']);
    });

    it('matches selectors exactly, as subset, superset and any', async () => {
      await check({ bySelectors: { selectors: [A, B], match: 'exact' } }, ['ab']);
      await check({ bySelectors: { selectors: [B, A], match: 'exact' } }, ['ab']);
      await check({ bySelectors: { selectors: [A], match: 'exact' } }, ['a']);
      await check({ bySelectors: { selectors: [A, B], match: 'subset' } }, ['a', 'b', 'ab']);
      await check({ bySelectors: { selectors: [A, B], match: 'superset' } }, ['ab', 'abc']);
      await check({ bySelectors: { selectors: [A, C], match: 'any' } }, ['a', 'ab', 'abc', 'c']);
      await check({ bySelectors: { selectors: [sel('none', 'x')], match: 'any' } }, []);
    });

    it('matches federated trust domains exactly, as subset, superset and any', async () => {
      const fw = (tds: string[], match: 'exact' | 'subset' | 'superset' | 'any'): EntryFilters => ({ byFederatesWith: { trustDomains: tds, match } });
      await check(fw(['spiffe://fed1.example', 'spiffe://fed2.example'], 'exact'), ['ab']);
      await check(fw(['fed1.example', 'fed2.example'], 'subset'), ['a', 'ab']);
      await check(fw(['spiffe://fed1.example', 'spiffe://fed2.example'], 'superset'), ['ab', 'abc']);
      await check(fw(['spiffe://fed3.example'], 'any'), ['abc', 'c']);
      await check(fw([], 'any'), ['a', 'b', 'ab', 'abc', 'c']);
    });

    it('combines filters', async () => {
      await check({ byParentId: agentId('p1'), bySelectors: { selectors: [A], match: 'superset' } }, ['a', 'ab']);
      await check({ byHint: 'h1', byFederatesWith: { trustDomains: ['spiffe://fed2.example'], match: 'any' } }, ['ab']);
      await check({ byDownstream: true, bySelectors: { selectors: [A, B, C], match: 'subset' }, byParentId: agentId('p2') }, ['abc']);
      await check({ bySpiffeId: `${TD}/workload/a`, byParentId: agentId('p2') }, []);
    });

    it('rejects malformed filters', async () => {
      await expectCode(h.ds.listEntries({ bySelectors: { selectors: [], match: 'any' } }), 'INVALID_ARGUMENT');
      await expectCode(h.ds.listEntries({ bySelectors: { selectors: [A], match: 'most' as 'any' } }), 'INVALID_ARGUMENT');
      await expectCode(h.ds.listEntries({ byParentId: 'not-an-id' }), 'INVALID_ARGUMENT');
      await expectCode(h.ds.countEntries({ bySelectors: { selectors: [sel('', 'x')], match: 'any' } }), 'INVALID_ARGUMENT');
    });

    it('pages through results with filters', async () => {
      const p1 = await h.ds.listEntries({ bySelectors: { selectors: [A, B, C], match: 'subset' }, pagination: { pageSize: 2 } });
      expect(p1.entries).toHaveLength(2);
      expect(p1.nextPageToken).not.toBe('');
      const p2 = await h.ds.listEntries({ bySelectors: { selectors: [A, B, C], match: 'subset' }, pagination: { pageSize: 2, token: p1.nextPageToken } });
      const p3 = await h.ds.listEntries({ bySelectors: { selectors: [A, B, C], match: 'subset' }, pagination: { pageSize: 2, token: p2.nextPageToken } });
      expect(names([...p1.entries, ...p2.entries, ...p3.entries])).toEqual(['a', 'ab', 'abc', 'b', 'c']);
      expect(p3.nextPageToken).toBe('');
    });
  });

  describe('entry pagination', () => {
    it('pages through every entry exactly once', async () => {
      await h.ds.createEntries(Array.from({ length: 25 }, (_, i) => workload(`p${i}`)));
      const seen: string[] = [];
      let token = '';
      let pages = 0;
      do {
        const page = await h.ds.listEntries({ pagination: { pageSize: 10, token } });
        seen.push(...page.entries.map((e) => e.id));
        token = page.nextPageToken;
        pages++;
      } while (token);
      expect(pages).toBe(3);
      expect(new Set(seen).size).toBe(25);
    });

    it('is stable under concurrent inserts and deletes', async () => {
      const original = await h.ds.createEntries(Array.from({ length: 30 }, (_, i) => workload(`s${i}`)));
      const seen: string[] = [];
      let token = '';
      let round = 0;
      do {
        const page = await h.ds.listEntries({ pagination: { pageSize: 7, token } });
        seen.push(...page.entries.map((e) => e.id));
        token = page.nextPageToken;
        // Another writer inserts between pages.
        await h.ds.createEntries([workload(`new${round}a`), workload(`new${round}b`)]);
        round++;
      } while (token);
      const originalIds = original.map((e) => e.id);
      expect(new Set(seen).size).toBe(seen.length); // no duplicates
      for (const id of originalIds) expect(seen).toContain(id); // nothing pre-existing skipped
    });

    it('rejects bad page sizes and tokens', async () => {
      await expectCode(h.ds.listEntries({ pagination: { pageSize: 0 } }), 'INVALID_ARGUMENT');
      await expectCode(h.ds.listEntries({ pagination: { pageSize: 10, token: 'garbage' } }), 'INVALID_ARGUMENT');
      expect((await h.ds.listEntries({ pagination: { pageSize: 10 } })).nextPageToken).toBe('');
    });
  });
}
