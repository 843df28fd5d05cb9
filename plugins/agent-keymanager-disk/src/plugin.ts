import { join } from 'node:path';
import { s, schemaConfig, type BuiltConfig, type PluginDefinition } from '@spire-ts/plugin-sdk';
import { AGENT_KEYMANAGER_SERVICE, type KeyType, type SigningKey } from '@spire-ts/server-keymanager-memory';
import { DiskKeyManager, type FileOps } from '@spire-ts/server-keymanager-disk';

/** Name of the keys file in the configured directory (as SPIRE's agent `disk` KeyManager). */
export const KEYS_FILE_NAME = 'keys.json';

const configSchema = s.object({
  directory: s.string({ required: true, nonEmpty: true }),
});

/** Options of {@link agentDiskKeyManagerPlugin} (for tests; the binary passes none). */
export interface AgentDiskKeyManagerPluginOptions {
  generateKey?: (type: KeyType) => Promise<SigningKey>;
  fileOps?: Partial<FileOps>;
}

/**
 * The agent KeyManager `disk`: `plugin_data { directory = "..." }`; keys live
 * in `<directory>/keys.json` (directory created with mode 0700), loaded at
 * Configure and written atomically on every change, so a restarted agent
 * keeps its key and need not re-attest while its SVID is valid.
 */
export function agentDiskKeyManagerPlugin(
  opts: AgentDiskKeyManagerPluginOptions = {},
): PluginDefinition<typeof AGENT_KEYMANAGER_SERVICE, BuiltConfig<{ directory: string }>> {
  const km = new DiskKeyManager({ service: AGENT_KEYMANAGER_SERVICE, ...opts });
  return {
    service: km.service,
    impl: km.impl,
    config: schemaConfig(configSchema, { apply: ({ value }) => km.open(join(value.directory, KEYS_FILE_NAME)) }),
  };
}
