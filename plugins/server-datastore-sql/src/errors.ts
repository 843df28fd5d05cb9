/**
 * Typed DataStore errors carrying gRPC status codes. The numeric codes are
 * google.rpc.Code values, so the plugin adapter can hand them to grpc-js as
 * they are (plugin-sdk's PluginError uses the same numbers).
 */
import { Status } from '@spire-ts/plugin-sdk';

/** gRPC status codes (the SDK's table, google.rpc.Code values). */
export const Code = Status;

export type CodeName = keyof typeof Code;
export type CodeValue = (typeof Code)[CodeName];

const MARKER = Symbol.for('@spire-ts/server-datastore-sql/DataStoreError');

/** Extra, machine-readable facts about an error (e.g. the existing entry's id). */
export type ErrorDetails = Readonly<Record<string, string | number | boolean>>;

/**
 * An error from the DataStore. `code` is the gRPC status code, `codeName` its
 * name; the message never contains a stack trace or a password.
 *
 * @example
 * ```ts
 * try { await ds.createEntry(e); } catch (err) {
 *   if (err instanceof DataStoreError && err.code === Code.ALREADY_EXISTS) { ... }
 * }
 * ```
 */
export class DataStoreError extends Error {
  readonly code: CodeValue;
  readonly codeName: CodeName;
  readonly details: ErrorDetails;

  constructor(codeName: CodeName, message: string, options?: { cause?: unknown; details?: ErrorDetails }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DataStoreError';
    this.codeName = codeName;
    this.code = Code[codeName];
    this.details = options?.details ?? {};
    Object.defineProperty(this, MARKER, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARKER] === true;
  }
}

export function invalidArgument(message: string, details?: ErrorDetails): DataStoreError {
  return new DataStoreError('INVALID_ARGUMENT', message, details ? { details } : undefined);
}

export function notFound(message: string): DataStoreError {
  return new DataStoreError('NOT_FOUND', message);
}

export function alreadyExists(message: string, details?: ErrorDetails): DataStoreError {
  return new DataStoreError('ALREADY_EXISTS', message, details ? { details } : undefined);
}

export function failedPrecondition(message: string): DataStoreError {
  return new DataStoreError('FAILED_PRECONDITION', message);
}

export function aborted(message: string, details?: ErrorDetails): DataStoreError {
  return new DataStoreError('ABORTED', message, details ? { details } : undefined);
}

export function internal(message: string, cause?: unknown): DataStoreError {
  return new DataStoreError('INTERNAL', message, { cause });
}

export function unavailable(message: string, cause?: unknown): DataStoreError {
  return new DataStoreError('UNAVAILABLE', message, { cause });
}

/** True if `err` is a DataStoreError with the given code name. */
export function hasCode(err: unknown, codeName: CodeName): boolean {
  return err instanceof DataStoreError && err.codeName === codeName;
}
