/**
 * A direct decoder for `spire.api.server.entry.v1.SyncAuthorizedEntriesResponse`,
 * the agent's largest and most frequent message: every sync brings the
 * revision of each authorised entry (10,000 ids every 5 s on a big node) and
 * a full sync brings every entry whole.
 *
 * Decoded through protobufjs (decode, then toObject with defaults), an
 * unchanged sync of 10,000 entries cost the agent ~150 ms of event loop, in
 * blocks of 10–20 ms while grpc-js handed over the buffered pages one after
 * the other: every Workload API call arriving meanwhile waited. This reads
 * the fields the agent uses straight from the bytes, into the shapes
 * {@link entryFromProto} takes, and skips the rest.
 *
 * The bytes come from the server, so they are checked as hostile: truncated
 * varints and lengths, a known field with the wrong wire type, and wire types
 * protobuf does not define are errors (grpc-js then fails the call), never a
 * read past the message.
 */
import type { EntryWire } from './convert.js';

export interface EntryRevisionWire {
  id: string;
  /** int64; NaN when the encoding cannot be a safe integer's (the caller rejects it). */
  revision_number: number;
  created_at: number;
}

export interface SyncResponseWire {
  entry_revisions: EntryRevisionWire[];
  entries: EntryWire[];
  more: boolean;
}

class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint as a non-negative number (exact up to 2^53). */
  varint(): number {
    const buf = this.buf;
    let b = buf[this.pos];
    // One byte: field keys, booleans, short lengths.
    if (b !== undefined && b < 0x80 && this.pos < this.end) {
      this.pos++;
      return b;
    }
    let n = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      b = buf[this.pos++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /**
   * An int64 varint as a Number: exact within ±2^53, negative values
   * negative (two's complement over 64 bits), inexact beyond.
   */
  int64(): number {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    for (let k = 0; k < 10; k++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = buf[this.pos++]!;
      const bits = b & 0x7f;
      const shift = 7 * k;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if (b < 0x80) {
        lo >>>= 0;
        hi >>>= 0;
        if (hi < 0x80000000) return hi * 2 ** 32 + lo;
        // Negative: -(~value + 1).
        return -((~hi >>> 0) * 2 ** 32 + (~lo >>> 0) + 1);
      }
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** A length prefix; returns the end of the bytes it announces. */
  delimited(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) throw new Error('length-delimited field runs past the end of its message');
    return end;
  }

  string(): string {
    const end = this.delimited();
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  /** Skips a field of wire type `wire` (groups are refused, as proto3 has none). */
  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.pos = this.delimited();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        throw new Error(`wire type ${wire} is not supported`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new Error('truncated fixed-width field');
    this.pos += n;
  }
}

function wrongWire(message: string, field: number, wire: number): Error {
  return new Error(`${message} field ${field} has wire type ${wire}`);
}

/** Reads a field key: `field * 8 + wire`. */
function key(r: Reader): number {
  const k = r.varint();
  if (k < 8) throw new Error(`field number 0 (key ${k})`);
  return k;
}

/** Reads a submessage whose fields 1 and 2 are strings (SPIFFEID, Selector); others are skipped. */
function stringPair(r: Reader, message: string): [string, string] {
  const end = r.delimited();
  const inner = new Reader(r.buf, r.pos, end);
  const out: [string, string] = ['', ''];
  while (inner.pos < end) {
    const k = key(inner);
    const field = k >>> 3;
    const wire = k & 7;
    if (field === 1 || field === 2) {
      if (wire !== 2) throw wrongWire(message, field, wire);
      out[field - 1] = inner.string();
    } else inner.skip(wire);
  }
  r.pos = end;
  return out;
}

function spiffeId(r: Reader): { trust_domain: string; path: string } {
  const [trustDomain, path] = stringPair(r, 'SPIFFEID');
  return { trust_domain: trustDomain, path };
}

function selector(r: Reader): { type: string; value: string } {
  const [type, value] = stringPair(r, 'Selector');
  return { type, value };
}

function additionalAttributes(r: Reader): { disable_x509_svid_prefetch: boolean; jwt_svid_include_jti: boolean } {
  const end = r.delimited();
  const inner = new Reader(r.buf, r.pos, end);
  const out = { disable_x509_svid_prefetch: false, jwt_svid_include_jti: false };
  while (inner.pos < end) {
    const k = key(inner);
    const field = k >>> 3;
    const wire = k & 7;
    if (field === 1 || field === 2) {
      if (wire !== 0) throw wrongWire('Entry.AdditionalAttributes', field, wire);
      const v = inner.varint() !== 0;
      if (field === 1) out.disable_x509_svid_prefetch = v;
      else out.jwt_svid_include_jti = v;
    } else inner.skip(wire);
  }
  r.pos = end;
  return out;
}

const VARINT_FIELDS = new Set([5, 7, 8, 9, 11, 12, 13, 15]);

function entry(r: Reader): EntryWire {
  const end = r.delimited();
  const inner = new Reader(r.buf, r.pos, end);
  const e: EntryWire = {
    id: '',
    spiffe_id: null,
    selectors: [],
    federates_with: [],
    admin: false,
    downstream: false,
    revision_number: 0,
    store_svid: false,
    hint: '',
    created_at: 0,
    additional_attributes: null,
  };
  while (inner.pos < end) {
    const k = key(inner);
    const field = k >>> 3;
    const wire = k & 7;
    if (field > 16) {
      inner.skip(wire);
      continue;
    }
    const want = VARINT_FIELDS.has(field) ? 0 : 2;
    if (wire !== want) throw wrongWire('Entry', field, wire);
    switch (field) {
      case 1:
        e.id = inner.string();
        break;
      case 2:
        e.spiffe_id = spiffeId(inner);
        break;
      case 4:
        e.selectors.push(selector(inner));
        break;
      case 6:
        e.federates_with.push(inner.string());
        break;
      case 7:
        e.admin = inner.varint() !== 0;
        break;
      case 8:
        e.downstream = inner.varint() !== 0;
        break;
      case 11:
        e.revision_number = inner.int64();
        break;
      case 12:
        e.store_svid = inner.varint() !== 0;
        break;
      case 14:
        e.hint = inner.string();
        break;
      case 15:
        e.created_at = inner.int64();
        break;
      case 16:
        e.additional_attributes = additionalAttributes(inner);
        break;
      default:
        // parent_id, x509_svid_ttl, expires_at, dns_names, jwt_svid_ttl: the agent does not use them.
        inner.skip(wire);
    }
  }
  r.pos = end;
  return e;
}

function entryRevision(r: Reader): EntryRevisionWire {
  const end = r.delimited();
  const inner = new Reader(r.buf, r.pos, end);
  let id = '';
  let revision = 0;
  let createdAt = 0;
  while (inner.pos < end) {
    const k = key(inner);
    const field = k >>> 3;
    const wire = k & 7;
    if (field === 1) {
      if (wire !== 2) throw wrongWire('EntryRevision', field, wire);
      id = inner.string();
    } else if (field === 2 || field === 3) {
      if (wire !== 0) throw wrongWire('EntryRevision', field, wire);
      if (field === 2) revision = inner.int64();
      else createdAt = inner.int64();
    } else inner.skip(wire);
  }
  r.pos = end;
  return { id, revision_number: Number.isSafeInteger(revision) ? revision : NaN, created_at: createdAt };
}

/**
 * Decodes one SyncAuthorizedEntriesResponse.
 * @throws Error on bytes that are not a well-formed message of that type.
 */
export function decodeSyncResponse(buf: Buffer): SyncResponseWire {
  const r = new Reader(buf, 0, buf.length);
  const out: SyncResponseWire = { entry_revisions: [], entries: [], more: false };
  while (r.pos < r.end) {
    const k = key(r);
    const field = k >>> 3;
    const wire = k & 7;
    if (field === 1 || field === 2) {
      if (wire !== 2) throw wrongWire('SyncAuthorizedEntriesResponse', field, wire);
      if (field === 1) out.entry_revisions.push(entryRevision(r));
      else out.entries.push(entry(r));
    } else if (field === 3) {
      if (wire !== 0) throw wrongWire('SyncAuthorizedEntriesResponse', field, wire);
      out.more = r.varint() !== 0;
    } else r.skip(wire);
  }
  return out;
}
