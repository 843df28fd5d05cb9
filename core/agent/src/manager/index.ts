/**
 * The agent's cache manager: entry/bundle sync with the SPIRE server,
 * X.509-SVID issuance and rotation, the JWT-SVID cache, and the
 * {@link WorkloadCache} the Workload API serves from.
 *
 * @module
 */
export {
  AgentManager,
  DEFAULT_MANAGER_SYNC_INTERVAL_MS,
  DEFAULT_X509_SVID_CACHE_MAX_SIZE,
  DEFAULT_JWT_SVID_CACHE_MAX_SIZE,
  MAX_SYNC_BACKOFF_MULTIPLE,
  DEGRADED_MESSAGE,
  RECOVERED_MESSAGE,
  SVIDS_OVERDUE_MESSAGE,
  SVIDS_EXPIRED_MESSAGE,
  SVIDS_CURRENT_MESSAGE,
} from './manager.js';
export type { AgentManagerOptions, ManagerTimers } from './manager.js';
export { Backoff, BACKOFF_MULTIPLIER, BACKOFF_JITTER } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { MAX_X509_BATCH, generateWorkloadKey } from './x509-minter.js';
export { jwtCacheKey, jwtNeedsRenewal } from './jwt-cache.js';
