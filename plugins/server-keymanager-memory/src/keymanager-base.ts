import { PluginError, Status, type ServiceImpl } from '@spire-ts/plugin-sdk';
import { KEY_TYPES, SignError, generateKey, signDigest, type KeyType, type SigningKey } from './keys.js';

/** The server KeyManager service (SPIRE plugin SDK `spire.plugin.server.keymanager.v1`). */
export const SERVER_KEYMANAGER_SERVICE = 'spire.plugin.server.keymanager.v1.KeyManager';
/** The agent KeyManager service: the same messages in package `spire.plugin.agent.keymanager.v1`. */
export const AGENT_KEYMANAGER_SERVICE = 'spire.plugin.agent.keymanager.v1.KeyManager';

/** Either KeyManager service; {@link KeyManager} serves both. */
export type KeyManagerServiceName = typeof SERVER_KEYMANAGER_SERVICE | typeof AGENT_KEYMANAGER_SERVICE;

/** A key and the id the host gave it. */
export interface KeyEntry {
  readonly id: string;
  readonly key: SigningKey;
}

/**
 * Persistence hook: receives every key (sorted by id) after a change, before
 * the change becomes visible. Calls never overlap. Throw to refuse the change:
 * the key set stays as it was and `GenerateKey` fails with the thrown error.
 */
export type PersistKeys = (entries: readonly KeyEntry[]) => Promise<void>;

/** Options of {@link KeyManager}. */
export interface KeyManagerOptions<S extends KeyManagerServiceName> {
  /** Which side's service to serve. */
  service: S;
  /** Called on every change; omit for keys held in memory only. */
  persist?: PersistKeys;
  /** Key generator (tests inject a fast or deterministic one); defaults to {@link generateKey}. */
  generateKey?: (type: KeyType) => Promise<SigningKey>;
}

type ServerImpl = ServiceImpl<typeof SERVER_KEYMANAGER_SERVICE>;

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
 * SPIRE's KeyManager semantics (its `keymanagerbase`) for either side, with
 * keys in memory and an optional {@link PersistKeys} hook for storage.
 *
 * @example
 * ```ts
 * const km = new KeyManager({ service: AGENT_KEYMANAGER_SERVICE, persist: (entries) => save(entries) });
 * await serve({ service: km.service, impl: km.impl });
 * ```
 */
export class KeyManager<S extends KeyManagerServiceName = KeyManagerServiceName> {
  readonly service: S;
  /** The gRPC handlers, for a {@link PluginDefinition}. */
  readonly impl: ServiceImpl<S>;
  // Replaced, never mutated, so readers always see a persisted key set.
  private keys: ReadonlyMap<string, SigningKey> = new Map();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly persist: PersistKeys | undefined;
  private readonly generate: (type: KeyType) => Promise<SigningKey>;

  constructor(opts: KeyManagerOptions<S>) {
    this.service = opts.service;
    this.persist = opts.persist;
    this.generate = opts.generateKey ?? generateKey;
    const impl: ServerImpl = this.handlers();
    // Both packages declare identical messages; this assignment proves it at compile time.
    const agentImpl: ServiceImpl<typeof AGENT_KEYMANAGER_SERVICE> = impl;
    this.impl = (opts.service === AGENT_KEYMANAGER_SERVICE ? agentImpl : impl) as ServiceImpl<S>;
  }

  /** Every key, sorted by id. */
  entries(): KeyEntry[] {
    return [...this.keys.keys()].sort().map((id) => ({ id, key: this.keys.get(id)! }));
  }

  /**
   * Runs `fn` once every earlier change has been persisted and before any
   * later one starts: for storage that switches files or loads keys.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Replaces every key (e.g. with those loaded from storage); not persisted. Call inside {@link exclusive}. */
  setKeys(entries: Iterable<KeyEntry>): void {
    const next = new Map<string, SigningKey>();
    for (const { id, key } of entries) next.set(id, key);
    this.keys = next;
  }

  private async generateKey(id: string, type: KeyType): Promise<SigningKey> {
    const key = await this.generate(type);
    // Generation runs concurrently; changes are applied and persisted one at a
    // time, each write holding every earlier key, so none is lost.
    return this.exclusive(async () => {
      const next = new Map(this.keys);
      next.set(id, key);
      if (this.persist) {
        await this.persist([...next.keys()].sort().map((k) => ({ id: k, key: next.get(k)! })));
      }
      this.keys = next;
      return key;
    });
  }

  private handlers(): ServerImpl {
    return {
      GenerateKey: async (req) => {
        if (!req.key_id) throw PluginError.invalidArgument('key id is required');
        if (req.key_type === 'UNSPECIFIED_KEY_TYPE' || !isKeyType(req.key_type)) {
          throw PluginError.invalidArgument(`key type is required (one of ${KEY_TYPES.join(', ')}), got ${req.key_type}`);
        }
        const key = await this.generateKey(req.key_id, req.key_type);
        return { public_key: publicKey(req.key_id, key) };
      },
      GetPublicKey: (req) => {
        if (!req.key_id) throw PluginError.invalidArgument('key id is required');
        const key = this.keys.get(req.key_id);
        // SPIRE's built-ins answer an unknown id with an empty response; the host maps it to NotFound.
        return key ? { public_key: publicKey(req.key_id, key) } : {};
      },
      GetPublicKeys: () => ({ public_keys: this.entries().map(({ id, key }) => publicKey(id, key)) }),
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
}
