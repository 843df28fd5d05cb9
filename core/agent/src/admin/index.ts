/**
 * The agent's admin API (admin_socket_path): the Debug service.
 *
 * @module
 */
export { AdminApiServer, checkAdminSocketPath } from './server.js';
export type { AdminApiServerOptions } from './server.js';
export { agentDebugService, DEBUG_INFO_CACHE_MS } from './debug.js';
export type { AgentDebugSource, AgentDebugOptions } from './debug.js';
