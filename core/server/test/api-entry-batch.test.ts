// BatchCreateEntry in bulk over a real SQL DataStore plugin (SQLite): one
// DataStore write for a batch of new entries, SPIRE's per-entry results and
// order when entries are similar to stored ones or to earlier ones of the
// batch, and the per-entry fallback when the one-call write fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nullLogger } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import type { apiTypes } from '@spire-ts/proto';
import type { DataStoreV1 } from '../src/index.js';
import { setCaller } from '../src/api/caller.js';
import type { ApiDeps } from '../src/api/deps.js';
import { createEntryCache } from '../src/entrycache/index.js';
import { entryService } from '../src/api/entry.js';
import { TD, id, r, sel, startApiEnv, type ApiEnv } from './api-env.js';

let env: ApiEnv;
let ds: DataStoreV1;
let deps: ApiDeps;

beforeAll(async () => {
  env = await startApiEnv('api-entry-batch', (store, clock) => createEntryCache({ ds: store, clock, log: nullLogger, trustDomain: TD, pollIntervalMs: 60_000 }));
  ({ ds, deps } = env);
}, 60_000);
afterAll(() => env?.close());

const local = (): never => {
  const call = {};
  setCaller(call, { kind: 'local' });
  return call as never;
};
const svc = () => entryService(deps);
async function create(entries: apiTypes.Entry[]) {
  return (await svc().BatchCreateEntry!(r({ entries: entries as never, output_mask: null as never }), local())).results ?? [];
}
const workload = (path: string, extra: Partial<apiTypes.Entry> = {}): apiTypes.Entry => ({
  spiffe_id: id(path), parent_id: { trust_domain: TD, path: '/spire/agent/test/node1' }, selectors: [sel('unix', 'uid:1000')], ...extra,
});

describe('Entry API: BatchCreateEntry in bulk', () => {
  /** The real DataStore, counting the entry calls the service makes. */
  function counted() {
    const calls = { createEntries: 0, createEntry: 0, listEntries: 0 };
    const wrapped = Object.create(ds) as typeof ds;
    wrapped.createEntries = async (list) => (calls.createEntries++, ds.createEntries(list));
    wrapped.createEntry = async (e) => (calls.createEntry++, ds.createEntry(e));
    wrapped.listEntries = async (p, f) => (calls.listEntries++, ds.listEntries(p, f));
    const service = entryService({ ...deps, ds: wrapped });
    const run = async (entries: apiTypes.Entry[]) =>
      (await service.BatchCreateEntry!(r({ entries: entries as never, output_mask: null as never }), local())).results ?? [];
    return { calls, run };
  }
  const count = async (): Promise<number> => Number((await svc().CountEntries!(r({}), local())).count);

  it('creates 500 fresh entries in one DataStore write, results in request order', async () => {
    const { calls, run } = counted();
    const before = await count();
    const entries = Array.from({ length: 500 }, (_, i) => workload(`/bulk/${i}`, { selectors: [sel('unix', `uid:${i}`)], hint: `h${i}` }));
    const results = await run(entries);
    expect(results).toHaveLength(500);
    results.forEach((res, i) => {
      expect(res.status, `entry ${i}`).toEqual({ code: 0, message: 'OK' });
      expect(res.entry?.spiffe_id).toEqual(id(`/bulk/${i}`));
      expect(res.entry?.hint).toBe(`h${i}`);
    });
    expect(new Set(results.map((x) => x.entry?.id)).size).toBe(500);
    // The first entry's similar-entry lookup, then one write.
    expect(calls).toEqual({ createEntries: 1, createEntry: 0, listEntries: 1 });
    expect(await count()).toBe(before + 500);
  });

  it('answers a similar entry later in the same batch ALREADY_EXISTS with the first one, like SPIRE', async () => {
    const { calls, run } = counted();
    const before = await count();
    const results = await run([
      workload('/inbatch/a', { selectors: [sel('unix', 'uid:1'), sel('unix', 'gid:1')] }),
      workload('/inbatch/b'),
      workload('/inbatch/a', { selectors: [sel('unix', 'gid:1'), sel('unix', 'uid:1')], hint: 'second' }),
      workload('/inbatch/a', { selectors: [sel('unix', 'uid:1')] }),
      workload('/inbatch/a', { selectors: [sel('unix', 'uid:1'), sel('unix', 'gid:1')], id: 'inbatch-custom' }),
    ]);
    expect(results.map((x) => x.status?.code)).toEqual([0, 0, Status.ALREADY_EXISTS, 0, Status.ALREADY_EXISTS]);
    expect(results[2]?.status?.message).toBe('similar entry already exists');
    expect(results[2]?.entry?.id).toBe(results[0]?.entry?.id);
    expect(results[2]?.entry?.hint).toBe('');
    expect(results[4]?.entry?.id).toBe(results[0]?.entry?.id);
    expect(calls).toEqual({ createEntries: 1, createEntry: 0, listEntries: 1 });
    expect(await count()).toBe(before + 3);
  });

  it('keeps per-entry statuses when stored entries conflict in the middle of a batch', async () => {
    const [stored] = await create([workload('/mid/existing', { selectors: [sel('unix', 'uid:7')] })]);
    const { calls, run } = counted();
    const before = await count();
    const entries = Array.from({ length: 40 }, (_, i) => workload(`/mid/${i}`));
    entries[20] = workload('/mid/existing', { selectors: [sel('unix', 'uid:7')], hint: 'again' });
    entries[30] = workload('/mid/existing', { selectors: [sel('unix', 'uid:7')] });
    entries[25] = { ...workload('/mid/bad'), selectors: [] };
    const results = await run(entries);
    results.forEach((res, i) => {
      if (i === 20 || i === 30) {
        expect(res.status?.code, `entry ${i}`).toBe(Status.ALREADY_EXISTS);
        expect(res.entry?.id).toBe(stored?.entry?.id);
      } else if (i === 25) {
        expect(res.status?.code).toBe(Status.INVALID_ARGUMENT);
      } else {
        expect(res.status?.code, `entry ${i}`).toBe(0);
        expect(res.entry?.spiffe_id).toEqual(id(`/mid/${i}`));
      }
    });
    // The failed write, one lookup per distinct entry, then one write of the rest.
    expect(calls).toEqual({ createEntries: 2, createEntry: 0, listEntries: 38 });
    expect(await count()).toBe(before + 37);
  });

  it('falls back to one create per entry when the batch write fails for another reason', async () => {
    const { calls, run } = counted();
    const before = await count();
    const results = await run([
      workload('/fb/a', { id: 'fb-same-id' }),
      workload('/fb/nofed', { federates_with: ['unknown.org'] }),
      workload('/fb/b', { id: 'fb-same-id' }),
      workload('/fb/a', { id: 'fb-other-id' }),
      workload('/fb/c'),
    ]);
    expect(results.map((x) => x.status?.code)).toEqual([0, results[1]?.status?.code, Status.ALREADY_EXISTS, Status.ALREADY_EXISTS, 0]);
    expect(results[1]?.status?.code).not.toBe(0);
    expect(results[1]?.status?.message).toMatch(/^failed to create entry: /);
    expect(results[2]?.status?.message).toMatch(/^failed to create entry: /);
    expect(results[3]?.status?.message).toBe('similar entry already exists');
    expect(results[3]?.entry?.id).toBe('fb-same-id');
    expect(calls.createEntries).toBe(1);
    expect(await count()).toBe(before + 2);
  });

  it('re-applying stored entries writes nothing: one lookup each, ALREADY_EXISTS each, in order', async () => {
    const entries = Array.from({ length: 60 }, (_, i) => workload(`/again/${i}`));
    const first = await create(entries);
    const { calls, run } = counted();
    const before = await count();
    const again = await run([...entries.slice(0, 30), workload('/again/new'), ...entries.slice(30)]);
    expect(again).toHaveLength(61);
    again.forEach((res, i) => {
      if (i === 30) {
        expect(res.status?.code).toBe(0);
        expect(res.entry?.spiffe_id).toEqual(id('/again/new'));
        return;
      }
      expect(res.status, `entry ${i}`).toEqual({ code: Status.ALREADY_EXISTS, message: 'similar entry already exists' });
      expect(res.entry?.id).toBe(first[i < 30 ? i : i - 1]?.entry?.id);
    });
    expect(calls).toEqual({ createEntries: 1, createEntry: 0, listEntries: 61 });
    expect(await count()).toBe(before + 1);
    const { calls: none, run: rerun } = counted();
    expect((await rerun(entries)).every((x) => x.status?.code === Status.ALREADY_EXISTS)).toBe(true);
    expect(none).toEqual({ createEntries: 0, createEntry: 0, listEntries: 60 });
  });
});
