/**
 * Errors of the agent's node identity: a terminal condition (the agent cannot
 * go on serving with this identity) or a start-up failure, both with a
 * message the operator can act on; and the `PermissionDeniedDetails` reason
 * SPIRE servers put in `grpc-status-details-bin`.
 */
import type { Metadata } from '@grpc/grpc-js';

/** `spire.api.types.PermissionDeniedDetails.Reason`. */
export type DeniedReason = 'AGENT_EXPIRED' | 'AGENT_NOT_ATTESTED' | 'AGENT_NOT_ACTIVE' | 'AGENT_BANNED' | 'AGENT_MUST_REATTEST';

const REASONS: Record<number, DeniedReason> = {
  1: 'AGENT_EXPIRED',
  2: 'AGENT_NOT_ATTESTED',
  3: 'AGENT_NOT_ACTIVE',
  4: 'AGENT_BANNED',
  5: 'AGENT_MUST_REATTEST',
};

const DETAILS_TYPE_URL = 'type.googleapis.com/spire.api.types.PermissionDeniedDetails';

export type NodeErrorCode =
  /** Configuration or persisted state prevents the agent from obtaining an identity. */
  | 'ERR_NODE_START'
  /** The bootstrap trust bundle could not be loaded. */
  | 'ERR_NODE_BOOTSTRAP'
  /** Node attestation failed. */
  | 'ERR_NODE_ATTEST'
  /** The server could not be authenticated. */
  | 'ERR_NODE_SERVER_AUTH'
  /** The server says the agent is banned. */
  | 'ERR_NODE_BANNED'
  /** The server no longer knows the agent (evicted). */
  | 'ERR_NODE_EVICTED'
  /** The agent's identity cannot be renewed or re-obtained. */
  | 'ERR_NODE_IDENTITY_LOST';

export class NodeIdentityError extends Error {
  override readonly name = 'NodeIdentityError';
  constructor(
    readonly code: NodeErrorCode,
    message: string,
    options?: { cause?: unknown; grpcCode?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.grpcCode = options?.grpcCode;
  }
  readonly grpcCode: number | undefined;
}

/** A grpc-js style error (`code`, `details`, `metadata`). */
export interface GrpcErrorLike {
  code: number;
  details?: string;
  message: string;
  metadata?: Metadata;
}

export function isGrpcError(err: unknown): err is GrpcErrorLike {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number' && err instanceof Error;
}

/** The reason in a PermissionDenied error's status details, if any. */
export function deniedReason(err: unknown): DeniedReason | undefined {
  if (!isGrpcError(err) || err.code !== 7 || !err.metadata) return undefined;
  for (const raw of err.metadata.get('grpc-status-details-bin')) {
    if (!Buffer.isBuffer(raw)) continue;
    const r = decodeDeniedReason(raw);
    if (r) return r;
  }
  return undefined;
}

type Fields = Map<number, (Uint8Array | number)[]>;

/** Decodes protobuf fields of a message (varint and length-delimited kept; fixed-width skipped, within bounds). */
function fields(buf: Uint8Array): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = (): number => {
    let n = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++] as number;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
    throw new Error('varint too long');
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new Error('field number 0');
    let value: Uint8Array | number;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = varint();
      if (i + len > buf.length) throw new Error('truncated field');
      value = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 1 || wire === 5) {
      const width = wire === 1 ? 8 : 4;
      if (i + width > buf.length) throw new Error('truncated field');
      i += width;
      continue;
    } else throw new Error(`unsupported wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

/** The PermissionDeniedDetails reason in an encoded `google.rpc.Status`, or undefined. */
export function decodeDeniedReason(status: Uint8Array): DeniedReason | undefined {
  try {
    for (const any of fields(status).get(3) ?? []) {
      if (typeof any === 'number') continue;
      const f = fields(any);
      const url = f.get(1)?.[0];
      if (!(url instanceof Uint8Array) || Buffer.from(url).toString() !== DETAILS_TYPE_URL) continue;
      const value = f.get(2)?.[0];
      const reason = value instanceof Uint8Array ? fields(value).get(1)?.[0] : undefined;
      return typeof reason === 'number' ? REASONS[reason] : undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** `code: details` of any error, for messages. */
export function describeError(err: unknown): string {
  if (isGrpcError(err)) return err.details ? `${grpcCodeName(err.code)}: ${err.details}` : err.message;
  return err instanceof Error ? err.message : String(err);
}

const CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];

export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? `code ${code}`;
}
