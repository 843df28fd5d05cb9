/** Contract: bundles (CRUD, append, set, delete modes, prune, taint, revoke). */
import { describe, expect, it } from 'vitest';
import type { NewBundle } from '@spire-ts/server-datastore-sql/wire';
import type { Harness } from './contract.js';
import { workload } from './entries.js';
import { expectCode, fakeCert, fakeKey } from './fixtures.js';

const FED = 'spiffe://fed.example';

export function bundleTests(h: Harness): void {
  const bundle = (patch: Partial<NewBundle> = {}): NewBundle => ({
    trustDomain: FED,
    x509Authorities: [{ asn1: fakeCert({ notAfter: h.clock.t + 1000, ski: 'a1' }), tainted: false }],
    jwtAuthorities: [{ keyId: 'k1', publicKey: fakeKey(1), expiresAt: h.clock.t + 1000, tainted: false }],
    refreshHint: 300,
    sequenceNumber: 1,
    ...patch,
  });

  describe('bundles', () => {
    it('creates, fetches (bare or ID form), lists, counts and pages', async () => {
      const b = await h.ds.createBundle(bundle());
      expect(b.trustDomain).toBe(FED);
      expect(await h.ds.fetchBundle('fed.example')).toEqual(b);
      expect(await h.ds.fetchBundle('spiffe://none.example')).toBeNull();
      await expectCode(h.ds.createBundle(bundle({ trustDomain: 'fed.example' })), 'ALREADY_EXISTS');
      await h.ds.createBundle(bundle({ trustDomain: 'two.example' }));
      await h.ds.createBundle(bundle({ trustDomain: 'three.example' }));
      expect(await h.ds.countBundles()).toBe(3);
      expect((await h.ds.listBundles()).bundles.map((x) => x.trustDomain)).toEqual([FED, 'spiffe://two.example', 'spiffe://three.example']);
      const p1 = await h.ds.listBundles({ pageSize: 2 });
      const p2 = await h.ds.listBundles({ pageSize: 2, token: p1.nextPageToken });
      expect([...p1.bundles, ...p2.bundles]).toHaveLength(3);
      expect(p2.nextPageToken).toBe('');
    });

    it('rejects malformed bundles', async () => {
      await expectCode(h.ds.createBundle(bundle({ trustDomain: 'spiffe://Bad' })), 'INVALID_ARGUMENT');
      await expectCode(h.ds.createBundle(bundle({ x509Authorities: [{ asn1: new Uint8Array([1, 2, 3]), tainted: false }] })), 'INVALID_ARGUMENT');
      await expectCode(h.ds.createBundle(bundle({ jwtAuthorities: [{ keyId: '', publicKey: fakeKey(1), expiresAt: 0, tainted: false }] })), 'INVALID_ARGUMENT');
      const dup = { keyId: 'same', publicKey: fakeKey(1), expiresAt: 0, tainted: false };
      await expectCode(h.ds.createBundle(bundle({ jwtAuthorities: [dup, dup] })), 'INVALID_ARGUMENT');
      expect(await h.ds.countBundles()).toBe(0);
    });

    it('updates with a mask', async () => {
      await h.ds.createBundle(bundle());
      const u = await h.ds.updateBundle(bundle({ refreshHint: 60, sequenceNumber: 9, jwtAuthorities: [] }), { refreshHint: true });
      expect(u).toMatchObject({ refreshHint: 60, sequenceNumber: 1 });
      expect(u.jwtAuthorities).toHaveLength(1);
      expect(await h.ds.fetchBundle(FED)).toEqual(u);
      await expectCode(h.ds.updateBundle(bundle({ trustDomain: 'none.example' })), 'NOT_FOUND');
    });

    it('appends authorities, bumping the sequence number only on change', async () => {
      const created = await h.ds.appendBundle(bundle());
      expect(created.sequenceNumber).toBe(1);
      const same = await h.ds.appendBundle(bundle());
      expect(same.sequenceNumber).toBe(1);
      const more = await h.ds.appendBundle(
        bundle({
          x509Authorities: [{ asn1: fakeCert({ notAfter: h.clock.t + 2000, ski: 'a2' }), tainted: false }],
          jwtAuthorities: [{ keyId: 'k2', publicKey: fakeKey(2), expiresAt: 0, tainted: false }],
        }),
      );
      expect(more.sequenceNumber).toBe(2);
      expect(more.x509Authorities).toHaveLength(2);
      expect(more.jwtAuthorities.map((k) => k.keyId)).toEqual(['k1', 'k2']);
      expect(await h.ds.fetchBundle(FED)).toEqual(more);
    });

    it('sets (creates or replaces) a bundle', async () => {
      await h.ds.setBundle(bundle());
      const replaced = await h.ds.setBundle(bundle({ jwtAuthorities: [], sequenceNumber: 5 }));
      expect(await h.ds.fetchBundle(FED)).toEqual(replaced);
      expect(replaced.jwtAuthorities).toEqual([]);
    });

    it('deletes with restrict, dissociate and delete modes', async () => {
      await h.ds.createBundle(bundle());
      await h.ds.createBundle(bundle({ trustDomain: 'other.example' }));
      const e = await h.ds.createEntry({ ...workload('fed'), federatesWith: [FED, 'other.example'] });
      await expectCode(h.ds.deleteBundle(FED), 'FAILED_PRECONDITION');
      await expectCode(h.ds.deleteBundle(FED, 'restrict'), 'FAILED_PRECONDITION');
      await expectCode(h.ds.deleteBundle('missing.example'), 'NOT_FOUND');

      const eventsBefore = (await h.ds.listEntryEvents()).length;
      await h.ds.deleteBundle(FED, 'dissociate');
      expect(await h.ds.fetchBundle(FED)).toBeNull();
      const after = await h.ds.fetchEntry(e.id);
      expect(after?.federatesWith).toEqual(['spiffe://other.example']);
      expect(after?.revisionNumber).toBe(1);
      expect(await h.ds.countEntries({ byFederatesWith: { trustDomains: [FED], match: 'any' } })).toBe(0);
      expect(await h.ds.listEntryEvents()).toHaveLength(eventsBefore + 1);

      await h.ds.deleteBundle('other.example', 'delete');
      expect(await h.ds.fetchEntry(e.id)).toBeNull();
      expect(await h.ds.countBundles()).toBe(0);
    });

    it('prunes expired authorities but never all of them', async () => {
      const t = h.clock.t;
      await h.ds.createBundle(
        bundle({
          x509Authorities: [
            { asn1: fakeCert({ notAfter: t - 10, ski: '01' }), tainted: false },
            { asn1: fakeCert({ notAfter: t + 100, ski: '02' }), tainted: false },
          ],
          jwtAuthorities: [
            { keyId: 'old', publicKey: fakeKey(1), expiresAt: t - 10, tainted: false },
            { keyId: 'new', publicKey: fakeKey(2), expiresAt: t + 100, tainted: false },
          ],
        }),
      );
      expect(await h.ds.pruneBundle(FED, t)).toBe(true);
      const pruned = await h.ds.fetchBundle(FED);
      expect(pruned?.x509Authorities).toHaveLength(1);
      expect(pruned?.jwtAuthorities.map((k) => k.keyId)).toEqual(['new']);
      expect(pruned?.sequenceNumber).toBe(2);
      expect(await h.ds.pruneBundle(FED, t)).toBe(false);
      await expectCode(h.ds.pruneBundle(FED, t + 1000), 'FAILED_PRECONDITION');
      expect(await h.ds.fetchBundle(FED)).toEqual(pruned);
      expect(await h.ds.pruneBundle('none.example', t)).toBe(false);
    });

    it('taints and revokes X.509 and JWT authorities', async () => {
      await h.ds.createBundle(
        bundle({
          x509Authorities: [
            { asn1: fakeCert({ notAfter: h.clock.t + 100, ski: 'aabb' }), tainted: false },
            { asn1: fakeCert({ notAfter: h.clock.t + 100, ski: 'ccdd' }), tainted: false },
          ],
        }),
      );
      await expectCode(h.ds.revokeX509Authority(FED, 'aabb'), 'INVALID_ARGUMENT');
      await h.ds.taintX509Authority(FED, 'AABB');
      await expectCode(h.ds.taintX509Authority(FED, 'aabb'), 'INVALID_ARGUMENT');
      await expectCode(h.ds.taintX509Authority(FED, 'ffff'), 'NOT_FOUND');
      expect((await h.ds.fetchBundle(FED))?.x509Authorities.map((a) => a.tainted)).toEqual([true, false]);
      await h.ds.revokeX509Authority(FED, 'aabb');
      expect((await h.ds.fetchBundle(FED))?.x509Authorities).toHaveLength(1);

      await expectCode(h.ds.revokeJwtAuthority(FED, 'k1'), 'INVALID_ARGUMENT');
      expect(await h.ds.taintJwtAuthority(FED, 'k1')).toMatchObject({ keyId: 'k1', tainted: true });
      await expectCode(h.ds.taintJwtAuthority(FED, 'k1'), 'INVALID_ARGUMENT');
      await expectCode(h.ds.taintJwtAuthority(FED, 'nope'), 'NOT_FOUND');
      expect(await h.ds.revokeJwtAuthority(FED, 'k1')).toMatchObject({ keyId: 'k1' });
      const final = await h.ds.fetchBundle(FED);
      expect(final?.jwtAuthorities).toEqual([]);
      expect(final?.sequenceNumber).toBe(5);
      await expectCode(h.ds.taintJwtAuthority('none.example', 'k1'), 'NOT_FOUND');
    });
  });
}
