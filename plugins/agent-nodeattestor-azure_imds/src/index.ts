export { azureImdsAgentPlugin, fetchAttestedDocument, fetchComputeMetadata, AGENT_NODE_ATTESTOR_SERVICE, DEFAULT_IMDS_ENDPOINT, INITIAL_PAYLOAD } from './plugin.js';
export type { AzureImdsAgentConfig, AttestedDocument } from './plugin.js';
