/**
 * Workload API response bodies (SPIRE's handler.go compose* functions) and
 * the JSON → google.protobuf.Struct conversion of ValidateJWTSVID claims.
 */
import { concatCertificates, jwtBundleMap, x509BundleMap, type Bundle } from '@spire-ts/common';
import type { workload } from '@spire-ts/proto';
import type { WorkloadIdentity, WorkloadUpdate } from './cache.js';

/** A response that cannot be built; the stream ends with UNAVAILABLE "could not serialize response: …". */
export class ComposeError extends Error {
  override readonly name = 'ComposeError';
}

function ownBundle(update: WorkloadUpdate): Bundle {
  // Defensive, as in SPIRE: the cache always has the own bundle once synced.
  if (!update.bundle) throw new ComposeError('bundle not available');
  return update.bundle;
}

/** `X509SVIDResponse` for identities already filtered for duplicate hints. */
export function composeX509SvidResponse(update: WorkloadUpdate, identities: readonly WorkloadIdentity[]): workload.X509SVIDResponse {
  const bundle = concatCertificates(ownBundle(update).x509Authorities);
  return {
    svids: identities.map((id) => ({
      spiffe_id: id.spiffeId,
      x509_svid: concatCertificates(id.certChainDer),
      x509_svid_key: Buffer.from(id.privateKeyPkcs8Der),
      bundle,
      hint: id.hint,
    })),
    crl: [],
    federated_bundles: x509BundleMap(update.federatedBundles),
  };
}

function bundlesFor(update: WorkloadUpdate): Bundle[] {
  const own = ownBundle(update);
  return update.identities.length > 0 ? [own, ...update.federatedBundles.filter((b) => b.trustDomain !== own.trustDomain)] : [own];
}

/** `X509BundlesResponse`: the own bundle, plus federated ones when the caller has an identity. */
export function composeX509BundlesResponse(update: WorkloadUpdate): workload.X509BundlesResponse {
  return { crl: [], bundles: x509BundleMap(bundlesFor(update)) };
}

/** `JWTBundlesResponse`: standard JWKS per trust domain, same rule as X.509 bundles. */
export function composeJwtBundlesResponse(update: WorkloadUpdate): workload.JWTBundlesResponse {
  return { bundles: jwtBundleMap(bundlesFor(update)) };
}

/** A stable text form of a `map<string, bytes>` for "did this response change?" checks. */
export function bytesMapKey(map: Readonly<Record<string, Uint8Array>>): string {
  return Object.keys(map)
    .sort()
    .map((k) => `${k}=${Buffer.from(map[k]!).toString('base64')}`)
    .join('\n');
}

type StructValue = NonNullable<NonNullable<workload.ValidateJWTSVIDResponse['claims']>['fields']>[string];

const MAX_DEPTH = 100;

function toValue(v: unknown, depth: number): StructValue {
  if (depth > MAX_DEPTH) throw new TypeError(`claims are nested deeper than ${MAX_DEPTH} levels`);
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  switch (typeof v) {
    case 'string':
      return { stringValue: v };
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`claim value ${String(v)} is not a finite number`);
      return { numberValue: v };
    case 'boolean':
      return { boolValue: v };
    case 'object':
      if (Array.isArray(v)) return { listValue: { values: v.map((x) => toValue(x, depth + 1)) } };
      return { structValue: toStruct(v as Record<string, unknown>, depth + 1) };
    default:
      throw new TypeError(`claim value of type ${typeof v} cannot be represented`);
  }
}

function toStruct(obj: Record<string, unknown>, depth: number): { fields: Record<string, StructValue> } {
  const fields: Record<string, StructValue> = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = toValue(v, depth);
  return { fields };
}

/**
 * JSON claims as a `google.protobuf.Struct` (what protojson makes of them in
 * SPIRE: numbers become doubles).
 *
 * @throws TypeError for values JSON cannot hold or nesting deeper than 100 levels.
 */
export function claimsToStruct(claims: Record<string, unknown>): { fields: Record<string, StructValue> } {
  return toStruct(claims, 0);
}
