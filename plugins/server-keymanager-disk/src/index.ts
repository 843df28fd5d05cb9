export { diskKeyManagerPlugin } from './plugin.js';
export type { DiskKeyManagerPluginOptions } from './plugin.js';
export { DiskKeyManager } from './disk-keymanager.js';
export type { DiskKeyManagerOptions } from './disk-keymanager.js';
export { KEYS_FILE_MODE, KEYS_FILE_VERSION, decodeKeysFile, encodeKeysFile, readKeysFile, writeKeysFile } from './keys-file.js';
export { atomicWriteFile, nodeFileOps, tempPathFor } from './atomic-write.js';
export type { FileOps } from './atomic-write.js';
