import { s, schemaConfig, type BuiltConfig, type PluginDefinition } from '@spire-ts/plugin-sdk';
import { SERVER_KEYMANAGER_SERVICE, type KeyType, type SigningKey } from '@spire-ts/server-keymanager-memory';
import type { FileOps } from './atomic-write.js';
import { DiskKeyManager } from './disk-keymanager.js';

const configSchema = s.object({
  keys_path: s.string({ required: true, nonEmpty: true }),
});

/** Options of {@link diskKeyManagerPlugin} (for tests; the binary passes none). */
export interface DiskKeyManagerPluginOptions {
  generateKey?: (type: KeyType) => Promise<SigningKey>;
  fileOps?: Partial<FileOps>;
}

/**
 * The server KeyManager `disk`: `plugin_data { keys_path = "..." }`; keys
 * are loaded at Configure and written atomically on every change. A
 * re-Configure with another `keys_path` switches to that file.
 */
export function diskKeyManagerPlugin(
  opts: DiskKeyManagerPluginOptions = {},
): PluginDefinition<typeof SERVER_KEYMANAGER_SERVICE, BuiltConfig<{ keys_path: string }>> {
  const km = new DiskKeyManager({ service: SERVER_KEYMANAGER_SERVICE, ...opts });
  return {
    service: km.service,
    impl: km.impl,
    config: schemaConfig(configSchema, { apply: ({ value }) => km.open(value.keys_path) }),
  };
}
