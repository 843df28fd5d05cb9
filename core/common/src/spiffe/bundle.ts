/**
 * SPIFFE bundle format (spiffe/spiffe standards/SPIFFE_Trust_Domain_and_Bundle.md
 * at 665a28f3): a JWK Set with `use: "x509-svid"` keys (one CA certificate in
 * `x5c`) and `use: "jwt-svid"` keys (with `kid`), plus `spiffe_sequence` and
 * `spiffe_refresh_hint`. Encoding matches SPIRE's bundleutil.Marshal (spire
 * ef8527ec): x509 keys then JWT keys, go-jose's member order, sequence and
 * refresh hint left out when 0, 4-space indent. Decoding ignores what the
 * spec says to ignore (unknown `use` or `kty`) and is strict where go-spiffe
 * is (exactly one `x5c` per x509-svid key, `kid` on jwt-svid keys, key
 * parameters matching the certificate).
 */
import { X509Certificate } from 'node:crypto';
import { b64stdDecode } from './der.js';
import { BundleError } from './errors.js';
import { parseTrustDomain } from './id.js';
import { SUPPORTED_KTY, jwkToSpki, keyObjectToJwk, spkiToJwk, type PublicJwk } from './jwk.js';
import type { Bundle, JwtAuthority } from './types.js';

/** Overrides for {@link encodeSpiffeBundle}, as SPIRE's bundle endpoint applies its configured refresh hint. */
export interface EncodeSpiffeBundleOptions {
  /** Seconds; replaces `bundle.refreshHint`. */
  refreshHint?: number;
  /** Replaces `bundle.sequenceNumber`. */
  sequenceNumber?: number;
}

/** Orders a JWK's members as go-jose marshals them: use, kty, kid, crv, x, y, n, e, x5c. */
function ordered(use: string | null, jwk: PublicJwk, kid?: string, x5c?: string[]): PublicJwk {
  const out: Record<string, unknown> = {};
  if (use !== null) out.use = use;
  out.kty = jwk.kty;
  if (kid !== undefined) out.kid = kid;
  for (const m of ['crv', 'x', 'y', 'n', 'e'] as const) if (jwk[m] !== undefined) out[m] = jwk[m];
  if (x5c !== undefined) out.x5c = x5c;
  return out as PublicJwk;
}

function parseCertificate(der: Uint8Array, what: string): X509Certificate {
  try {
    return new X509Certificate(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
  } catch (err) {
    throw new BundleError('invalid-certificate', `${what} is not a valid DER certificate: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The `x509-svid` JWK for a CA certificate: key parameters from the
 * certificate, `x5c` = [its DER]; `use: null` leaves `use` out.
 *
 * @example
 * ```ts
 * x509AuthorityToJwk(caDer); // { use: 'x509-svid', kty: 'EC', crv: 'P-256', x, y, x5c: ['MIIB…'] }
 * ```
 */
export function x509AuthorityToJwk(der: Uint8Array, use: string | null = 'x509-svid'): PublicJwk {
  const cert = parseCertificate(der, 'X.509 authority');
  return ordered(use, keyObjectToJwk(cert.publicKey), undefined, [Buffer.from(cert.raw).toString('base64')]);
}

/**
 * The `jwt-svid` JWK for a JWT authority; `use: null` gives the standard
 * JWKS form the Workload API uses.
 *
 * @example
 * ```ts
 * jwtAuthorityToJwk({ keyId: 'k1', publicKeyDer, expiresAt: 0 }); // { use: 'jwt-svid', kty: 'EC', kid: 'k1', … }
 * ```
 */
export function jwtAuthorityToJwk(authority: JwtAuthority, use: string | null = 'jwt-svid'): PublicJwk {
  if (typeof authority.keyId !== 'string' || authority.keyId === '') {
    throw new BundleError('missing-kid', 'JWT authority has no key ID; a kid is required');
  }
  return ordered(use, spkiToJwk(authority.publicKeyDer), authority.keyId);
}

function checkCount(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new BundleError('malformed', `${name} must be a non-negative integer, got ${v}`);
}

/**
 * Encodes a bundle in the SPIFFE bundle format, byte-for-byte as SPIRE does
 * (except that JWT keys keep the bundle's order where Go's map order is random).
 *
 * @throws BundleError if an authority cannot be encoded.
 * @example
 * ```ts
 * const text = encodeSpiffeBundle(bundle, { refreshHint: 300 });
 * res.setHeader('Content-Type', 'application/json').end(text);
 * ```
 */
export function encodeSpiffeBundle(bundle: Bundle, options: EncodeSpiffeBundleOptions = {}): string {
  const keys: PublicJwk[] = [
    ...bundle.x509Authorities.map((der) => x509AuthorityToJwk(der)),
    ...bundle.jwtAuthorities.map((a) => jwtAuthorityToJwk(a)),
  ];
  const doc: Record<string, unknown> = { keys };
  const sequence = options.sequenceNumber ?? bundle.sequenceNumber;
  const refreshHint = options.refreshHint ?? bundle.refreshHint;
  checkCount('sequenceNumber', sequence);
  if (!Number.isSafeInteger(refreshHint)) throw new BundleError('malformed', `refreshHint must be an integer number of seconds, got ${refreshHint}`);
  if (sequence !== 0) doc.spiffe_sequence = sequence;
  if (refreshHint !== 0) doc.spiffe_refresh_hint = refreshHint;
  return JSON.stringify(doc, null, 4);
}

function parseDocument(input: string | Uint8Array, what: string): Record<string, unknown> {
  const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new BundleError('malformed', `unable to parse ${what}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new BundleError('malformed', `unable to parse ${what}: not a JSON object`);
  return doc as Record<string, unknown>;
}

function keysOf(doc: Record<string, unknown>, what: string): unknown[] {
  if (doc.keys === undefined || doc.keys === null) {
    throw new BundleError('malformed', `${what} has no "keys" member (it is required, even when empty)`);
  }
  if (!Array.isArray(doc.keys)) throw new BundleError('malformed', `${what} "keys" must be an array`);
  return doc.keys;
}

function jwkAt(raw: unknown, i: number): PublicJwk {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BundleError('malformed', `key ${i} is not a JSON object`);
  const jwk = raw as PublicJwk;
  if (typeof jwk.kty !== 'string' || jwk.kty === '') throw new BundleError('invalid-key', `key ${i} has no "kty" (it is required)`);
  return jwk;
}

function keyParams(jwk: PublicJwk, label: string): Buffer {
  try {
    return jwkToSpki(jwk);
  } catch (err) {
    throw new BundleError('invalid-key', `${label}: ${(err as Error).message}`, { cause: err });
  }
}

function decodeX509Key(jwk: PublicJwk, i: number): Buffer {
  const x5c = jwk.x5c;
  const count = Array.isArray(x5c) ? x5c.length : 0;
  if (x5c !== undefined && !Array.isArray(x5c)) throw new BundleError('malformed', `x509-svid entry ${i}: "x5c" must be an array`);
  if (count !== 1) throw new BundleError('x5c-count', `expected a single certificate in x509-svid entry ${i}; got ${count}`);
  const b64 = (x5c as unknown[])[0];
  const der = typeof b64 === 'string' ? b64stdDecode(b64) : undefined;
  if (!der) throw new BundleError('invalid-certificate', `x509-svid entry ${i}: x5c[0] is not standard (padded, non-URL) base64`);
  const cert = parseCertificate(der, `x509-svid entry ${i} x5c[0]`);
  const fromJwk = keyParams(jwk, `x509-svid entry ${i}`);
  const fromCert = cert.publicKey.export({ type: 'spki', format: 'der' });
  if (!fromJwk.equals(fromCert)) {
    throw new BundleError('invalid-key', `x509-svid entry ${i}: the key parameters do not match the public key of the certificate in x5c`);
  }
  return Buffer.from(cert.raw);
}

function decodeJwtKey(jwk: PublicJwk, label: string): JwtAuthority {
  if (jwk.kid === undefined || jwk.kid === '') throw new BundleError('missing-kid', `${label} has no "kid" (a key ID is required)`);
  if (typeof jwk.kid !== 'string') throw new BundleError('malformed', `${label} "kid" must be a string`);
  return { keyId: jwk.kid, publicKeyDer: keyParams(jwk, label), expiresAt: 0 };
}

/** Adds or replaces (same kid: the later key wins, as in go-spiffe) a JWT authority. */
function putJwt(list: JwtAuthority[], a: JwtAuthority): void {
  const at = list.findIndex((x) => x.keyId === a.keyId);
  if (at === -1) list.push(a);
  else list[at] = a;
}

/**
 * Decodes a SPIFFE bundle document for `trustDomain` (a name or `spiffe://`
 * ID). Keys with an unknown `use` or `kty` are skipped, as the spec says;
 * duplicate certificates are kept once. JWT authorities come back with
 * `expiresAt: 0` since the format does not carry it.
 *
 * @throws BundleError (malformed JSON, no `keys`, x509-svid keys without exactly
 *   one `x5c` or whose parameters differ from the certificate, jwt-svid keys
 *   without `kid`, invalid key material, bad sequence or refresh hint).
 * @example
 * ```ts
 * const bundle = decodeSpiffeBundle('example.org', await res.text());
 * bundle.x509Authorities.length; // CA certificates, DER
 * ```
 */
export function decodeSpiffeBundle(trustDomain: string, input: string | Uint8Array): Bundle {
  const td = parseTrustDomain(trustDomain);
  const doc = parseDocument(input, 'SPIFFE bundle');
  const bundle: Bundle = { trustDomain: td, x509Authorities: [], jwtAuthorities: [], refreshHint: 0, sequenceNumber: 0 };
  const seq = doc.spiffe_sequence;
  if (seq !== undefined && seq !== null) {
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) throw new BundleError('malformed', `spiffe_sequence must be a non-negative integer, got ${JSON.stringify(seq)}`);
    if (!Number.isSafeInteger(seq)) throw new BundleError('malformed', `spiffe_sequence ${seq} is beyond 2^53 and cannot be represented exactly`);
    bundle.sequenceNumber = seq;
  }
  const hint = doc.spiffe_refresh_hint;
  if (hint !== undefined && hint !== null) {
    if (typeof hint !== 'number' || !Number.isSafeInteger(hint)) throw new BundleError('malformed', `spiffe_refresh_hint must be an integer number of seconds, got ${JSON.stringify(hint)}`);
    bundle.refreshHint = hint;
  }
  const seen = new Set<string>();
  keysOf(doc, 'SPIFFE bundle').forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BundleError('malformed', `key ${i} is not a JSON object`);
    const use = (raw as PublicJwk).use;
    if (use !== 'x509-svid' && use !== 'jwt-svid') return;
    const jwk = jwkAt(raw, i);
    if (!SUPPORTED_KTY.includes(jwk.kty)) return;
    if (use === 'x509-svid') {
      const der = decodeX509Key(jwk, i);
      const k = der.toString('base64');
      if (!seen.has(k)) bundle.x509Authorities.push(der);
      seen.add(k);
    } else {
      putJwt(bundle.jwtAuthorities, decodeJwtKey(jwk, `jwt-svid entry ${i}`));
    }
  });
  return bundle;
}

/**
 * Encodes JWT authorities as a standard RFC 7517 JWK Set (no `use`, no
 * `spiffe_*` members, `kid` set, 4-space indent): the Workload API's
 * `JWTBundlesResponse.bundles` value, as SPIRE emits it.
 *
 * @example
 * ```ts
 * bundles[trustDomainId(b.trustDomain)] = encodeJwks(b.jwtAuthorities);
 * ```
 */
export function encodeJwks(authorities: readonly JwtAuthority[]): Buffer {
  return Buffer.from(JSON.stringify({ keys: authorities.map((a) => jwtAuthorityToJwk(a, null)) }, null, 4), 'utf8');
}

/**
 * Decodes a standard JWK Set of JWT authorities (go-spiffe's jwtbundle.Parse):
 * every key needs a `kid`, and, as go-jose does, unknown key types are errors.
 *
 * @throws BundleError
 * @example
 * ```ts
 * const authorities = decodeJwks(response.bundles['spiffe://example.org']);
 * ```
 */
export function decodeJwks(input: string | Uint8Array): JwtAuthority[] {
  const out: JwtAuthority[] = [];
  keysOf(parseDocument(input, 'JWKS'), 'JWKS').forEach((raw, i) => {
    const jwk = jwkAt(raw, i);
    if (!SUPPORTED_KTY.includes(jwk.kty)) {
      throw new BundleError('invalid-key', `JWKS key ${i} has unsupported kty ${JSON.stringify(jwk.kty)} (supported: ${SUPPORTED_KTY.join(', ')})`);
    }
    putJwt(out, decodeJwtKey(jwk, `JWKS key ${i}`));
  });
  return out;
}
