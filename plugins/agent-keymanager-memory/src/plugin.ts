import type { BuiltConfig, PluginDefinition } from '@spire-ts/plugin-sdk';
import { AGENT_KEYMANAGER_SERVICE, memoryKeyManagerPlugin, type KeyType, type SigningKey } from '@spire-ts/server-keymanager-memory';

/**
 * The agent KeyManager `memory`: the agent's keys (its own and its workloads')
 * live in the plugin process only, so a restarted agent must re-attest. No
 * configuration; any `plugin_data` key is refused by name.
 */
export function agentMemoryKeyManagerPlugin(
  opts: { generateKey?: (type: KeyType) => Promise<SigningKey> } = {},
): PluginDefinition<typeof AGENT_KEYMANAGER_SERVICE, BuiltConfig<Record<string, never>>> {
  return memoryKeyManagerPlugin({ service: AGENT_KEYMANAGER_SERVICE, ...opts });
}
