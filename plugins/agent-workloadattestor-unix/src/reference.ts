/** Full name of the only reference type this attestor understands. */
export const PID_REFERENCE_TYPE = 'spiffe.broker.WorkloadPIDReference';

/** Type URL of a packed `spiffe.broker.WorkloadPIDReference`. */
export const PID_REFERENCE_TYPE_URL = `type.googleapis.com/${PID_REFERENCE_TYPE}`;

/** The message name of an `Any` type URL (what follows the last `/`, as protobuf resolves it). */
export function messageNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** Malformed protobuf bytes. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

/** Reads one varint at `pos`; returns it as a 64-bit two's complement bigint and the next position. */
function varint(bytes: Uint8Array, pos: number): [bigint, number] {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= bytes.length) throw new DecodeError('truncated varint');
    const b = bytes[pos++]!;
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return [BigInt.asUintN(64, value), pos];
  }
  throw new DecodeError('varint longer than 10 bytes');
}

/**
 * Decodes `spiffe.broker.WorkloadPIDReference { int32 pid = 1; }` from its
 * wire bytes. Unknown fields are skipped; a repeated `pid` keeps the last
 * value (protobuf's rule for scalars). A pid outside the int32 range is
 * refused rather than truncated to 32 bits, so a hostile value can never
 * wrap around to another process.
 */
export function decodePidReference(bytes: Uint8Array): number {
  let pid = 0;
  let pos = 0;
  while (pos < bytes.length) {
    let key: bigint;
    [key, pos] = varint(bytes, pos);
    const field = key >> 3n;
    const wire = Number(key & 7n);
    if (field === 0n) throw new DecodeError('field number 0');
    switch (wire) {
      case 0: {
        let v: bigint;
        [v, pos] = varint(bytes, pos);
        if (field === 1n) {
          const signed = BigInt.asIntN(64, v);
          if (signed < -(2n ** 31n) || signed >= 2n ** 31n) throw new DecodeError(`pid ${signed} is out of the int32 range`);
          pid = Number(signed);
        }
        break;
      }
      case 1:
        pos += 8;
        break;
      case 2: {
        let len: bigint;
        [len, pos] = varint(bytes, pos);
        if (len > BigInt(bytes.length - pos)) throw new DecodeError('truncated length-delimited field');
        pos += Number(len);
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        throw new DecodeError(`unsupported wire type ${wire}`);
    }
    if (field === 1n && wire !== 0) throw new DecodeError(`pid has wire type ${wire}, want varint`);
    if (pos > bytes.length) throw new DecodeError('truncated field');
  }
  return pid;
}
