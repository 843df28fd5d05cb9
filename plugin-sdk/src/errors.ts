import type { Metadata } from '@grpc/grpc-js';
import { Status } from './status.js';

export { Status, statusName } from './status.js';

const MARKER = Symbol.for('@spire-ts/plugin-sdk/PluginError');

/**
 * An error that crosses the plugin boundary with a gRPC status code.
 *
 * Throw it from any handler: the SDK turns it into the matching gRPC status,
 * so the host sees `INVALID_ARGUMENT`, `NOT_FOUND`, ... with your message.
 * Any other thrown error becomes `INTERNAL`.
 *
 * `instanceof` works across copies of the SDK (third-party plugins and the
 * conformance kit may each bring their own) because it checks a global symbol.
 *
 * @example
 * ```ts
 * throw new PluginError(Status.INVALID_ARGUMENT, 'key_id is required');
 * ```
 */
export class PluginError extends Error {
  readonly code: Status;
  readonly details: string;
  readonly metadata?: Metadata;

  constructor(code: Status, message: string, options?: { cause?: unknown; metadata?: Metadata }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PluginError';
    this.code = code;
    this.details = message;
    if (options?.metadata) this.metadata = options.metadata;
    Object.defineProperty(this, MARKER, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARKER] === true;
  }

  /** Shorthands for the codes plugins use most. */
  static invalidArgument(message: string): PluginError {
    return new PluginError(Status.INVALID_ARGUMENT, message);
  }
  static notFound(message: string): PluginError {
    return new PluginError(Status.NOT_FOUND, message);
  }
  static internal(message: string, cause?: unknown): PluginError {
    return new PluginError(Status.INTERNAL, message, { cause });
  }
  static failedPrecondition(message: string): PluginError {
    return new PluginError(Status.FAILED_PRECONDITION, message);
  }
  static unavailable(message: string): PluginError {
    return new PluginError(Status.UNAVAILABLE, message);
  }
}


/** Converts anything thrown by a handler into a gRPC status for the wire. */
export function toServiceError(err: unknown): { code: Status; details: string; metadata?: Metadata } {
  if (err instanceof PluginError) {
    return { code: err.code, details: err.details, ...(err.metadata ? { metadata: err.metadata } : {}) };
  }
  if (isServiceError(err)) return { code: err.code as Status, details: err.details, ...(err.metadata ? { metadata: err.metadata } : {}) };
  // grpc-js style status objects passed to a callback: { code, details, metadata? }.
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number') {
    const o = err as { code: number; details?: unknown; message?: unknown; metadata?: Metadata };
    const details = typeof o.details === 'string' ? o.details : typeof o.message === 'string' ? o.message : '';
    return { code: o.code as Status, details, ...(o.metadata ? { metadata: o.metadata } : {}) };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: Status.INTERNAL, details: message };
}

/** True for errors produced by grpc-js calls (they carry a numeric `code`). */
export function isServiceError(err: unknown): err is Error & { code: number; details: string; metadata?: Metadata } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && typeof (err as { details?: unknown }).details === 'string';
}
