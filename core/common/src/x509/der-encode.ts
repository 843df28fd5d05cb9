/**
 * A small DER encoder: every function returns the complete DER encoding (tag,
 * length, contents) of one value, so encodings compose by nesting calls.
 */
import { X509Error } from './errors.js';

/** Universal tags (identifier octets) used by X.509. */
export const TAG = Object.freeze({
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  NUMERIC_STRING: 0x12,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
});

const CONTEXT = 0x80;
const CONSTRUCTED = 0x20;
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const textEncoder = new TextEncoder();

function fail(message: string): never {
  throw new X509Error('ERR_X509_TEMPLATE', message);
}

function concat(parts: readonly Uint8Array[], total: number, into: Uint8Array, at: number): void {
  let off = at;
  for (const p of parts) {
    into.set(p, off);
    off += p.length;
  }
  if (off !== at + total) throw new Error('internal: length mismatch');
}

/** Encodes one TLV whose contents are the concatenation of `parts`. `tag` is a single identifier octet. */
function tlvOf(tag: number, parts: readonly Uint8Array[]): Uint8Array {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) {
    throw new TypeError(`invalid DER tag ${tag}`);
  }
  let len = 0;
  for (const p of parts) len += p.length;
  let header: number;
  if (len < 0x80) header = 2;
  else if (len <= 0xff) header = 3;
  else if (len <= 0xffff) header = 4;
  else if (len <= 0xffffff) header = 5;
  else header = 6;
  const out = new Uint8Array(header + len);
  out[0] = tag;
  if (header === 2) {
    out[1] = len;
  } else {
    out[1] = 0x80 | (header - 2);
    for (let i = header - 1, v = len; i >= 2; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  }
  concat(parts, len, out, header);
  return out;
}

function bigintBytes(value: bigint): Uint8Array {
  let n = 1;
  if (value >= 0n) {
    while (value >= 1n << BigInt(8 * n - 1)) n++;
  } else {
    while (value < -(1n << BigInt(8 * n - 1))) n++;
  }
  let v = value < 0n ? (1n << BigInt(8 * n)) + value : value;
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

const oidCache = new Map<string, Uint8Array>();

function oidContents(oid: string): Uint8Array {
  const cached = oidCache.get(oid);
  if (cached) return cached;
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(oid)) fail(`invalid OID "${oid}"`);
  const arcs = oid.split('.').map(Number);
  const [a, b] = arcs as [number, number];
  if (a < 2 && b >= 40) fail(`invalid OID "${oid}": second arc must be < 40 under ${a}`);
  const out: number[] = [];
  for (const arc of [a * 40 + b, ...arcs.slice(2)]) {
    if (!Number.isSafeInteger(arc)) fail(`OID arc too large in "${oid}"`);
    const chunk: number[] = [arc % 128];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v % 128) | 0x80);
    out.push(...chunk);
  }
  const bytes = Uint8Array.from(out);
  if (oidCache.size < 1024) oidCache.set(oid, bytes);
  return bytes;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function timeString(date: Date, fourDigitYear: boolean): string {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) fail('invalid date');
  const y = date.getUTCFullYear();
  if (y < 0 || y > 9999) fail(`year ${y} cannot be encoded`);
  const year = fourDigitYear ? String(y).padStart(4, '0') : pad2(y % 100);
  return `${year}${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}${pad2(date.getUTCHours())}${pad2(
    date.getUTCMinutes(),
  )}${pad2(date.getUTCSeconds())}Z`;
}

function compareBytes(x: Uint8Array, y: Uint8Array): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return x.length - y.length;
}

function latin(s: string, tag: number, what: string, ok: (c: number) => boolean): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!ok(c)) fail(`${what} cannot contain ${JSON.stringify(s[i])}`);
    out[i] = c;
  }
  return tlvOf(tag, [out]);
}

/**
 * DER encoders. Each returns the full encoding of one value.
 *
 * @example
 * ```ts
 * const spki = DER.sequence(DER.sequence(DER.oid('1.2.840.10045.2.1'), DER.oid('1.2.840.10045.3.1.7')), DER.bitString(point));
 * ```
 */
export const DER = Object.freeze({
  /** Any TLV: `tag` is the identifier octet, contents are the concatenated parts. */
  tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
    return tlvOf(tag, parts);
  },
  /** SEQUENCE of already encoded elements, in order. */
  sequence(...elements: Uint8Array[]): Uint8Array {
    return tlvOf(TAG.SEQUENCE, elements);
  },
  /** SET OF: elements are sorted by their encodings, as DER requires. */
  set(...elements: Uint8Array[]): Uint8Array {
    return tlvOf(TAG.SET, [...elements].sort(compareBytes));
  },
  /** INTEGER in minimal two's complement. */
  integer(value: bigint | number): Uint8Array {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new TypeError(`not an integer: ${value}`);
    return tlvOf(TAG.INTEGER, [bigintBytes(BigInt(value))]);
  },
  /** BOOLEAN (TRUE is 0xFF). */
  boolean(value: boolean): Uint8Array {
    return tlvOf(TAG.BOOLEAN, [Uint8Array.of(value ? 0xff : 0)]);
  },
  /** NULL. */
  null(): Uint8Array {
    return Uint8Array.of(TAG.NULL, 0);
  },
  /** OBJECT IDENTIFIER from dotted decimal. */
  oid(oid: string): Uint8Array {
    return tlvOf(TAG.OID, [oidContents(oid)]);
  },
  /** BIT STRING; `unusedBits` (0-7) low bits of the last byte must be zero. */
  bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
    if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) {
      throw new TypeError(`invalid unused bit count ${unusedBits}`);
    }
    if (unusedBits > 0 && ((bytes[bytes.length - 1] as number) & ((1 << unusedBits) - 1)) !== 0) {
      throw new TypeError('unused bits of a DER BIT STRING must be zero');
    }
    return tlvOf(TAG.BIT_STRING, [Uint8Array.of(unusedBits), bytes]);
  },
  /** OCTET STRING. */
  octetString(bytes: Uint8Array): Uint8Array {
    return tlvOf(TAG.OCTET_STRING, [bytes]);
  },
  /** UTF8String. */
  utf8String(s: string): Uint8Array {
    return tlvOf(TAG.UTF8_STRING, [textEncoder.encode(s)]);
  },
  /** PrintableString; throws `ERR_X509_TEMPLATE` for characters outside its set. */
  printableString(s: string): Uint8Array {
    if (!PRINTABLE.test(s)) fail(`PrintableString cannot hold ${JSON.stringify(s)}`);
    return latin(s, TAG.PRINTABLE_STRING, 'PrintableString', () => true);
  },
  /** IA5String (ASCII); throws `ERR_X509_TEMPLATE` for non-ASCII characters. */
  ia5String(s: string): Uint8Array {
    return latin(s, TAG.IA5_STRING, 'IA5String', (c) => c < 0x80);
  },
  /** True when `s` fits a PrintableString. */
  isPrintable(s: string): boolean {
    return PRINTABLE.test(s);
  },
  /** UTCTime `YYMMDDHHMMSSZ` (years 1950-2049), sub-seconds truncated. */
  utcTime(date: Date): Uint8Array {
    const y = date.getUTCFullYear();
    if (!(y >= 1950 && y <= 2049)) fail(`UTCTime cannot hold year ${y}`);
    return latin(timeString(date, false), TAG.UTC_TIME, 'UTCTime', () => true);
  },
  /** GeneralizedTime `YYYYMMDDHHMMSSZ`, sub-seconds truncated. */
  generalizedTime(date: Date): Uint8Array {
    return latin(timeString(date, true), TAG.GENERALIZED_TIME, 'GeneralizedTime', () => true);
  },
  /** RFC 5280 `Time`: UTCTime through 2049, GeneralizedTime from 2050 (and before 1950). */
  time(date: Date): Uint8Array {
    const y = date.getUTCFullYear();
    return y >= 1950 && y <= 2049 ? DER.utcTime(date) : DER.generalizedTime(date);
  },
  /** `[n] EXPLICIT`: a constructed context-specific TLV wrapping the given encodings. */
  explicit(n: number, ...inner: Uint8Array[]): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || n > 30) throw new TypeError(`invalid context tag ${n}`);
    return tlvOf(CONTEXT | CONSTRUCTED | n, inner);
  },
  /** `[n] IMPLICIT`: the given encoding re-tagged context-specific `n` (constructed bit kept). */
  implicit(n: number, encoded: Uint8Array): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || n > 30) throw new TypeError(`invalid context tag ${n}`);
    if (encoded.length < 2) throw new TypeError('not a DER encoding');
    const out = Uint8Array.from(encoded);
    out[0] = CONTEXT | ((encoded[0] as number) & CONSTRUCTED) | n;
    return out;
  },
});
