/**
 * The agent's SPIFFE Workload API: cache contract, workload attestation and
 * the socket server.
 *
 * @module
 */
export { entryMatches, selectorKey, compareEntries, filterDuplicateHints } from './cache.js';
export type {
  Selector,
  WorkloadEntry,
  WorkloadIdentity,
  WorkloadUpdate,
  WorkloadUpdateListener,
  JwtSvid,
  WorkloadCache,
} from './cache.js';
export { StaticWorkloadCache } from './static-cache.js';
export type { StaticWorkloadCacheOptions, JwtSvidMinter, X509SvidMaterial } from './static-cache.js';
export { WorkloadAttestorV1 } from './attestor-v1.js';
export type { WorkloadAttestor } from './attestor-v1.js';
export { WorkloadAttestation, WorkloadAttestationError, verifyCaller } from './attestation.js';
export type { CallerProcess, WorkloadAttestationOptions, WorkloadAttestationErrorReason } from './attestation.js';
export { WorkloadApiServer } from './server.js';
export type { WorkloadApiServerOptions } from './server.js';
export { prepareSocketPath, probeSocketPath, checkDirectoryChain, SocketPathError, MAX_SOCKET_PATH_BYTES, SOCKET_DIR_MODE } from './socket.js';
export type { ProbeSocketOptions } from './socket.js';
export { workloadApiHandlers } from './handlers.js';
export type { WorkloadHandlerDeps } from './handlers.js';
export { claimsToStruct, ComposeError } from './responses.js';
export { addWorkloadHealthService, workloadHealthService } from './health.js';
export { addSdsService, sdsHandlers, buildSdsResponse, SECRET_TYPE_URL, DEFAULT_SDS_SVID_WAIT_MS } from './sds.js';
export type { SdsOptions, SdsHandlerDeps } from './sds.js';
