export { MemoryKeyManager, memoryKeyManagerPlugin } from './keymanager.js';
export type { MemoryKeyManagerPluginOptions } from './keymanager.js';
export { KeyManager, SERVER_KEYMANAGER_SERVICE, AGENT_KEYMANAGER_SERVICE } from './keymanager-base.js';
export type { KeyEntry, KeyManagerOptions, KeyManagerServiceName, PersistKeys } from './keymanager-base.js';
export { generateKey, signDigest, exportPrivateKey, importPrivateKey, parseHashAlgorithm, SignError, KEY_TYPES, HASH_ALGORITHMS } from './keys.js';
export type { KeyType, SigningKey, SignOptions, HashAlgorithmName } from './keys.js';
