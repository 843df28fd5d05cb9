export { MemoryKeyManager, memoryKeyManagerPlugin } from './keymanager.js';
export { generateKey, signDigest, exportPrivateKey, importPrivateKey, parseHashAlgorithm, SignError, KEY_TYPES, HASH_ALGORITHMS } from './keys.js';
export type { KeyType, SigningKey, SignOptions, HashAlgorithmName } from './keys.js';
