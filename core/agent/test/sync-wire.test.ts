/**
 * sync-wire.ts against protobufjs: random SyncAuthorizedEntriesResponse
 * messages encoded by the generated codec decode to the same fields the
 * agent reads; hostile bytes (every truncation, wrong wire types, unknown
 * fields, out-of-range int64s) are errors or skipped, never misread.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { serviceCodecs } from '@spire-ts/proto/codec';
import { decodeSyncResponse } from '../src/node/sync-wire.js';

const codec = serviceCodecs('spire.api.server.entry.v1.Entry').SyncAuthorizedEntries!;

/** A small deterministic PRNG, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomEntry(r: () => number, i: number): Record<string, unknown> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const e: Record<string, unknown> = {
    id: `entry-${i}-${Math.floor(r() * 1e9)}`,
    spiffe_id: { trust_domain: 'example.org', path: `/w/${i}/ü` },
    parent_id: { trust_domain: 'example.org', path: '/spire/agent/x' },
    selectors: Array.from({ length: Math.floor(r() * 4) }, (_, k) => ({ type: pick(['unix', 'k8s', 'docker']), value: `v:${k}:${r()}` })),
    x509_svid_ttl: Math.floor(r() * 86400),
    federates_with: r() < 0.3 ? ['a.org', 'b.org'] : [],
    admin: r() < 0.5,
    downstream: r() < 0.5,
    expires_at: Math.floor(r() * 2e9),
    dns_names: r() < 0.3 ? ['x.example.org'] : [],
    revision_number: Math.floor(r() * 1e6),
    store_svid: r() < 0.5,
    jwt_svid_ttl: Math.floor(r() * 3600),
    hint: r() < 0.5 ? `hint-${i}` : '',
    created_at: Math.floor(r() * 2e9),
  };
  if (r() < 0.5) e.additional_attributes = { disable_x509_svid_prefetch: r() < 0.5, jwt_svid_include_jti: r() < 0.5 };
  return e;
}

const AGENT_FIELDS = ['id', 'spiffe_id', 'selectors', 'federates_with', 'admin', 'downstream', 'revision_number', 'store_svid', 'hint', 'created_at'] as const;

describe('decodeSyncResponse', () => {
  it('reads what protobufjs reads, for random messages of both kinds', () => {
    const r = rng(7);
    for (let round = 0; round < 40; round++) {
      const msg = {
        entries: round % 2 ? Array.from({ length: Math.floor(r() * 6) }, (_, i) => randomEntry(r, i)) : [],
        entry_revisions: round % 2 ? [] : Array.from({ length: Math.floor(r() * 20) }, (_, i) => ({ id: `rev-${i}`, revision_number: Math.floor(r() * 1e12), created_at: Math.floor(r() * 2e9) })),
        more: r() < 0.5,
      };
      const bytes = codec.responseSerialize(msg);
      const ref = codec.responseDeserialize(bytes) as {
        entries: Record<string, unknown>[];
        entry_revisions: Record<string, unknown>[];
        more: boolean;
      };
      const got = decodeSyncResponse(bytes);
      expect(got.more).toBe(ref.more);
      expect(got.entry_revisions).toEqual(ref.entry_revisions.map((x) => ({ id: x.id, revision_number: x.revision_number, created_at: x.created_at })));
      expect(got.entries.length).toBe(ref.entries.length);
      got.entries.forEach((e, i) => {
        const want = ref.entries[i]!;
        for (const f of AGENT_FIELDS) expect(e[f], f).toEqual(want[f]);
        expect(e.additional_attributes ?? null).toEqual(want.additional_attributes ?? null);
      });
    }
  });

  it('decodes an empty message as the defaults', () => {
    expect(decodeSyncResponse(Buffer.alloc(0))).toEqual({ entries: [], entry_revisions: [], more: false });
  });

  it('fails on every truncation of a message, instead of reading past it', () => {
    const r = rng(11);
    const [a, b] = [randomEntry(r, 1), randomEntry(r, 2)];
    const bytes = codec.responseSerialize({ entries: [a, b], more: true });
    expect(decodeSyncResponse(bytes).entries).toHaveLength(2);
    // A cut between top-level fields is a shorter, valid message; every other cut is an error.
    const boundaries = new Map([
      [codec.responseSerialize({ entries: [a] }).length, 1],
      [codec.responseSerialize({ entries: [a, b] }).length, 2],
    ]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const entries = boundaries.get(cut);
      if (entries !== undefined) {
        expect(decodeSyncResponse(bytes.subarray(0, cut)).entries, `cut at ${cut}`).toHaveLength(entries);
        continue;
      }
      expect(() => decodeSyncResponse(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow(/truncated|past the end|wire type|field number 0/);
    }
  });

  it('skips unknown fields of every wire type and refuses known fields of the wrong type', () => {
    const rev = codec.responseSerialize({ entry_revisions: [{ id: 'a', revision_number: 3, created_at: 9 }] });
    // Unknown fields 9 (varint), 10 (fixed64), 11 (bytes), 12 (fixed32) before the real field.
    const unknown = Buffer.concat([Buffer.from([0x48, 0x96, 0x01, 0x51]), Buffer.alloc(8, 1), Buffer.from([0x5a, 0x02, 0xff, 0xfe, 0x65]), Buffer.alloc(4, 2), rev]);
    expect(decodeSyncResponse(unknown).entry_revisions).toEqual([{ id: 'a', revision_number: 3, created_at: 9 }]);
    // `more` (field 3) sent as bytes.
    expect(() => decodeSyncResponse(Buffer.from([0x1a, 0x01, 0x01]))).toThrow(/SyncAuthorizedEntriesResponse field 3 has wire type 2/);
    // A group (wire type 3).
    expect(() => decodeSyncResponse(Buffer.from([0x4b]))).toThrow(/wire type 3/);
    // An entry whose revision_number (11) is length-delimited.
    expect(() => decodeSyncResponse(Buffer.from([0x12, 0x03, 0x5a, 0x01, 0x00]))).toThrow(/Entry field 11 has wire type 2/);
    // A varint that never ends.
    expect(() => decodeSyncResponse(Buffer.from([0x18, ...Buffer.alloc(11, 0xff)]))).toThrow(/varint/);
  });

  it('gives negative int64s as negative numbers and revisions beyond 2^53 as NaN', () => {
    const bytes = codec.responseSerialize({
      entry_revisions: [
        { id: 'neg', revision_number: -1, created_at: -5 },
        { id: 'big', revision_number: 2 ** 60, created_at: 0 },
        { id: 'max', revision_number: Number.MAX_SAFE_INTEGER, created_at: -(2 ** 40) - 3 },
      ],
    });
    const got = decodeSyncResponse(bytes).entry_revisions;
    expect(got[0]).toEqual({ id: 'neg', revision_number: -1, created_at: -5 });
    expect(got[1]!.revision_number).toBeNaN();
    expect(got[2]).toEqual({ id: 'max', revision_number: Number.MAX_SAFE_INTEGER, created_at: -(2 ** 40) - 3 });
  });

  it('never throws anything but an Error on random bytes', () => {
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(1 + (i % 64));
      try {
        decodeSyncResponse(b);
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
      }
    }
  });
});
