/**
 * The in-memory shape of a trust bundle, mirroring SPIRE's
 * `spire.api.types.Bundle` (spire-api-sdk adb81b3b) with bare trust domain
 * names and DER everywhere.
 */

/**
 * A JWT signing authority: the key that verifies JWT-SVIDs whose header
 * `kid` equals `keyId`.
 */
export interface JwtAuthority {
  /** The JWT `kid`. Never empty. */
  keyId: string;
  /** Public key as DER SubjectPublicKeyInfo. */
  publicKeyDer: Uint8Array;
  /** Unix seconds after which SPIRE drops the key; 0 = unknown (the SPIFFE bundle format does not carry it). */
  expiresAt: number;
}

/**
 * A trust domain's bundle: the X.509 roots and JWT keys that verify its SVIDs.
 *
 * @example
 * ```ts
 * const bundle: Bundle = {
 *   trustDomain: 'example.org',
 *   x509Authorities: [caDer],
 *   jwtAuthorities: [{ keyId: 'k1', publicKeyDer: spki, expiresAt: 0 }],
 *   refreshHint: 300,
 *   sequenceNumber: 1,
 * };
 * ```
 */
export interface Bundle {
  /** Bare trust domain name (`example.org`). */
  trustDomain: string;
  /** CA certificates, DER. */
  x509Authorities: Uint8Array[];
  /** JWT signing keys. */
  jwtAuthorities: JwtAuthority[];
  /** Seconds a consumer should wait before refreshing; 0 = unset. */
  refreshHint: number;
  /** Monotonic version of the bundle; 0 = unset. */
  sequenceNumber: number;
}
