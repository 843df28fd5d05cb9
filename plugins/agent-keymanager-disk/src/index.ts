export { agentDiskKeyManagerPlugin, KEYS_FILE_NAME } from './plugin.js';
export type { AgentDiskKeyManagerPluginOptions } from './plugin.js';
