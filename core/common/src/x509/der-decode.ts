/**
 * A strict DER decoder for hostile input. Elements are decoded lazily, one
 * level at a time, so schema walkers never recurse deeper than their schema;
 * {@link DerElement.children} also refuses nesting deeper than
 * {@link MAX_DER_DEPTH}. Rejected: indefinite and non-minimal lengths, lengths
 * past the end of the input, trailing bytes, high-tag-number form, non-minimal
 * INTEGERs and OID arcs, BOOLEANs other than 00/FF, non-zero unused bits.
 */
import { X509Error } from './errors.js';
import { TAG } from './der-encode.js';

/** Deepest nesting {@link DerElement.children} and {@link decodeDerTree} accept. */
export const MAX_DER_DEPTH = 32;

/** Most elements one constructed element may hold (bounds the memory a small input can claim). */
export const MAX_DER_CHILDREN = 10_000;

/** Longest INTEGER accepted, in bytes (an RSA-16384 modulus fits). */
const MAX_INTEGER_BYTES = 2100;

const TAG_NAMES: Record<number, string> = {
  0x01: 'BOOLEAN', 0x02: 'INTEGER', 0x03: 'BIT STRING', 0x04: 'OCTET STRING', 0x05: 'NULL', 0x06: 'OBJECT IDENTIFIER',
  0x0c: 'UTF8String', 0x12: 'NumericString', 0x13: 'PrintableString', 0x14: 'T61String', 0x16: 'IA5String',
  0x17: 'UTCTime', 0x18: 'GeneralizedTime', 0x1a: 'VisibleString', 0x1e: 'BMPString', 0x30: 'SEQUENCE', 0x31: 'SET',
};

/** Human name of an identifier octet: `SEQUENCE`, `[0]`, `[APPLICATION 3]`, `tag 0x..`. */
export function tagName(tag: number): string {
  const known = TAG_NAMES[tag];
  if (known) return known;
  const n = tag & 0x1f;
  switch (tag & 0xc0) {
    case 0x80: return `[${n}]`;
    case 0x40: return `[APPLICATION ${n}]`;
    case 0xc0: return `[PRIVATE ${n}]`;
    default: return `tag 0x${tag.toString(16).padStart(2, '0')}`;
  }
}

function derError(offset: number, message: string): never {
  throw new X509Error('ERR_DER', `DER: at offset ${offset}: ${message}`, { offset });
}

const PRINTABLE_BYTES = new Set(Array.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?*&", (ch) => ch.charCodeAt(0)));

// '*' and '&' are not PrintableString characters but appear in real certificates (Go accepts them too).
const STRING_CHECKS: Record<number, (b: number) => boolean> = {
  [TAG.PRINTABLE_STRING]: (b) => PRINTABLE_BYTES.has(b),
  [TAG.IA5_STRING]: (b) => b < 0x80,
  [TAG.NUMERIC_STRING]: (b) => b === 0x20 || (b >= 0x30 && b <= 0x39),
  [TAG.VISIBLE_STRING]: (b) => b >= 0x20 && b < 0x7f,
  [TAG.T61_STRING]: () => true,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf16be = new TextDecoder('utf-16be', { fatal: true });

/** One decoded TLV. Views share memory with the input: do not mutate. */
export class DerElement {
  /** Identifier octet (class, constructed bit and tag number). */
  readonly tag: number;
  /** The whole TLV. */
  readonly bytes: Uint8Array;
  /** The contents octets. */
  readonly contents: Uint8Array;
  /** Offset of the identifier octet in the outermost input. */
  readonly offset: number;
  /** Nesting depth (0 for the outermost element). */
  readonly depth: number;

  /** @internal */
  constructor(tag: number, bytes: Uint8Array, contents: Uint8Array, offset: number, depth: number) {
    this.tag = tag;
    this.bytes = bytes;
    this.contents = contents;
    this.offset = offset;
    this.depth = depth;
  }

  /** True for constructed encodings (SEQUENCE, SET, explicit tags). */
  get constructed(): boolean {
    return (this.tag & 0x20) !== 0;
  }

  /** Offset of the contents octets in the outermost input. */
  get contentsOffset(): number {
    return this.offset + this.bytes.length - this.contents.length;
  }

  /** Throws `ERR_X509_PARSE` naming `what` unless this element has identifier octet `tag`. */
  expect(tag: number, what: string): this {
    if (this.tag !== tag) {
      throw new X509Error('ERR_X509_PARSE', `${what}: expected ${tagName(tag)} at offset ${this.offset}, found ${tagName(this.tag)}`, {
        offset: this.offset,
      });
    }
    return this;
  }

  /** The elements inside a constructed element. */
  children(): DerElement[] {
    if (!this.constructed) derError(this.offset, `${tagName(this.tag)} is primitive, expected a constructed encoding`);
    if (this.depth + 1 > MAX_DER_DEPTH) derError(this.offset, `nesting deeper than ${MAX_DER_DEPTH} levels`);
    const out: DerElement[] = [];
    const base = this.contentsOffset;
    let pos = 0;
    while (pos < this.contents.length) {
      if (out.length === MAX_DER_CHILDREN) derError(base + pos, `more than ${MAX_DER_CHILDREN} elements in one ${tagName(this.tag)}`);
      const el = readElement(this.contents, pos, base, this.depth + 1);
      out.push(el);
      pos += el.bytes.length;
    }
    return out;
  }

  private primitive(tag: number | undefined): Uint8Array {
    if (tag !== undefined && this.tag !== tag) derError(this.offset, `expected ${tagName(tag)}, found ${tagName(this.tag)}`);
    if (this.constructed) derError(this.offset, `${tagName(this.tag)} must use the primitive encoding`);
    return this.contents;
  }

  /** INTEGER as a bigint (minimal two's complement required). */
  integer(): bigint {
    const c = this.primitive(TAG.INTEGER);
    if (c.length === 0) derError(this.offset, 'empty INTEGER');
    if (c.length > MAX_INTEGER_BYTES) derError(this.offset, `INTEGER longer than ${MAX_INTEGER_BYTES} bytes`);
    if (c.length > 1 && ((c[0] === 0 && (c[1] as number) < 0x80) || (c[0] === 0xff && (c[1] as number) >= 0x80))) {
      derError(this.offset, 'INTEGER is not minimally encoded');
    }
    const v = BigInt(`0x${Buffer.from(c.buffer, c.byteOffset, c.length).toString('hex')}`);
    return (c[0] as number) >= 0x80 ? v - (1n << BigInt(8 * c.length)) : v;
  }

  /** INTEGER that must fit in [min, max] (defaults: 0 .. 2^31-1). */
  smallInteger(what: string, min = 0, max = 0x7fffffff): number {
    if (this.contents.length > 8) derError(this.offset, `${what} is out of range`);
    const v = this.integer();
    if (v < BigInt(min) || v > BigInt(max)) derError(this.offset, `${what} ${v} is out of range ${min}..${max}`);
    return Number(v);
  }

  /** BOOLEAN (contents must be 00 or FF). */
  boolean(): boolean {
    const c = this.primitive(TAG.BOOLEAN);
    if (c.length !== 1 || (c[0] !== 0 && c[0] !== 0xff)) derError(this.offset, 'BOOLEAN must be one byte, 00 or FF');
    return c[0] === 0xff;
  }

  /** NULL (no contents). */
  null(): null {
    if (this.primitive(TAG.NULL).length !== 0) derError(this.offset, 'NULL has contents');
    return null;
  }

  /** OBJECT IDENTIFIER as dotted decimal. */
  oid(): string {
    const c = this.primitive(TAG.OID);
    if (c.length === 0) derError(this.offset, 'empty OBJECT IDENTIFIER');
    if (c.length > 128) derError(this.offset, 'OBJECT IDENTIFIER longer than 128 bytes');
    const arcs: number[] = [];
    let v = 0;
    let start = true;
    for (let i = 0; i < c.length; i++) {
      const b = c[i] as number;
      if (start && b === 0x80) derError(this.offset, 'OBJECT IDENTIFIER arc is not minimally encoded');
      v = v * 128 + (b & 0x7f);
      if (v > Number.MAX_SAFE_INTEGER) derError(this.offset, 'OBJECT IDENTIFIER arc too large');
      start = (b & 0x80) === 0;
      if (start) {
        arcs.push(v);
        v = 0;
      }
    }
    if (!start) derError(this.offset, 'OBJECT IDENTIFIER ends inside an arc');
    const first = arcs[0] as number;
    const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
    return [...head, ...arcs.slice(1)].join('.');
  }

  /** BIT STRING: the bytes and the count of unused (zero) low bits in the last byte. */
  bitString(tag: number = TAG.BIT_STRING): { bytes: Uint8Array; unusedBits: number } {
    const c = this.primitive(tag);
    if (c.length === 0) derError(this.offset, 'BIT STRING has no unused-bits octet');
    const unusedBits = c[0] as number;
    if (unusedBits > 7 || (c.length === 1 && unusedBits !== 0)) derError(this.offset, `invalid BIT STRING unused-bits count ${unusedBits}`);
    if (unusedBits > 0 && ((c[c.length - 1] as number) & ((1 << unusedBits) - 1)) !== 0) {
      derError(this.offset, 'BIT STRING unused bits are not zero');
    }
    return { bytes: c.subarray(1), unusedBits };
  }

  /** OCTET STRING contents (or the contents of any primitive element re-tagged IMPLICIT as `tag`). */
  octetString(tag: number = TAG.OCTET_STRING): Uint8Array {
    return this.primitive(tag);
  }

  /** Any X.509 string type, decoded (UTF8, Printable, IA5, Numeric, Visible, T61 as Latin-1, BMP). */
  string(): string {
    const tag = this.tag;
    if (tag === TAG.UTF8_STRING) {
      try {
        return utf8.decode(this.primitive(tag));
      } catch {
        return derError(this.offset, 'UTF8String is not valid UTF-8');
      }
    }
    if (tag === TAG.BMP_STRING) {
      const c = this.primitive(tag);
      if (c.length % 2 !== 0) derError(this.offset, 'BMPString has an odd length');
      try {
        return utf16be.decode(c);
      } catch {
        return derError(this.offset, 'BMPString is not valid UTF-16');
      }
    }
    const check = STRING_CHECKS[tag];
    if (!check) derError(this.offset, `expected a string, found ${tagName(tag)}`);
    return this.latin(tag, check);
  }

  /** IA5String contents of this element whatever its tag (for IMPLICIT tags such as SAN dNSName). */
  ia5String(tag: number = TAG.IA5_STRING): string {
    return this.latin(tag, (b) => b < 0x80);
  }

  private latin(tag: number, check: (b: number) => boolean): string {
    const c = this.primitive(tag);
    for (let i = 0; i < c.length; i++) {
      if (!check(c[i] as number)) derError(this.offset + i, `invalid character 0x${(c[i] as number).toString(16)} in ${tagName(tag)}`);
    }
    return Buffer.from(c.buffer, c.byteOffset, c.length).toString('latin1');
  }

  /** UTCTime (`YYMMDDHHMMSSZ`, 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as RFC 5280 requires. */
  time(): Date {
    const tag = this.tag;
    if (tag !== TAG.UTC_TIME && tag !== TAG.GENERALIZED_TIME) derError(this.offset, `expected a time, found ${tagName(tag)}`);
    const s = this.latin(tag, (b) => b < 0x80);
    const utc = tag === TAG.UTC_TIME;
    const m = (utc ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/ : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/).exec(s);
    if (!m) derError(this.offset, `${tagName(tag)} "${s}" is not ${utc ? 'YYMMDDHHMMSSZ' : 'YYYYMMDDHHMMSSZ'}`);
    const [y, mo, d, h, mi, sec] = m.slice(1).map(Number) as [number, number, number, number, number, number];
    const year = utc ? (y < 50 ? 2000 + y : 1900 + y) : y;
    const date = new Date(Date.UTC(year, mo - 1, d, h, mi, sec));
    date.setUTCFullYear(year); // Date.UTC maps years 0-99 to 1900-1999
    if (mo < 1 || mo > 12 || date.getUTCDate() !== d || date.getUTCMonth() !== mo - 1 || h > 23 || mi > 59 || sec > 59) {
      derError(this.offset, `${tagName(tag)} "${s}" is not a valid date`);
    }
    return date;
  }
}

function readElement(buf: Uint8Array, pos: number, base: number, depth: number): DerElement {
  const start = pos;
  const at = base + pos;
  if (pos >= buf.length) derError(at, 'truncated: missing tag');
  const tag = buf[pos++] as number;
  if ((tag & 0x1f) === 0x1f) derError(at, 'high-tag-number form is not supported');
  if (pos >= buf.length) derError(at, `truncated: ${tagName(tag)} has no length`);
  const first = buf[pos++] as number;
  let len: number;
  if (first < 0x80) {
    len = first;
  } else if (first === 0x80) {
    return derError(at + 1, 'indefinite length is not allowed in DER');
  } else {
    const n = first & 0x7f;
    if (n > 4) derError(at + 1, `length of ${n} octets is too large`);
    if (pos + n > buf.length) derError(at + 1, 'truncated: length octets run past the end');
    if (buf[pos] === 0) derError(at + 1, 'length is not minimally encoded (leading zero)');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[pos++] as number);
    if (len < 0x80) derError(at + 1, `length ${len} must use the short form`);
  }
  if (len > buf.length - pos) {
    derError(at, `truncated: ${tagName(tag)} claims ${len} bytes but only ${buf.length - pos} remain`);
  }
  const end = pos + len;
  return new DerElement(tag, buf.subarray(start, end), buf.subarray(pos, end), at, depth);
}

/**
 * Decodes exactly one DER element filling `bytes` (trailing bytes are an
 * error). Children are decoded on demand with {@link DerElement.children}.
 * @throws X509Error `ERR_DER` with the offset of the problem.
 */
export function decodeDer(bytes: Uint8Array): DerElement {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeDer expects a Uint8Array');
  const el = readElement(bytes, 0, 0, 0);
  if (el.bytes.length !== bytes.length) derError(el.bytes.length, `${bytes.length - el.bytes.length} trailing bytes after the ${tagName(el.tag)}`);
  return el;
}

/** A fully decoded DER tree: constructed nodes have `children`, primitive ones `contents`. */
export interface DerNode {
  readonly tag: number;
  readonly offset: number;
  readonly children?: DerNode[];
  readonly contents?: Uint8Array;
}

/**
 * Decodes a whole DER tree without recursion (explicit stack), refusing
 * nesting deeper than {@link MAX_DER_DEPTH}. For debugging and tests; parsers
 * should walk {@link decodeDer} lazily instead.
 */
export function decodeDerTree(bytes: Uint8Array): DerNode {
  const root = decodeDer(bytes);
  const rootNode: DerNode = root.constructed ? { tag: root.tag, offset: root.offset, children: [] } : { tag: root.tag, offset: root.offset, contents: root.contents };
  const stack: Array<[DerElement, DerNode]> = [[root, rootNode]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [el, node] = item;
    if (!node.children) continue;
    for (const child of el.children()) {
      const childNode: DerNode = child.constructed
        ? { tag: child.tag, offset: child.offset, children: [] }
        : { tag: child.tag, offset: child.offset, contents: child.contents };
      node.children.push(childNode);
      stack.push([child, childNode]);
    }
  }
  return rootNode;
}

/** Throws `ERR_X509_PARSE`: well-formed DER that is not the structure expected. */
export function parseFail(message: string, el?: DerElement): never {
  throw new X509Error('ERR_X509_PARSE', el ? `${message} (at offset ${el.offset})` : message, el ? { offset: el.offset } : undefined);
}
