import { s, schemaConfig, type BuiltConfig, type PluginDefinition } from '@spire-ts/plugin-sdk';
import { KeyManager, SERVER_KEYMANAGER_SERVICE, type KeyManagerServiceName } from './keymanager-base.js';
import type { KeyType, SigningKey } from './keys.js';

/**
 * A server KeyManager whose keys live only in this process's memory: they are
 * gone when the plugin exits (or is restarted), which is what `memory` promises.
 */
export class MemoryKeyManager extends KeyManager<typeof SERVER_KEYMANAGER_SERVICE> {
  constructor(opts: { generateKey?: (type: KeyType) => Promise<SigningKey> } = {}) {
    super({ service: SERVER_KEYMANAGER_SERVICE, ...opts });
  }
}

/** Options of {@link memoryKeyManagerPlugin}. */
export interface MemoryKeyManagerPluginOptions<S extends KeyManagerServiceName> {
  /** Which side's service (default: the server's). */
  service?: S;
  /** Key generator for tests. */
  generateKey?: (type: KeyType) => Promise<SigningKey>;
}

/**
 * The plugin definition, for `serve()` in the binary and for in-process
 * tests over the real wire. The agent's `memory` KeyManager is the same
 * plugin with `service: AGENT_KEYMANAGER_SERVICE`.
 */
export function memoryKeyManagerPlugin<S extends KeyManagerServiceName = typeof SERVER_KEYMANAGER_SERVICE>(
  opts: MemoryKeyManagerPluginOptions<S> = {},
): PluginDefinition<S, BuiltConfig<Record<string, never>>> {
  const service = opts.service ?? (SERVER_KEYMANAGER_SERVICE as S);
  const km = new KeyManager({ service, generateKey: opts.generateKey });
  return {
    service,
    impl: km.impl,
    // SPIRE's memory KeyManager has no settings: any key is an error, named with its position.
    config: schemaConfig(s.object({}), { apply: () => undefined }),
  };
}
