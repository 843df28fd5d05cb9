/**
 * The agent's admin API (admin_socket_path): the Debug service and the
 * Delegated Identity API.
 *
 * @module
 */
export { AdminApiServer, checkAdminSocketPath } from './server.js';
export type { AdminApiServerOptions, AdminDelegatedIdentityOptions } from './server.js';
export { agentDebugService, DEBUG_INFO_CACHE_MS } from './debug.js';
export type { AgentDebugSource, AgentDebugOptions } from './debug.js';
export { delegatedIdentityService, MAX_DELEGATED_SELECTORS } from './delegated.js';
export type { DelegatedIdentitySource, DelegatedIdentityDeps } from './delegated.js';
