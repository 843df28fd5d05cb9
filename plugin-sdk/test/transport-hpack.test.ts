import { describe, expect, it } from 'vitest';
import { HPACK_POST_HTTP, HpackDecoder, HpackError, encodeLiteral, huffmanDecode } from '../src/transport/hpack.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('HPACK decoder', () => {
  it('decodes RFC 7541 C.4 (requests with Huffman strings, dynamic table across blocks)', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    expect(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    expect(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
  });

  it('decodes RFC 7541 C.3 (the same without Huffman)', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    expect(d.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865'))).toContainEqual(['cache-control', 'no-cache']);
  });

  it('evicts from the dynamic table by size and honours size updates', () => {
    const d = new HpackDecoder(64);
    // Literal with indexing, new name: "a" = "b" (size 34), twice with different values; 64 octets hold one.
    const lit = (v: string): Buffer => Buffer.concat([Buffer.from([0x40, 1, 0x61, 1]), Buffer.from(v)]);
    d.decode(lit('b'));
    d.decode(lit('c'));
    expect(d.decode(Buffer.from([0xbe]))).toEqual([['a', 'c']]);
    expect(() => d.decode(Buffer.from([0xbf]))).toThrow(HpackError);
    // Size update to 0 empties the table.
    expect(() => d.decode(Buffer.from([0x20, 0xbe]))).toThrow(/out of the table/);
    // An update above our SETTINGS value, or after a field, is refused.
    expect(() => d.decode(Buffer.from([0x3f, 0x22]))).toThrow(/exceeds/);
    expect(() => d.decode(Buffer.from([0x82, 0x20]))).toThrow(/after a header field/);
  });

  it('refuses truncated input, index 0, bad Huffman padding and oversized lists', () => {
    const d = new HpackDecoder();
    expect(() => d.decode(Buffer.from([0x80]))).toThrow(/index 0/);
    expect(() => d.decode(Buffer.from([0x04, 0x05, 0x61]))).toThrow(/truncated/);
    expect(() => d.decode(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]))).toThrow(/overflow/);
    // "0" is Huffman 00000 (5 bits); padding with zeros is invalid, with ones valid.
    expect(huffmanDecode(Buffer.from([0x07]), 0, 1)).toBe('0');
    expect(() => huffmanDecode(Buffer.from([0x00]), 0, 1)).toThrow(/padding/);
    // More than 7 bits of padding.
    expect(() => huffmanDecode(Buffer.from([0x07, 0xff]), 0, 2)).toThrow(/padding/);
    const small = new HpackDecoder(4096, 100);
    expect(() => small.decode(Buffer.concat([encodeLiteral('x-a', 'v'.repeat(40)), encodeLiteral('x-b', 'v'.repeat(40))]))).toThrow(/larger than 100/);
  });

  it('reads back what the literal encoder writes (static names by index, long values)', () => {
    const d = new HpackDecoder();
    const long = 'z'.repeat(300);
    const block = Buffer.concat([HPACK_POST_HTTP, encodeLiteral(':path', '/a.B/C'), encodeLiteral('content-type', 'application/grpc'), encodeLiteral('x-long', long)]);
    expect(d.decode(block)).toEqual([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/a.B/C'],
      ['content-type', 'application/grpc'],
      ['x-long', long],
    ]);
    expect(() => encodeLiteral('x', '☃')).toThrow(HpackError);
  });
});
