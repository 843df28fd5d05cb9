export { azureMsiServerPlugin, AzureMsiServerAttestor, SERVER_NODE_ATTESTOR_SERVICE } from './plugin.js';
export type { AzureMsiServerOptions } from './plugin.js';
export { attestToken, parsePayload, verifyToken, validateClaims, tokenSelectors, PLUGIN_NAME, MAX_PAYLOAD_BYTES, TOKEN_LEEWAY_SECONDS } from './attest.js';
export type { AttestationResult, MsiClaims } from './attest.js';
export { buildAttestorConfig, configSchema, DEFAULT_MSI_RESOURCE_ID, DEFAULT_OPENID_ISSUER_URL } from './config.js';
export type { AttestorConfig, RawConfig, TenantConfig } from './config.js';
export { OpenIdKeySet, KeySetError, parseJwks, verifyJws, ALLOWED_ALGORITHMS } from './jwks.js';
export { AgentPathTemplate, TemplateError, validateAgentPath, DEFAULT_AGENT_PATH_TEMPLATE } from './template.js';
