/**
 * Typed errors for the SPIFFE primitives. Each class carries a stable
 * `reason` for programs and a message that says what was wrong for people.
 * `instanceof` works across duplicate copies of this module (the Node SDK
 * may bundle its own) through a `Symbol.for` marker.
 */

/** Why a SPIFFE ID, trust domain or path was refused. */
export type SpiffeIdErrorReason =
  | 'empty'
  | 'wrong-scheme'
  | 'missing-trust-domain'
  | 'bad-trust-domain-char'
  | 'trust-domain-too-long'
  | 'too-long'
  | 'no-leading-slash'
  | 'empty-segment'
  | 'dot-segment'
  | 'trailing-slash'
  | 'bad-path-char'
  | 'not-a-trust-domain-id';

/** Why a JWT-SVID could not be signed or was refused by the validator. */
export type JwtSvidErrorReason =
  | 'invalid-params'
  | 'bad-signer-output'
  | 'malformed'
  | 'unsupported-alg'
  | 'bad-typ'
  | 'unsupported-header'
  | 'missing-kid'
  | 'missing-sub'
  | 'invalid-sub'
  | 'missing-exp'
  | 'missing-aud'
  | 'audience-mismatch'
  | 'expired'
  | 'not-yet-valid'
  | 'issued-in-future'
  | 'no-bundle'
  | 'unknown-kid'
  | 'key-mismatch'
  | 'bad-signature';

/** Why a bundle (SPIFFE bundle, JWKS, DER certificates) could not be decoded or encoded. */
export type BundleErrorReason = 'malformed' | 'invalid-key' | 'invalid-certificate' | 'missing-kid' | 'x5c-count';

const SPIFFE_ID_MARKER = Symbol.for('@spire-ts/spiffe/SpiffeIdError');
const JWT_SVID_MARKER = Symbol.for('@spire-ts/spiffe/JwtSvidError');
const BUNDLE_MARKER = Symbol.for('@spire-ts/spiffe/BundleError');

function hasMarker(value: unknown, marker: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[marker] === true;
}

/**
 * A SPIFFE ID, trust domain name or path that breaks the SPIFFE-ID spec.
 * `input` is the offending text, `reason` the rule it broke.
 *
 * @example
 * ```ts
 * try { parseSpiffeId('spiffe://Example.org/web'); }
 * catch (err) { if (err instanceof SpiffeIdError) console.log(err.reason); } // 'bad-trust-domain-char'
 * ```
 */
export class SpiffeIdError extends Error {
  readonly code = 'ERR_SPIFFE_ID' as const;
  readonly reason: SpiffeIdErrorReason;
  readonly input: string;
  /**
   * What is wrong, without the `invalid SPIFFE ID "<input>": ` the message
   * starts with: for a caller that names the value itself
   * (`invalid parent ID "http://x": scheme is missing or invalid ...`).
   */
  readonly detail: string;

  constructor(reason: SpiffeIdErrorReason, message: string, input: string, detail = message) {
    super(message);
    this.name = 'SpiffeIdError';
    this.reason = reason;
    this.input = input;
    this.detail = detail;
    Object.defineProperty(this, SPIFFE_ID_MARKER, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasMarker(value, SPIFFE_ID_MARKER);
  }
}

/**
 * A JWT-SVID that failed validation, or a signing request that could not be
 * honoured. Messages follow go-spiffe's wording where it has one
 * (`token header missing key id`, `token has expired`, ...).
 *
 * @example
 * ```ts
 * try { validateJwtSvid(token, { audience: 'api', bundles }); }
 * catch (err) { if (err instanceof JwtSvidError && err.reason === 'expired') refresh(); }
 * ```
 */
export class JwtSvidError extends Error {
  readonly code = 'ERR_JWT_SVID' as const;
  readonly reason: JwtSvidErrorReason;

  constructor(reason: JwtSvidErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'JwtSvidError';
    this.reason = reason;
    Object.defineProperty(this, JWT_SVID_MARKER, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasMarker(value, JWT_SVID_MARKER);
  }
}

/**
 * A bundle document or certificate blob that could not be decoded, or an
 * authority that could not be encoded.
 *
 * @example
 * ```ts
 * try { decodeSpiffeBundle('example.org', text); }
 * catch (err) { if (err instanceof BundleError) log.warn(err.message); }
 * ```
 */
export class BundleError extends Error {
  readonly code = 'ERR_BUNDLE' as const;
  readonly reason: BundleErrorReason;

  constructor(reason: BundleErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BundleError';
    this.reason = reason;
    Object.defineProperty(this, BUNDLE_MARKER, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasMarker(value, BUNDLE_MARKER);
  }
}
