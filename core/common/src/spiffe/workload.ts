/**
 * Workload API bundle maps (go-spiffe proto/spiffe/workload/workload.proto at
 * e9973f63; SPIRE's workload handler at ef8527ec): keyed by trust domain
 * SPIFFE ID (`spiffe://example.org`), X.509 values are concatenated DER CA
 * certificates, JWT values are standard JWK Set JSON bytes. The same shapes
 * serve SPIRE's Delegated Identity API.
 */
import { decodeJwks, encodeJwks } from './bundle.js';
import { concatCertificates, splitCertificates } from './der.js';
import { BundleError } from './errors.js';
import { parseTrustDomain, trustDomainId } from './id.js';
import type { Bundle, JwtAuthority } from './types.js';

/** A protobuf `map<string, bytes>` as grpc-js decodes it, or a Map. */
export type BytesMap = Readonly<Record<string, Uint8Array>> | ReadonlyMap<string, Uint8Array>;

function entries(map: BytesMap): [string, Uint8Array][] {
  return map instanceof Map ? [...map.entries()] : Object.entries(map as Record<string, Uint8Array>);
}

function decodeMap<T>(map: BytesMap, what: string, decode: (v: Uint8Array) => T): Map<string, T> {
  const out = new Map<string, T>();
  for (const [key, value] of entries(map)) {
    let td: string;
    try {
      td = parseTrustDomain(key);
    } catch (err) {
      throw new BundleError('malformed', `${what} key ${JSON.stringify(key)} is not a trust domain: ${(err as Error).message}`, { cause: err });
    }
    if (out.has(td)) throw new BundleError('malformed', `${what} has two entries for trust domain ${JSON.stringify(td)}`);
    try {
      out.set(td, decode(value));
    } catch (err) {
      throw new BundleError((err as BundleError).reason ?? 'malformed', `${what} entry ${JSON.stringify(key)}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

/**
 * Builds `X509BundlesResponse.bundles` / `X509SVIDResponse.federated_bundles`:
 * `spiffe://<td>` → concatenated DER of the bundle's X.509 authorities.
 *
 * @example
 * ```ts
 * const response = { bundles: x509BundleMap([own, ...federated]), crl: [] };
 * ```
 */
export function x509BundleMap(bundles: Iterable<Bundle>): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const b of bundles) out[trustDomainId(b.trustDomain)] = concatCertificates(b.x509Authorities);
  return out;
}

/**
 * Builds `JWTBundlesResponse.bundles`: `spiffe://<td>` → standard JWKS JSON bytes.
 *
 * @example
 * ```ts
 * call.write({ bundles: jwtBundleMap([own, ...federated]) });
 * ```
 */
export function jwtBundleMap(bundles: Iterable<Bundle>): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const b of bundles) out[trustDomainId(b.trustDomain)] = encodeJwks(b.jwtAuthorities);
  return out;
}

/**
 * Reads an X.509 bundle map into bare trust domain name → DER certificates.
 * Keys may be `spiffe://td` (what SPIRE sends) or bare names (which go-spiffe
 * also accepts).
 *
 * @throws BundleError for bad keys, duplicate trust domains or unparsable certificates.
 * @example
 * ```ts
 * const roots = parseX509BundleMap(response.bundles).get('example.org');
 * ```
 */
export function parseX509BundleMap(map: BytesMap): Map<string, Buffer[]> {
  return decodeMap(map, 'X.509 bundle map', splitCertificates);
}

/**
 * Reads a JWT bundle map into bare trust domain name → JWT authorities.
 *
 * @throws BundleError
 * @example
 * ```ts
 * const keys = parseJwtBundleMap(response.bundles);
 * validateJwtSvid(token, { audience: 'api', bundles: keys });
 * ```
 */
export function parseJwtBundleMap(map: BytesMap): Map<string, JwtAuthority[]> {
  return decodeMap(map, 'JWT bundle map', decodeJwks);
}
