/** gRPC length-prefixed message framing: 1 byte compressed flag, 4 bytes big-endian length, message. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

export class FramingError extends Error {
  constructor(
    message: string,
    readonly kind: 'compressed' | 'too-large',
  ) {
    super(message);
  }
}

/** Splits a byte stream into gRPC messages, across chunk boundaries. */
export class MessageParser {
  private buf: Buffer = Buffer.alloc(0);
  // Chunks of an unfinished message, joined only once it is complete (joining
  // on every chunk made large messages cost quadratic time).
  private parts: Buffer[] = [];
  private partsLength = 0;
  private needed = 5;

  constructor(private readonly maxMessage: number) {}

  /** Feeds a chunk; returns the complete messages it finished. */
  push(chunk: Buffer): Buffer[] {
    if (this.buf.length + this.partsLength + chunk.length < this.needed) {
      this.parts.push(chunk);
      this.partsLength += chunk.length;
      return [];
    }
    this.buf = this.buf.length === 0 && this.parts.length === 0 ? chunk : Buffer.concat([this.buf, ...this.parts, chunk]);
    this.parts = [];
    this.partsLength = 0;
    const out: Buffer[] = [];
    for (;;) {
      this.needed = 5;
      if (this.buf.length < 5) break;
      const compressed = this.buf[0];
      const len = this.buf.readUInt32BE(1);
      if (compressed !== 0) throw new FramingError('compressed messages are not supported (no grpc-encoding was negotiated)', 'compressed');
      if (len > this.maxMessage) throw new FramingError(`message of ${len} bytes exceeds the limit of ${this.maxMessage}`, 'too-large');
      this.needed = 5 + len;
      if (this.buf.length < 5 + len) break;
      out.push(this.buf.subarray(5, 5 + len));
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }

  /** Bytes of an unfinished message still buffered. */
  get pending(): number {
    return this.buf.length + this.partsLength;
  }
}

/**
 * Percent-encodes a grpc-message value as the gRPC HTTP/2 spec requires:
 * every byte but printable ASCII, and `%`. A space that begins or ends the
 * value is encoded too: an HTTP header value cannot begin or end with
 * whitespace, and Node's HTTP/2 client drops such a header whole (the
 * caller then sees a status with no message at all).
 */
export function encodeGrpcMessage(msg: string): string {
  const bytes = Buffer.from(msg, 'utf8');
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const plain = b >= 0x20 && b <= 0x7e && b !== 0x25 && !(b === 0x20 && (i === 0 || i === bytes.length - 1));
    out += plain ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** grpc-timeout (`100m`, `5S`, ...) in milliseconds, or undefined. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }[m[2] as 'H' | 'M' | 'S' | 'm' | 'u' | 'n'];
  return n * unit;
}
