// A plugin skeleton. TODO: pick your plugin type's service below (see
// PLUGIN_SERVICE_NAMES in @spire-ts/plugin-sdk), implement its RPCs, and
// delete the UNIMPLEMENTED notes. Every RPC left out answers UNIMPLEMENTED.
import { createLogger, s, schemaConfig, type BuiltConfig, type PluginDefinition } from '@spire-ts/plugin-sdk';

const SERVICE = 'spire.plugin.server.keymanager.v1.KeyManager';

// TODO: your plugin_data keys. Unknown keys are refused by name.
const configSchema = s.object({
  greeting: s.string({ default: 'hello' }),
});

export type Config = BuiltConfig<{ greeting: string }>;

export function templatePlugin(): PluginDefinition<typeof SERVICE, Config> {
  const log = createLogger({ module: 'plugin-template' });
  let config: Config | undefined;
  return {
    service: SERVICE,
    impl: {
      // TODO: GenerateKey, GetPublicKey, GetPublicKeys, SignData.
    },
    config: schemaConfig(configSchema, {
      apply: (c) => {
        config = c;
        log.info('configured', { trust_domain: c.trustDomain, greeting: config.value.greeting });
      },
    }),
  };
}
