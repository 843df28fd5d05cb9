import { PluginError, Status, s, schemaConfig, type BuiltConfig, type PluginDefinition, type ServiceImpl } from '@spire-ts/plugin-sdk';
import { KEY_TYPES, SignError, generateKey, signDigest, type KeyType, type SigningKey } from './keys.js';

const SERVICE = 'spire.plugin.server.keymanager.v1.KeyManager';
type KeyManagerService = typeof SERVICE;

interface PublicKeyMessage {
  id: string;
  type: KeyType;
  pkix_data: Uint8Array;
  fingerprint: string;
}

function isKeyType(v: string): v is KeyType {
  return (KEY_TYPES as readonly string[]).includes(v);
}

function publicKey(id: string, key: SigningKey): PublicKeyMessage {
  return { id, type: key.type, pkix_data: key.publicKeyDer, fingerprint: key.fingerprint };
}

/**
 * A KeyManager whose keys live only in this process's memory: they are gone
 * when the plugin exits (or is restarted), which is what `memory` promises.
 */
export class MemoryKeyManager {
  private readonly keys = new Map<string, SigningKey>();

  readonly impl: ServiceImpl<KeyManagerService> = {
    GenerateKey: async (req) => {
      if (!req.key_id) throw PluginError.invalidArgument('key id is required');
      if (req.key_type === 'UNSPECIFIED_KEY_TYPE' || !isKeyType(req.key_type)) {
        throw PluginError.invalidArgument(`key type is required (one of ${KEY_TYPES.join(', ')}), got ${req.key_type}`);
      }
      const key = await generateKey(req.key_type);
      this.keys.set(req.key_id, key);
      return { public_key: publicKey(req.key_id, key) };
    },
    GetPublicKey: (req) => {
      if (!req.key_id) throw PluginError.invalidArgument('key id is required');
      const key = this.keys.get(req.key_id);
      // SPIRE's built-ins answer an unknown id with an empty response; the host maps it to NotFound.
      return key ? { public_key: publicKey(req.key_id, key) } : {};
    },
    GetPublicKeys: () => {
      const ids = [...this.keys.keys()].sort();
      return { public_keys: ids.map((id) => publicKey(id, this.keys.get(id)!)) };
    },
    SignData: (req) => {
      if (!req.key_id) throw PluginError.invalidArgument('key id is required');
      const key = this.keys.get(req.key_id);
      if (!key) throw new PluginError(Status.NOT_FOUND, `key "${req.key_id}" not found`);
      let opts;
      if (req.signer_opts === 'pss_options' && req.pss_options) {
        opts = { hash: req.pss_options.hash_algorithm, pss: { saltLength: req.pss_options.salt_length } };
      } else if (req.signer_opts === 'hash_algorithm' && req.hash_algorithm !== undefined) {
        opts = { hash: req.hash_algorithm };
      } else {
        throw PluginError.invalidArgument('signer opts is required (hash_algorithm or pss_options)');
      }
      try {
        const signature = signDigest(key, req.data, opts);
        return { signature, key_fingerprint: key.fingerprint };
      } catch (err) {
        if (err instanceof SignError) throw PluginError.invalidArgument(`unable to sign data: ${err.message}`);
        throw err;
      }
    },
  };
}

/**
 * The plugin definition, for `serve()` in the binary and for in-process
 * tests over the real wire.
 */
export function memoryKeyManagerPlugin(): PluginDefinition<KeyManagerService, BuiltConfig<Record<string, never>>> {
  const km = new MemoryKeyManager();
  return {
    service: SERVICE,
    impl: km.impl,
    // SPIRE's memory KeyManager has no settings: any key is an error, named with its position.
    config: schemaConfig(s.object({}), { apply: () => undefined }),
  };
}
