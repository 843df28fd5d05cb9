// DataStoreV1.createEntries over the real SQL DataStore plugin (SQLite): one
// all-or-nothing write answered in request order, and hostile CreateEntries
// responses refused as INTERNAL naming the plugin.
import { describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import { DataStoreV1 } from '../src/index.js';
import type { DataStorePlugin } from './plugins.js';
import { failure, sqlDataStoreForFile } from './plugins.js';
import type { NewEntry } from '../src/plugin/datastore/datastore.js';

const { ds } = sqlDataStoreForFile('datastore-v1-create-entries-');
const P = 'spiffe://example.org/spire/agent/x/a1';
const entry = (path: string, extra: Partial<NewEntry> = {}): NewEntry => ({
  spiffeId: `spiffe://example.org${path}`, parentId: P, selectors: [{ type: 'unix', value: `uid:${path}` }], ...extra,
});

describe('DataStoreV1.createEntries', () => {
  it('creates all entries in request order, or none', async () => {
    expect(await ds.createEntries([])).toEqual([]);
    const made = await ds.createEntries([entry('/a'), entry('/b', { id: 'custom-b', hint: 'h' }), entry('/c')]);
    expect(made.map((e) => e.spiffeId)).toEqual(['/a', '/b', '/c'].map((p) => `spiffe://example.org${p}`));
    expect(made[1]).toMatchObject({ id: 'custom-b', hint: 'h', revisionNumber: 0 });
    expect(new Set(made.map((e) => e.id)).size).toBe(3);
    const before = await ds.countEntries();
    const err = await failure(ds.createEntries([entry('/d'), entry('/a'), entry('/e')]));
    expect(err.grpcCode).toBe(Status.ALREADY_EXISTS);
    expect(err.message).toMatch(/^datastore\(sql\): failed to create 3 entries: /);
    expect(await ds.countEntries()).toBe(before);
  });

  const hostile = (response: Record<string, unknown>): DataStoreV1 =>
    new DataStoreV1({ label: 'datastore(sql)', call: () => Promise.resolve(response) } as unknown as DataStorePlugin);
  const msg = (id: string, path: string): Record<string, unknown> => ({
    id, spiffe_id: `spiffe://example.org${path}`, parent_id: P, selectors: [{ type: 'unix', value: 'uid:1' }], federates_with: [], dns_names: [],
  });

  it.each([
    ['too few entries', [entry('/a'), entry('/b')], { entries: [msg('1', '/a')] }, /CreateEntries returned 1 entries for 2/],
    ['entries out of order', [entry('/a'), entry('/b')], { entries: [msg('1', '/b'), msg('2', '/a')] }, /entry "1" \(spiffe:\/\/example.org\/b\) for entry 0/],
    ['another custom id', [entry('/a', { id: 'want' })], { entries: [msg('got', '/a')] }, /entry "got" .* for entry 0/],
    ['an id twice', [entry('/a'), entry('/b')], { entries: [msg('1', '/a'), msg('1', '/b')] }, /entry id "1" twice/],
    ['an entry without id', [entry('/a')], { entries: [msg('', '/a')] }, /an entry without id/],
  ])('%s is INTERNAL naming the plugin', async (_name, input, response, want) => {
    const err = await failure(hostile(response).createEntries(input));
    expect(err.grpcCode).toBe(Status.INTERNAL);
    expect(err.message).toMatch(/^datastore\(sql\): /);
    expect(err.message).toMatch(want);
  });
});
