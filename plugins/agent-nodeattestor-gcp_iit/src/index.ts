export {
  AGENT_NODE_ATTESTOR_SERVICE,
  DEFAULT_IDENTITY_TOKEN_HOST,
  DEFAULT_SERVICE_ACCOUNT,
  FETCH_TIMEOUT_MS,
  GcpIitAgentAttestor,
  IDENTITY_TOKEN_AUDIENCE,
  MAX_TOKEN_BYTES,
  fetchIdentityToken,
  gcpIitAgentPlugin,
  identityTokenUrl,
} from './plugin.js';
export type { GcpIitAgentConfig, GcpIitAgentOptions } from './plugin.js';
