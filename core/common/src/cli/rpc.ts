/**
 * gRPC failures worded as grpc-go prints them (`rpc error: code = NotFound
 * desc = entry not found`), which SPIRE's commands show: code names as
 * `codes.Code` prints them, deadline and cancellation as Go's context
 * errors, and a failure to dial a Unix socket as grpc-go's transport error.
 *
 * @module
 */

import type { ServiceError } from '@grpc/grpc-js';

const CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

/**
 * A gRPC code as grpc-go's `codes.Code` prints it.
 *
 * @example
 * ```ts
 * goCodeName(6); // 'AlreadyExists'
 * ```
 */
export function goCodeName(code: number): string {
  return CODE_NAMES[code] ?? `Code(${code})`;
}

/** Whether `err` is a grpc-js call error. */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'details' in err;
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ECONNREFUSED: 'connection refused',
  EACCES: 'permission denied',
  ENOTSOCK: 'socket operation on non-socket',
  ENOTDIR: 'not a directory',
};

/**
 * Whether an Unavailable failure is grpc-js failing to reach the socket
 * (nothing listening, no such file, no connection established) rather
 * than a peer that answered with Unavailable.
 */
function isConnectFailure(details: string): boolean {
  return /^(?:[a-z_]+: )?No connection established\b/.test(details) || /^(?:Error: )?connect E[A-Z]+ /.test(details);
}

/**
 * An RPC failure in grpc-go's words; any other error is its message. A
 * failure to connect gets `unavailableHint` appended (which socket was
 * dialled and how to point elsewhere); an Unavailable status the peer
 * sent (`the agent is shutting down`) does not.
 *
 * @example
 * ```ts
 * rpcErrorText(err); // 'rpc error: code = NotFound desc = entry not found'
 * rpcErrorText(dialErr, ' (is spire-server running?)'); // 'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /x.sock: connect: no such file or directory" (is spire-server running?)'
 * ```
 */
export function rpcErrorText(err: unknown, unavailableHint = ''): string {
  if (!isServiceError(err)) return err instanceof Error ? err.message : String(err);
  if (err.code === 4) return 'rpc error: code = DeadlineExceeded desc = context deadline exceeded';
  if (err.code === 1) return 'rpc error: code = Canceled desc = context canceled';
  if (err.code === 14) {
    if (!isConnectFailure(err.details)) return `rpc error: code = Unavailable desc = ${err.details}`;
    // grpc-js: "No connection established. Last error: Error: connect ENOENT /x.sock. Resolution note: "
    const dial = /connect (E[A-Z]+) (.*?)\.?\s*(?:Resolution note:.*)?$/s.exec(err.details);
    const desc = dial
      ? `connection error: desc = "transport: Error while dialing: dial unix ${dial[2]}: connect: ${ERRNO_TEXT[dial[1]!] ?? dial[1]}"`
      : err.details;
    return `rpc error: code = Unavailable desc = ${desc}${unavailableHint}`;
  }
  return `rpc error: code = ${goCodeName(err.code)} desc = ${err.details}`;
}
