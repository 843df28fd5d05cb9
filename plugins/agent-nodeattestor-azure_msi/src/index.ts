export { AzureMsiAgentAttestor, azureMsiAgentPlugin, fetchMsiToken, AGENT_NODE_ATTESTOR_SERVICE, DEFAULT_IMDS_ENDPOINT, DEFAULT_MSI_RESOURCE_ID } from './plugin.js';
export type { AzureMsiAgentConfig, AzureMsiAgentOptions } from './plugin.js';
