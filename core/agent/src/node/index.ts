/**
 * The agent's node identity: attestation, the agent SVID and trust bundle
 * (persisted in data_dir, renewed, refreshed) and the authenticated
 * connection to the SPIRE server with the {@link AgentServerApi} over it.
 */
export { NodeIdentity, nodeIdentityOptions, newAgentKey, DEFAULT_BUNDLE_REFRESH_MS, DEFAULT_RETRY_MS } from './identity.js';
export type { NodeIdentityOptions } from './identity.js';
export { ServerConnection, unaryCall, DEFAULT_CALL_TIMEOUT_MS } from './connection.js';
export type { ConnectionCredentials } from './connection.js';
export { ServerApiClient } from './api.js';
export type { AgentServerApi, AgentEntry, X509SvidResult, JwtSvidResult } from './server-api.js';
export { JoinTokenAttestor, JOIN_TOKEN_TYPE } from './attestor.js';
export type { AgentNodeAttestor, AttestationSession } from './attestor.js';
export { NodeAttestorV1 } from './nodeattestor-v1.js';
export { attestAgent, renewAgent, checkAgentSvid } from './attest.js';
export type { AgentSvid } from './attest.js';
export { loadBootstrapBundle, parseBundle, describeSource } from './bootstrap.js';
export { AgentStorage, writeAtomic, SVID_FILE, KEY_FILE, BUNDLE_FILE, DATA_FILE } from './storage.js';
export type { AgentData, LostIdentity, StoredIdentity } from './storage.js';
export { NodeIdentityError, deniedReason, decodeDeniedReason } from './errors.js';
export type { NodeErrorCode, DeniedReason } from './errors.js';
export { AGENT_ENTRY_MASK } from './convert.js';
