/**
 * HPACK (RFC 7541) for the lean HTTP/2 gRPC transport: a full decoder
 * (static and dynamic tables, Huffman strings, table size updates) and the
 * literal forms an encoder needs to send requests without touching the
 * peer's dynamic table (so the encoder keeps no state).
 */

export class HpackError extends Error {}

/** The static table (RFC 7541 Appendix A), 1-based in the spec, 0-based here. */
const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/**
 * Huffman code lengths of symbols 0..255 (RFC 7541 Appendix B), one character
 * each (code length + 48); EOS (256) is 30 bits. The code is canonical, so the
 * codes follow from the lengths.
 */
const HUFFMAN_LENGTHS =
  '=GLLLLLLLHNLLNLLLLLLLLNLLLLLLLLL6::<=68;::8;8666555666666678?6<:=67777777777777777777777878=C=>6?56565666577666567655677777?;>=LDFDDFFFGFGGGGGHGHHFGHGGGGEFGFGGHFEDFFGGEGFFHEFGGEEFEGFGGDFFFGFFGJJDCFGFIJJJKKJHICEJKKJKHEEJJLKKKDHDEFEEGFFIIHHJGJKJJKKKKKLKKKKKJ';
const EOS = 256;

/** Decoding tree: node n has children tree[2n] (bit 0) and tree[2n+1] (bit 1); leaves are -(symbol + 1). */
const TREE = ((): Int32Array => {
  const lengths = [...HUFFMAN_LENGTHS].map((c) => c.charCodeAt(0) - 48);
  lengths.push(30);
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const tree = new Int32Array(2 * 2 * 257).fill(0);
  let nodes = 1;
  let code = 0;
  let prev = lengths[order[0]!]!;
  order.forEach((sym, k) => {
    const len = lengths[sym]!;
    if (k > 0) code = (code + 1) * 2 ** (len - prev);
    prev = len;
    let node = 0;
    for (let bit = len - 1; bit >= 0; bit--) {
      const b = Math.floor(code / 2 ** bit) & 1;
      const slot = 2 * node + b;
      if (bit === 0) tree[slot] = -(sym + 1);
      else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot]!;
      }
    }
  });
  return tree;
})();

/** Decodes a Huffman-coded string (as latin1: one char per octet). */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  let out = '';
  let node = 0;
  let depth = 0; // bits since the last symbol
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      const next = TREE[2 * node + b]!;
      depth++;
      if (b === 0) allOnes = false;
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) throw new HpackError('Huffman string contains EOS');
        out += String.fromCharCode(sym);
        node = 0;
        depth = 0;
        allOnes = true;
      } else {
        node = next;
      }
    }
  }
  if (depth > 7 || !allOnes) throw new HpackError('invalid Huffman padding');
  return out;
}

/** One decoded header field; names and values are latin1 strings (octets). */
export type HeaderField = readonly [name: string, value: string];

/**
 * A connection's HPACK decoder: keep one per connection and feed it every
 * header block in order (also those of streams you no longer care about).
 */
export class HpackDecoder {
  private dynamic: HeaderField[] = [];
  private size = 0;
  private maxSize: number;

  /**
   * @param settingsMaxSize our SETTINGS_HEADER_TABLE_SIZE (the most the peer may ask for).
   * @param maxListSize cap on a decoded header list (RFC 7540 header list size: octets + 32 per field).
   */
  constructor(
    private readonly settingsMaxSize = 4096,
    private readonly maxListSize = 1 << 20,
  ) {
    this.maxSize = settingsMaxSize;
  }

  private integer(buf: Uint8Array, pos: { i: number }, prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    if (pos.i >= buf.length) throw new HpackError('truncated integer');
    let v = buf[pos.i++]! & max;
    if (v < max) return v;
    let shift = 0;
    for (;;) {
      if (pos.i >= buf.length) throw new HpackError('truncated integer');
      const b = buf[pos.i++]!;
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (v > 0x7fffffff) throw new HpackError('integer overflow');
      if ((b & 0x80) === 0) return v;
    }
  }

  private string(buf: Uint8Array, pos: { i: number }): string {
    if (pos.i >= buf.length) throw new HpackError('truncated string');
    const huffman = (buf[pos.i]! & 0x80) !== 0;
    const len = this.integer(buf, pos, 7);
    const end = pos.i + len;
    if (end > buf.length) throw new HpackError('truncated string');
    const s = huffman ? huffmanDecode(buf, pos.i, end) : Buffer.from(buf.buffer, buf.byteOffset + pos.i, len).toString('latin1');
    pos.i = end;
    return s;
  }

  private entry(index: number): HeaderField {
    if (index === 0) throw new HpackError('header index 0');
    if (index <= STATIC.length) return STATIC[index - 1]!;
    const e = this.dynamic[index - STATIC.length - 1];
    if (!e) throw new HpackError(`header index ${index} is out of the table`);
    return e;
  }

  private evict(): void {
    while (this.size > this.maxSize) {
      const e = this.dynamic.pop()!;
      this.size -= e[0].length + e[1].length + 32;
    }
  }

  private add(field: HeaderField): void {
    this.dynamic.unshift(field);
    this.size += field[0].length + field[1].length + 32;
    this.evict();
  }

  /** Decodes one complete header block. */
  decode(block: Uint8Array): HeaderField[] {
    const out: HeaderField[] = [];
    const pos = { i: 0 };
    let listSize = 0;
    let fieldsSeen = false;
    while (pos.i < block.length) {
      const b = block[pos.i]!;
      let field: HeaderField;
      if (b & 0x80) {
        field = this.entry(this.integer(block, pos, 7));
      } else if (b & 0x40) {
        const idx = this.integer(block, pos, 6);
        const name = idx === 0 ? this.string(block, pos) : this.entry(idx)[0];
        field = [name, this.string(block, pos)];
        this.add(field);
      } else if (b & 0x20) {
        if (fieldsSeen) throw new HpackError('dynamic table size update after a header field');
        const size = this.integer(block, pos, 5);
        if (size > this.settingsMaxSize) throw new HpackError(`dynamic table size ${size} exceeds ${this.settingsMaxSize}`);
        this.maxSize = size;
        this.evict();
        continue;
      } else {
        const idx = this.integer(block, pos, 4);
        const name = idx === 0 ? this.string(block, pos) : this.entry(idx)[0];
        field = [name, this.string(block, pos)];
      }
      fieldsSeen = true;
      listSize += field[0].length + field[1].length + 32;
      if (listSize > this.maxListSize) throw new HpackError(`header list larger than ${this.maxListSize} octets`);
      out.push(field);
    }
    return out;
  }
}

function pushInteger(out: number[], value: number, prefixBits: number, firstByte: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(firstByte | value);
    return;
  }
  out.push(firstByte | max);
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function pushString(out: number[], s: string): void {
  pushInteger(out, s.length, 7, 0);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new HpackError('header text must be latin1');
    out.push(c);
  }
}

/** `:method: POST` then `:scheme: http` (static table entries 3 and 6). */
export const HPACK_POST_HTTP = Uint8Array.of(0x83, 0x86);

/**
 * A header field as "literal without indexing": the peer's dynamic table is
 * untouched, so encoding needs no state. A name in the static table is
 * referenced by index.
 */
export function encodeLiteral(name: string, value: string): Uint8Array {
  const out: number[] = [];
  const idx = STATIC.findIndex((e) => e[0] === name);
  if (idx >= 0) pushInteger(out, idx + 1, 4, 0x00);
  else {
    out.push(0x00);
    pushString(out, name);
  }
  pushString(out, value);
  return Uint8Array.from(out);
}
