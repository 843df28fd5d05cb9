/**
 * Pure SPIFFE primitives: SPIFFE IDs and trust domains, SPIRE's reserved IDs,
 * JWT-SVID signing and validation, SPIFFE bundles and the Workload API
 * bundle encodings. No I/O; node:crypto only. The Node SDK re-exports these.
 */
export { SpiffeIdError, JwtSvidError, BundleError } from './errors.js';
export type { SpiffeIdErrorReason, JwtSvidErrorReason, BundleErrorReason } from './errors.js';
export {
  SpiffeId,
  parseSpiffeId,
  isValidSpiffeId,
  parseTrustDomain,
  trustDomainId,
  isMemberOf,
  validatePath,
  validatePathSegment,
  joinPathSegments,
  spiffeIdFromPath,
  spiffeIdFromSegments,
  MAX_SPIFFE_ID_BYTES,
  MAX_TRUST_DOMAIN_BYTES,
} from './id.js';
export { agentId, serverId, isReservedPath, isAgentPath, isAgentId, isServerId, SERVER_ID_PATH, AGENT_PATH_PREFIX } from './spire-ids.js';
export { JWT_ALGORITHMS, isJwtAlgorithm } from './jwt-alg.js';
export type { JwtAlgorithm, JwtHashAlgorithm } from './jwt-alg.js';
export { signJwtSvid, jwtSvidSigningInput } from './jwt-sign.js';
export type { JwtSvidSignParams, JwtDigestSigner, JwtDigestSignOptions } from './jwt-sign.js';
export { validateJwtSvid, decodeJwtUnverified } from './jwt-validate.js';
export type { ValidateJwtSvidOptions, ValidatedJwtSvid, JwtKey, JwtBundleSource, DecodedJwt } from './jwt-validate.js';
export { jwkToSpki, spkiToJwk, jwkToKeyObject, spkiToKeyObject, keyObjectToJwk } from './jwk.js';
export type { PublicJwk } from './jwk.js';
export { encodeSpiffeBundle, decodeSpiffeBundle, encodeJwks, decodeJwks, x509AuthorityToJwk, jwtAuthorityToJwk } from './bundle.js';
export type { EncodeSpiffeBundleOptions } from './bundle.js';
export { concatCertificates, splitCertificates, ecdsaDerToJose, ecdsaJoseToDer } from './der.js';
export { x509BundleMap, jwtBundleMap, parseX509BundleMap, parseJwtBundleMap } from './workload.js';
export type { BytesMap } from './workload.js';
export type { Bundle, JwtAuthority } from './types.js';
