import { Status } from '@spire-ts/plugin-sdk';

/**
 * Stable codes of {@link X509Error}:
 * - `ERR_DER`: the bytes are not valid DER (truncated, bad length, trailing data, too deep...).
 * - `ERR_X509_PARSE`: valid DER, but not a well-formed certificate, CSR, name or extension.
 * - `ERR_X509_UNSUPPORTED`: well-formed, but uses an algorithm or form we do not accept.
 * - `ERR_X509_TEMPLATE`: the caller asked the builder for a certificate that cannot be made.
 * - `ERR_X509_SIGNER`: the signer returned a signature that is malformed or does not verify.
 * - `ERR_X509_SVID`: the certificate chain is not a valid X.509-SVID (SPIFFE rules, path validation).
 */
export type X509ErrorCode =
  | 'ERR_DER'
  | 'ERR_X509_PARSE'
  | 'ERR_X509_UNSUPPORTED'
  | 'ERR_X509_TEMPLATE'
  | 'ERR_X509_SIGNER'
  | 'ERR_X509_SVID';

const MARKER = Symbol.for('@spire-ts/common/X509Error');

const GRPC_CODES: Record<X509ErrorCode, Status> = {
  ERR_DER: Status.INVALID_ARGUMENT,
  ERR_X509_PARSE: Status.INVALID_ARGUMENT,
  ERR_X509_UNSUPPORTED: Status.INVALID_ARGUMENT,
  ERR_X509_TEMPLATE: Status.INVALID_ARGUMENT,
  ERR_X509_SIGNER: Status.INTERNAL,
  ERR_X509_SVID: Status.INVALID_ARGUMENT,
};

/**
 * Every failure of the X.509 toolkit. `code` is stable for programs; `message`
 * says what was wrong (and for DER, at which byte offset).
 *
 * @example
 * ```ts
 * try { parseCSR(der); } catch (err) {
 *   if (err instanceof X509Error && err.code === 'ERR_DER') { ... }
 * }
 * ```
 */
export class X509Error extends Error {
  /** Stable machine-readable code. */
  readonly code: X509ErrorCode;
  /** The gRPC status an API handler should answer with. */
  readonly grpcCode: Status;
  /** For `ERR_DER`: offset of the offending byte in the outermost input, when known. */
  readonly offset: number | undefined;

  constructor(code: X509ErrorCode, message: string, options?: { cause?: unknown; offset?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'X509Error';
    this.code = code;
    this.grpcCode = GRPC_CODES[code];
    this.offset = options?.offset;
    Object.defineProperty(this, MARKER, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARKER] === true;
  }
}
