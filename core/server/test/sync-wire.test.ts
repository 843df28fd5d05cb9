/**
 * The direct revision-page encoder against protobufjs: what it writes
 * decodes to the same SyncAuthorizedEntriesResponse, for ids of any length
 * and UTF-8, zero, large and negative int64 values, with and without
 * `more`; zero values are left out (canonical proto3, as Go writes it); the
 * same page always gives the same bytes (agents compare pages across syncs).
 */
import { describe, expect, it } from 'vitest';
import { serviceCodecs } from '@spire-ts/proto/codec';
import { encodeRevisionPage, type RevisionSource } from '../src/api/sync-wire.js';

const codec = serviceCodecs('spire.api.server.entry.v1.Entry').SyncAuthorizedEntries!;

function expected(page: readonly RevisionSource[], more: boolean): unknown {
  return {
    entry_revisions: page.map((e) => ({ id: e.id, revision_number: e.revisionNumber, created_at: e.createdAt })),
    entries: [],
    more,
  };
}

describe('encodeRevisionPage', () => {
  it('writes the bytes protobufjs writes', () => {
    let seed = 3;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const values = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, 2 ** 32, 2 ** 35 + 7, Number.MAX_SAFE_INTEGER, -1, -(2 ** 40)];
    for (let round = 0; round < 200; round++) {
      const page: RevisionSource[] = Array.from({ length: Math.floor(next() * 30) }, (_, i) => ({
        id: i % 7 === 0 ? '' : `${'x'.repeat(Math.floor(next() * 200))}-é-${i}`,
        revisionNumber: values[Math.floor(next() * values.length)]!,
        createdAt: values[Math.floor(next() * values.length)]!,
      }));
      const more = next() < 0.5;
      const bytes = encodeRevisionPage(page, more);
      expect(codec.responseDeserialize(bytes), `round ${round}`).toEqual(expected(page, more));
      expect(encodeRevisionPage(page.map((e) => ({ ...e })), more).equals(bytes)).toBe(true);
    }
    expect(encodeRevisionPage([], false)).toHaveLength(0);
    // Zero values are not written: an empty revision is an empty message, `more: false` nothing.
    expect(encodeRevisionPage([{ id: '', revisionNumber: 0, createdAt: 0 }], false).toString('hex')).toBe('0a00');
    expect(encodeRevisionPage([{ id: 'ab', revisionNumber: 1, createdAt: 0 }], true).toString('hex')).toBe('0a060a02616210011801');
  });

  it('refuses values that are not integers instead of writing a wrong varint', () => {
    expect(() => encodeRevisionPage([{ id: 'a', revisionNumber: 1.5, createdAt: 0 }], false)).toThrow(RangeError);
    expect(() => encodeRevisionPage([{ id: 'a', revisionNumber: 1, createdAt: 2 ** 60 }], false)).toThrow(/must be integers/);
  });
});
