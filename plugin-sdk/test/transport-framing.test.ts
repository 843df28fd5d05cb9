import { describe, expect, it } from 'vitest';
import { FramingError, MessageParser, encodeGrpcMessage, frame, parseGrpcTimeout } from '../src/transport/framing.js';

/** Three messages of different sizes (one empty), framed back to back. */
const MESSAGES = [Buffer.from('hello'), Buffer.alloc(0), Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256))];
const WIRE = Buffer.concat(MESSAGES.map(frame));

function feed(parser: MessageParser, wire: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  let i = 0;
  while (at < wire.length) {
    const n = sizes[i++ % sizes.length]!;
    out.push(...parser.push(wire.subarray(at, at + n)));
    at += n;
  }
  return out;
}

function copies(list: Buffer[]): number[][] {
  return list.map((b) => [...b]);
}

function expectFramingError(fn: () => unknown, kind: FramingError['kind']): FramingError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FramingError);
  expect((caught as FramingError).kind).toBe(kind);
  return caught as FramingError;
}

describe('frame', () => {
  it('writes a zero compressed flag and a big-endian length before the message', () => {
    const f = frame(Buffer.from('abc'));
    expect([...f]).toEqual([0, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
    expect([...frame(Buffer.alloc(0))]).toEqual([0, 0, 0, 0, 0]);
    expect(frame(Buffer.alloc(70_000)).readUInt32BE(1)).toBe(70_000);
  });
});

describe('MessageParser', () => {
  it('parses every message when the stream arrives one byte at a time', () => {
    const parser = new MessageParser(1024);
    const got = feed(parser, WIRE, [1]);
    expect(copies(got)).toEqual(copies(MESSAGES));
    expect(parser.pending).toBe(0);
  });

  it('parses several messages from a single chunk', () => {
    const parser = new MessageParser(1024);
    expect(copies(parser.push(WIRE))).toEqual(copies(MESSAGES));
    expect(parser.pending).toBe(0);
  });

  it('gives the same messages for any split of the stream', () => {
    const splits = [[2], [3, 7], [4, 1, 9], [5], [6, 300], [WIRE.length - 1, 1], [1, WIRE.length]];
    for (const sizes of splits) {
      const parser = new MessageParser(1024);
      expect(copies(feed(parser, WIRE, sizes)), `split ${sizes.join(',')}`).toEqual(copies(MESSAGES));
      expect(parser.pending).toBe(0);
    }
    // Every single cut point.
    for (let cut = 0; cut <= WIRE.length; cut++) {
      const parser = new MessageParser(1024);
      const got = [...parser.push(WIRE.subarray(0, cut)), ...parser.push(WIRE.subarray(cut))];
      expect(copies(got), `cut at ${cut}`).toEqual(copies(MESSAGES));
    }
  });

  it('keeps an unfinished message pending until its last byte arrives', () => {
    const parser = new MessageParser(1024);
    const f = frame(Buffer.from('partial'));
    expect(parser.push(f.subarray(0, 3))).toEqual([]);
    expect(parser.pending).toBe(3);
    expect(parser.push(f.subarray(3, f.length - 1))).toEqual([]);
    expect(parser.pending).toBe(f.length - 1);
    const [m] = parser.push(f.subarray(f.length - 1));
    expect(m?.toString()).toBe('partial');
    expect(parser.pending).toBe(0);
  });

  it('reassembles a large message from small chunks in linear time', () => {
    const body = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
    const wire = Buffer.concat([frame(body), frame(Buffer.from('next'))]);
    const parser = new MessageParser(body.length);
    const start = performance.now();
    const got = feed(parser, wire, [16 * 1024]);
    const ms = performance.now() - start;
    expect(got).toHaveLength(2);
    expect(got[0]!.equals(body)).toBe(true);
    expect(got[1]!.toString()).toBe('next');
    expect(parser.pending).toBe(0);
    // Joining the buffer on every chunk took seconds here (quadratic copying).
    expect(ms).toBeLessThan(1000);
  });

  it('rejects a message with the compressed flag set', () => {
    const f = frame(Buffer.from('zz'));
    f[0] = 1;
    const parser = new MessageParser(1024);
    expectFramingError(() => parser.push(f), 'compressed');
    // Also when the flag arrives split from the rest of the prefix.
    const split = new MessageParser(1024);
    expect(split.push(f.subarray(0, 2))).toEqual([]);
    expectFramingError(() => split.push(f.subarray(2)), 'compressed');
    // And after a good message in the same chunk.
    expectFramingError(() => new MessageParser(1024).push(Buffer.concat([frame(Buffer.from('ok')), f])), 'compressed');
  });

  it('rejects a message larger than the limit from its length prefix alone', () => {
    const parser = new MessageParser(10);
    expect(copies(parser.push(frame(Buffer.alloc(10, 7))))).toEqual([[7, 7, 7, 7, 7, 7, 7, 7, 7, 7]]);
    const big = frame(Buffer.alloc(11));
    const err = expectFramingError(() => parser.push(big.subarray(0, 5)), 'too-large');
    expect(err.message).toContain('11');
    expect(err.message).toContain('10');
    // A huge declared length is refused before any body is buffered.
    const header = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]);
    expectFramingError(() => new MessageParser(1 << 20).push(header), 'too-large');
  });
});

describe('encodeGrpcMessage', () => {
  it('keeps printable ASCII except % as is', () => {
    const printable = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i)).join('').replace('%', '');
    expect(encodeGrpcMessage(`[${printable}]`)).toBe(`[${printable}]`);
  });

  it('encodes a space that begins or ends the value (a header value cannot), and only that one', () => {
    expect(encodeGrpcMessage(' a b ')).toBe('%20a b%20');
    expect(encodeGrpcMessage('failed: note: ')).toBe('failed: note:%20');
    expect(encodeGrpcMessage('  x')).toBe('%20 x');
    expect(encodeGrpcMessage(' ')).toBe('%20');
    expect(decodeURIComponent(encodeGrpcMessage('  padded  '))).toBe('  padded  ');
  });

  it('percent-encodes %, control characters and UTF-8 bytes in upper-case hex', () => {
    expect(encodeGrpcMessage('100%')).toBe('100%25');
    expect(encodeGrpcMessage('a\nb\tc\r\0')).toBe('a%0Ab%09c%0D%00');
    expect(encodeGrpcMessage('\x7f')).toBe('%7F');
    expect(encodeGrpcMessage('é')).toBe('%C3%A9');
    expect(encodeGrpcMessage('日本')).toBe('%E6%97%A5%E6%9C%AC');
    expect(encodeGrpcMessage('🔑')).toBe('%F0%9F%94%91');
    expect(encodeGrpcMessage('')).toBe('');
  });

  it('round-trips through decodeURIComponent and stays printable ASCII', () => {
    const samples = [
      'plain message',
      'key "k1" not found: 100% sure\nsecond line\r\n\ttab',
      'ünïcødé – “quotes” ☃ 🔑 日本語',
      '%%25%zz%',
      Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join(''),
      'a+b=c&d?e#f/g\\h',
    ];
    for (const s of samples) {
      const enc = encodeGrpcMessage(s);
      expect(enc).toMatch(/^[\x20-\x7e]*$/);
      expect(decodeURIComponent(enc)).toBe(s);
    }
  });
});

describe('parseGrpcTimeout', () => {
  it('converts every unit to milliseconds', () => {
    expect(parseGrpcTimeout('2H')).toBe(2 * 3_600_000);
    expect(parseGrpcTimeout('3M')).toBe(180_000);
    expect(parseGrpcTimeout('5S')).toBe(5000);
    expect(parseGrpcTimeout('250m')).toBe(250);
    expect(parseGrpcTimeout('1500u')).toBeCloseTo(1.5, 10);
    expect(parseGrpcTimeout('2000000n')).toBeCloseTo(2, 10);
    expect(parseGrpcTimeout('0m')).toBe(0);
    expect(parseGrpcTimeout('99999999S')).toBe(99_999_999_000);
  });

  it('returns undefined for a missing or malformed value', () => {
    for (const bad of [undefined, '', 'm', '10', '10s', '10h', '10x', '-5S', '1.5S', ' 5S', '5S ', '5 S', '123456789m', 'S5', '0x10m', '５S']) {
      expect(parseGrpcTimeout(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});
