/** Status errors for API handlers: throw them; the transport turns them into gRPC statuses. */
import { Metadata } from '@grpc/grpc-js';
import { PluginError, Status } from '@spire-ts/plugin-sdk';

export { Status };

/** An error carrying a gRPC status code and a message for the caller. */
export function apiError(code: Status, message: string, cause?: unknown): PluginError {
  return new PluginError(code, message, cause === undefined ? undefined : { cause });
}

export const invalidArgument = (message: string): PluginError => apiError(Status.INVALID_ARGUMENT, message);
export const notFound = (message: string): PluginError => apiError(Status.NOT_FOUND, message);
export const permissionDenied = (message: string): PluginError => apiError(Status.PERMISSION_DENIED, message);
export const failedPrecondition = (message: string): PluginError => apiError(Status.FAILED_PRECONDITION, message);
export const internal = (message: string, cause?: unknown): PluginError => apiError(Status.INTERNAL, message, cause);

/** SPIRE's `spire.api.types.PermissionDeniedDetails.Reason` values. */
export const DENIED_REASONS = {
  UNKNOWN: 0,
  AGENT_EXPIRED: 1,
  AGENT_NOT_ATTESTED: 2,
  AGENT_NOT_ACTIVE: 3,
  AGENT_BANNED: 4,
  AGENT_MUST_REATTEST: 5,
} as const;
export type DeniedReason = keyof typeof DENIED_REASONS;

const PERMISSION_DENIED_DETAILS_URL = 'type.googleapis.com/spire.api.types.PermissionDeniedDetails';

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

function field(num: number, bytes: Uint8Array): number[] {
  return [...varint((num << 3) | 2), ...varint(bytes.length), ...bytes];
}

/**
 * A `google.rpc.Status` carrying one `PermissionDeniedDetails` (the bytes of
 * `grpc-status-details-bin`), hand-encoded: three small messages.
 */
export function encodeDeniedStatus(message: string, reason: DeniedReason): Buffer {
  const code = DENIED_REASONS[reason];
  const details = code === 0 ? new Uint8Array() : new Uint8Array([0x08, ...varint(code)]);
  const any = new Uint8Array([...field(1, Buffer.from(PERMISSION_DENIED_DETAILS_URL)), ...field(2, details)]);
  return Buffer.from([0x08, ...varint(Status.PERMISSION_DENIED), ...field(2, Buffer.from(message)), ...field(3, any)]);
}

/** The reason in a `grpc-status-details-bin` produced by {@link encodeDeniedStatus} (or SPIRE), if any. */
export function decodeDeniedReason(statusBytes: Uint8Array): DeniedReason | undefined {
  const read = (buf: Uint8Array): Map<number, Uint8Array[] | number> => {
    const out = new Map<number, Uint8Array[] | number>();
    let i = 0;
    const rv = (): number => {
      let shift = 0;
      let n = 0;
      for (;;) {
        if (i >= buf.length || shift > 28) throw new Error('truncated varint');
        const b = buf[i++] as number;
        n |= (b & 0x7f) << shift;
        if (b < 0x80) return n >>> 0;
        shift += 7;
      }
    };
    while (i < buf.length) {
      const key = rv();
      const num = key >>> 3;
      const wt = key & 7;
      if (wt === 0) out.set(num, rv());
      else if (wt === 2) {
        const len = rv();
        if (i + len > buf.length) throw new Error('truncated field');
        const prev = out.get(num);
        const list = Array.isArray(prev) ? prev : [];
        list.push(buf.subarray(i, i + len));
        out.set(num, list);
        i += len;
      } else throw new Error(`unsupported wire type ${wt}`);
    }
    return out;
  };
  try {
    const details = read(statusBytes).get(3);
    if (!Array.isArray(details)) return undefined;
    for (const d of details) {
      const any = read(d);
      const url = any.get(1);
      const value = any.get(2);
      if (!Array.isArray(url) || Buffer.from(url[0] as Uint8Array).toString() !== PERMISSION_DENIED_DETAILS_URL) continue;
      const reason = Array.isArray(value) ? read(value[0] as Uint8Array).get(1) : 0;
      const code = typeof reason === 'number' ? reason : 0;
      return (Object.keys(DENIED_REASONS) as DeniedReason[]).find((k) => DENIED_REASONS[k] === code) ?? 'UNKNOWN';
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** PERMISSION_DENIED with SPIRE's `PermissionDeniedDetails{reason}` in the status details. */
export function deniedWithReason(message: string, reason: DeniedReason): PluginError {
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', encodeDeniedStatus(message, reason));
  return new PluginError(Status.PERMISSION_DENIED, message, { metadata });
}
