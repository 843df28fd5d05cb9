/**
 * A small, strict BER/DER reader: enough of X.690 to walk a PKCS#7
 * SignedData as AWS and Azure emit it (definite and indefinite lengths, constructed
 * OCTET STRINGs). Every read is bounds-checked; malformed input throws
 * {@link BerError} and never reads past the buffer.
 */

export class BerError extends Error {
  override readonly name = 'BerError';
}

/** One decoded element. `raw` is its whole encoding; `content` its value octets. */
export interface BerNode {
  /** Class and number folded into the first identifier octet (low-tag-number form only). */
  readonly tag: number;
  readonly constructed: boolean;
  readonly raw: Buffer;
  readonly content: Buffer;
  /** Children when constructed. */
  readonly children: readonly BerNode[];
  readonly indefinite: boolean;
}

export const TAG = {
  INTEGER: 0x02,
  OCTET_STRING: 0x04,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
  CTX0: 0xa0,
  CTX1: 0xa1,
  CTX0_PRIMITIVE: 0x80,
} as const;

const MAX_DEPTH = 32;

function readNode(buf: Buffer, start: number, end: number, depth: number): BerNode {
  if (depth > MAX_DEPTH) throw new BerError('nesting too deep');
  let pos = start;
  if (pos >= end) throw new BerError('truncated element');
  const id = buf[pos++]!;
  if ((id & 0x1f) === 0x1f) throw new BerError('high-tag-number form is not supported');
  const constructed = (id & 0x20) !== 0;
  if (pos >= end) throw new BerError('truncated length');
  const first = buf[pos++]!;
  if (first === 0x80) {
    if (!constructed) throw new BerError('indefinite length on a primitive element');
    const children: BerNode[] = [];
    for (;;) {
      if (pos + 2 > end) throw new BerError('missing end-of-contents');
      if (buf[pos] === 0 && buf[pos + 1] === 0) {
        const contentEnd = pos;
        pos += 2;
        return {
          tag: id,
          constructed,
          raw: buf.subarray(start, pos),
          content: buf.subarray(start + 2, contentEnd),
          children,
          indefinite: true,
        };
      }
      const child = readNode(buf, pos, end, depth + 1);
      children.push(child);
      pos += child.raw.length;
    }
  }
  let len: number;
  if (first < 0x80) {
    len = first;
  } else {
    const n = first & 0x7f;
    if (n > 4) throw new BerError('length too large');
    if (pos + n > end) throw new BerError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos++]!;
  }
  if (pos + len > end) throw new BerError(`element of ${len} bytes overruns its container`);
  const content = buf.subarray(pos, pos + len);
  const children: BerNode[] = [];
  if (constructed) {
    let p = pos;
    while (p < pos + len) {
      const child = readNode(buf, p, pos + len, depth + 1);
      children.push(child);
      p += child.raw.length;
    }
  }
  return { tag: id, constructed, raw: buf.subarray(start, pos + len), content, children, indefinite: false };
}

/** Decodes exactly one element filling `buf`. */
export function decodeBer(buf: Buffer): BerNode {
  const node = readNode(buf, 0, buf.length, 0);
  if (node.raw.length !== buf.length) throw new BerError(`${buf.length - node.raw.length} trailing bytes`);
  return node;
}

/** The node, checked to have tag `tag`. */
export function expectTag(node: BerNode | undefined, tag: number, what: string): BerNode {
  if (!node) throw new BerError(`missing ${what}`);
  if (node.tag !== tag) throw new BerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

/** An OBJECT IDENTIFIER's dotted form. */
export function oidOf(node: BerNode | undefined, what: string): string {
  const n = expectTag(node, TAG.OID, what);
  const b = n.content;
  if (b.length === 0) throw new BerError(`${what}: empty OID`);
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new BerError(`${what}: OID arc too large`);
    if ((b[i]! & 0x80) === 0) {
      if (arcs.length === 0) {
        const a = v < 40 ? 0 : v < 80 ? 1 : 2;
        arcs.push(a, v - a * 40);
      } else {
        arcs.push(v);
      }
      v = 0;
    } else if (i === b.length - 1) {
      throw new BerError(`${what}: truncated OID`);
    }
  }
  return arcs.join('.');
}

/** An OCTET STRING's bytes (concatenating the segments of a constructed one). */
export function octetsOf(node: BerNode | undefined, what: string): Buffer {
  if (!node) throw new BerError(`missing ${what}`);
  if (node.tag === TAG.OCTET_STRING) return node.content;
  if (node.tag === (TAG.OCTET_STRING | 0x20)) return Buffer.concat(node.children.map((c) => octetsOf(c, what)));
  throw new BerError(`${what}: expected an OCTET STRING, got tag 0x${node.tag.toString(16)}`);
}

/** DER length octets. */
export function derLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A definite-length encoding of `tag` around `content`. */
export function encodeTLV(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

/** The node's content octets with definite length (children concatenated for indefinite ones). */
export function definiteContent(node: BerNode): Buffer {
  return node.indefinite ? Buffer.concat(node.children.map((c) => c.raw)) : node.content;
}
