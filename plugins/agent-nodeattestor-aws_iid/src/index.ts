export { NODE_ATTESTOR_SERVICE, awsIidAgentPlugin, fetchAttestationData } from './plugin.js';
export type { AwsIidAgentConfig, IIDAttestationData } from './plugin.js';
export { DEFAULT_IMDS_ENDPOINT, ImdsClient, ImdsError, TOKEN_TTL_SECONDS, imdsBase } from './imds.js';
