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

  /** The agent's identity is lost for good (banned, evicted, expired beyond renewal): nothing is worth retrying. */
  get terminal(): boolean {
    return this.code === 'ERR_NODE_BANNED' || this.code === 'ERR_NODE_EVICTED' || this.code === 'ERR_NODE_IDENTITY_LOST';
  }
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

/**
 * A call to the server that failed below the API: the connection could not
 * be made, was lost, or the call ran out of time. Keeps the grpc-js error's
 * `code` and `metadata` (callers still branch on them); `details` and
 * `message` say what happened in the operator's terms (see
 * {@link cleanTransportDetails}), the grpc-js error is the `cause`.
 */
export class ServerUnreachableError extends Error {
  override readonly name = 'ServerUnreachableError';
  readonly code: number;
  readonly details: string;
  readonly metadata: Metadata | undefined;
  constructor(err: GrpcErrorLike, details: string) {
    super(details, { cause: err });
    this.code = err.code;
    this.details = details;
    this.metadata = err.metadata;
  }
}

/**
 * grpc-js's text for a failure of the connection rather than of the call,
 * rewritten for an operator; any other text comes back only trimmed. grpc-js
 * says e.g. `No connection established. Last error: Error: connect
 * ECONNREFUSED 127.0.0.1:8081. Resolution note: ` (its load balancer's
 * bookkeeping around the socket error, with a trailing blank, which an HTTP/2
 * peer may refuse in a header); this says `connection to 127.0.0.1:8081
 * failed: connect ECONNREFUSED`. `target` (host:port) names the server
 * where grpc-js does not.
 *
 * @example
 * ```ts
 * cleanTransportDetails('Connection dropped', '127.0.0.1:8081'); // 'connection to 127.0.0.1:8081 dropped'
 * ```
 */
export function cleanTransportDetails(details: string, target?: string): string {
  const server = target ?? 'the SPIRE server';
  const text = details.trim();
  const noConn = /^(?:[\w-]+: )?No connection established\.?(?: Last error: ([\s\S]*?))?(?:\.? Resolution note:([\s\S]*))?$/.exec(text);
  if (noConn) {
    const last = socketError(noConn[1] ?? '');
    const note = (noConn[2] ?? '').trim();
    const errno = /^connect (E[A-Z]+) (\S+)$/.exec(last);
    let out: string;
    if (errno) out = `connection to ${errno[2]} failed: connect ${errno[1]}`;
    else out = last === '' || last === 'null' ? `connection to ${server} failed` : `connection to ${server} failed: ${last}`;
    return note ? `${out} (name resolution: ${note.replace(/\.$/, '')})` : out;
  }
  const noAddr = /^No addresses resolved\.(?: Resolution note:([\s\S]*))?$/.exec(text);
  if (noAddr) {
    const note = (noAddr[1] ?? '').trim();
    return note ? `no address resolved for ${server}: ${note}` : `no address resolved for ${server}`;
  }
  const resolve = /^Name resolution failed for target (?:dns:)?(\S+)$/.exec(text);
  if (resolve) return `cannot resolve ${resolve[1]}`;
  if (text === 'Connection dropped') return `connection to ${server} dropped`;
  const deadline = /^Deadline exceeded after ([^,]+)/.exec(text);
  if (deadline) return `no answer from ${server} within ${deadline[1]} (deadline exceeded)`;
  return text;
}

/** The socket or TLS error behind grpc-js's "No connection established" text, if that is what `details` is. */
export function lastConnectionError(details: string): string | undefined {
  const m = /No connection established\.? Last error: ([\s\S]*?)(?:\.? Resolution note:[\s\S]*)?$/.exec(details.trim());
  const last = m ? socketError(m[1] ?? '') : '';
  return last === '' || last === 'null' ? undefined : last;
}

/** The socket or TLS error inside grpc-js's "Last error": without `Error: `/`Error [CODE]: ` and the timestamp grpc-js appends. */
function socketError(last: string): string {
  return last
    .trim()
    .replace(/^Error(?: \[[A-Z0-9_]+\])?: /, '')
    .replace(/ \(\d{4}-\d\d-\d\dT[\d:.]+Z\)$/, '')
    .replace(/\.$/, '')
    .trim();
}

/** Whether grpc-js's `details` describe a failed, lost or timed-out connection (text {@link cleanTransportDetails} rewrites). */
export function isTransportFailure(err: unknown): err is GrpcErrorLike {
  if (!isGrpcError(err) || (err.code !== 14 && err.code !== 4)) return false;
  const details = err.details ?? '';
  return cleanTransportDetails(details) !== details.trim();
}

/**
 * A grpc-js failure of the connection to the server at `target` as a
 * {@link ServerUnreachableError}; any other error as it is.
 */
export function explainTransportFailure(err: unknown, target: string): unknown {
  if (err instanceof ServerUnreachableError || !isTransportFailure(err)) return err;
  return new ServerUnreachableError(err, cleanTransportDetails(err.details ?? '', target));
}

/**
 * An error for messages: `Code: details` of a server answer, what happened
 * to the connection for a transport failure (never grpc-js's own wording),
 * the message of anything else.
 */
export function describeError(err: unknown): string {
  if (err instanceof ServerUnreachableError) return err.message;
  if (isTransportFailure(err)) return cleanTransportDetails(err.details ?? '');
  if (isGrpcError(err)) return err.details ? `${grpcCodeName(err.code)}: ${err.details.trim()}` : err.message.trim();
  return err instanceof Error ? err.message : String(err);
}

const CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];

export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? `code ${code}`;
}
