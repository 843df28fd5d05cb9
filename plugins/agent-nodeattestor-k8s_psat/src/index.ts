export { K8sPsatAgentAttestor, k8sPsatAgentPlugin, AGENT_NODE_ATTESTOR_SERVICE, DEFAULT_TOKEN_PATH, MAX_TOKEN_BYTES } from './plugin.js';
export type { K8sPsatAgentConfig, K8sPsatAgentOptions } from './plugin.js';
