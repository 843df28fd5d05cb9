/**
 * Direct encoding of SyncAuthorizedEntries revision pages. Every agent sync
 * of a large node announces each authorised entry by id, revision and
 * creation time (10,000 of them every 5 s per agent by default); built as
 * objects and encoded by protobufjs that cost the server ~50 ms of event
 * loop per such sync. The encoding is canonical proto3, as Go's marshaller
 * writes it: fields in number order, zero values left out; the same entries
 * always give the same bytes, which agents comparing pages across syncs
 * rely on.
 */

/** The fields of an entry a revision carries. */
export interface RevisionSource {
  readonly id: string;
  readonly revisionNumber: number;
  readonly createdAt: number;
}

/** Bytes of `n` as a varint (int64 semantics: a negative value takes 10 bytes). */
function varintSize(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  if (n < 0) {
    // Two's complement over 64 bits, as int64 is encoded.
    const big = BigInt.asUintN(64, BigInt(n));
    let v = big;
    for (let i = 0; i < 9; i++) {
      buf[pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    buf[pos++] = Number(v);
    return pos;
  }
  while (n >= 128) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/**
 * A `SyncAuthorizedEntriesResponse` holding one revision per entry of `page`
 * and `more`. Revision numbers and creation times must be integers.
 */
export function encodeRevisionPage(page: readonly RevisionSource[], more: boolean): Buffer {
  const n = page.length;
  const idBytes = new Array<number>(n);
  const innerSizes = new Array<number>(n);
  let total = more ? 2 : 0;
  for (let i = 0; i < n; i++) {
    const e = page[i]!;
    if (!Number.isSafeInteger(e.revisionNumber) || !Number.isSafeInteger(e.createdAt)) {
      throw new RangeError(`entry ${e.id}: revision ${e.revisionNumber} and creation time ${e.createdAt} must be integers`);
    }
    const idLen = Buffer.byteLength(e.id, 'utf8');
    idBytes[i] = idLen;
    let inner = 0;
    if (idLen > 0) inner += 1 + varintSize(idLen) + idLen;
    if (e.revisionNumber !== 0) inner += 1 + varintSize(e.revisionNumber);
    if (e.createdAt !== 0) inner += 1 + varintSize(e.createdAt);
    innerSizes[i] = inner;
    total += 1 + varintSize(inner) + inner;
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const e = page[i]!;
    buf[pos++] = 0x0a; // entry_revisions = 1, length-delimited
    pos = writeVarint(buf, pos, innerSizes[i]!);
    const idLen = idBytes[i]!;
    if (idLen > 0) {
      buf[pos++] = 0x0a; // id = 1
      pos = writeVarint(buf, pos, idLen);
      pos += buf.write(e.id, pos, idLen, 'utf8');
    }
    if (e.revisionNumber !== 0) {
      buf[pos++] = 0x10; // revision_number = 2
      pos = writeVarint(buf, pos, e.revisionNumber);
    }
    if (e.createdAt !== 0) {
      buf[pos++] = 0x18; // created_at = 3
      pos = writeVarint(buf, pos, e.createdAt);
    }
  }
  if (more) {
    buf[pos++] = 0x18; // more = 3
    buf[pos++] = 0x01;
  }
  if (pos !== total) throw new Error(`revision page: wrote ${pos} bytes, sized ${total}`);
  return buf;
}
