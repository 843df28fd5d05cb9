/**
 * The TPM 2.0 marshalling primitives (TPM 2.0 Part 2, big-endian integers
 * and TPM2B size-prefixed buffers), with every read bounds-checked: the
 * structures decoded here come from the network and are hostile until
 * verified. A malformed structure throws {@link TpmError} naming the field.
 */

export class TpmError extends Error {
  override readonly name = 'TpmError';
}

/** A cursor over a TPM structure; every read checks the remaining length. */
export class TpmReader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    /** Names the structure in error messages. */
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (this.remaining < n) {
      throw new TpmError(`${this.what}: truncated at ${field} (offset ${this.pos}: need ${n} bytes, ${this.remaining} left)`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf.readUInt8(this.pos++);
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const v = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return v;
  }

  /** A TPM2B: a 16-bit size then that many bytes, at most `max`. */
  tpm2b(field: string, max: number): Buffer {
    const size = this.u16(`${field} size`);
    if (size > max) throw new TpmError(`${this.what}: ${field} is ${size} bytes, more than the ${max} allowed`);
    return this.bytes(size, field);
  }

  /** Fails if anything is left over. */
  end(): void {
    if (this.remaining !== 0) throw new TpmError(`${this.what}: ${this.remaining} trailing bytes after the structure`);
  }
}

/** Builds a TPM structure. */
export class TpmWriter {
  private readonly parts: Buffer[] = [];

  u8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(v);
    this.parts.push(b);
    return this;
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    this.parts.push(b);
    return this;
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }

  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.parts.push(b);
    return this;
  }

  bytes(v: Uint8Array): this {
    this.parts.push(Buffer.from(v));
    return this;
  }

  tpm2b(v: Uint8Array): this {
    return this.u16(checkedSize(v.length)).bytes(v);
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function checkedSize(n: number): number {
  if (n > 0xffff) throw new TpmError(`a TPM2B cannot hold ${n} bytes (at most 65535)`);
  return n;
}

/** `data` with its TPM2B size prefix. */
export function tpm2bEncode(data: Uint8Array): Buffer {
  return new TpmWriter().tpm2b(data).finish();
}

/** The content of a TPM2B that makes up the whole of `buf` (no trailing bytes). */
export function tpm2bDecode(buf: Uint8Array, what = 'TPM2B'): Buffer {
  const r = new TpmReader(Buffer.from(buf), what);
  const v = r.tpm2b('buffer', 0xffff);
  r.end();
  return v;
}
