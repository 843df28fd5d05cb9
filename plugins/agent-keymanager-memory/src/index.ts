export { agentMemoryKeyManagerPlugin } from './plugin.js';
