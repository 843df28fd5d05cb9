import { createPublicKey } from 'node:crypto';
import type { ManagedPlugin, PluginHostError } from '@spire-ts/common';
import { Status, isServiceError } from '@spire-ts/plugin-sdk';
import { FacadeErrors } from '../facade.js';
import type { Key, KeyManager, KeyType, SignOptions } from './keymanager.js';

type Service = 'spire.plugin.server.keymanager.v1.KeyManager';

interface PublicKeyMessage {
  id: string;
  type: string;
  pkix_data: Buffer | Uint8Array;
  fingerprint: string;
}

const KEY_TYPES: readonly string[] = ['EC_P256', 'EC_P384', 'RSA_2048', 'RSA_4096'];

/**
 * KeyManager facade over a plugin (SPIRE's keymanager/v1.go): every plugin
 * response is hostile input — the key id, type and PKIX data are checked,
 * and a signature made with a key whose fingerprint changed is refused.
 * Errors are prefixed `keymanager(<name>): ` once, keeping their gRPC code.
 */
export class KeyManagerV1 implements KeyManager {
  constructor(private readonly plugin: ManagedPlugin<Service>) {
    this.errors = new FacadeErrors(plugin.label);
  }

  private readonly errors: FacadeErrors;

  private fail(code: Status, msg: string, cause?: unknown): PluginHostError {
    return this.errors.fail(code, msg, cause);
  }

  private wrap(err: unknown, what: string): PluginHostError {
    return this.errors.wrap(err, what);
  }

  private toKey(requestedId: string, pk: PublicKeyMessage | null | undefined): Key {
    if (!pk) throw this.fail(Status.INTERNAL, `plugin returned no public key for "${requestedId}"`);
    if (pk.id !== requestedId) throw this.fail(Status.INTERNAL, `plugin returned key "${pk.id}" for "${requestedId}"`);
    if (!KEY_TYPES.includes(pk.type)) throw this.fail(Status.INTERNAL, `plugin returned key "${pk.id}" with unsupported type ${pk.type}`);
    if (!pk.fingerprint) throw this.fail(Status.INTERNAL, `plugin returned key "${pk.id}" without a fingerprint`);
    const der = new Uint8Array(pk.pkix_data);
    try {
      createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
    } catch (err) {
      throw this.fail(Status.INTERNAL, `plugin returned key "${pk.id}" with unparsable PKIX data`, err);
    }
    const fingerprint = pk.fingerprint;
    return {
      id: pk.id,
      type: pk.type as KeyType,
      publicKeyDer: der,
      fingerprint,
      sign: async (digest: Uint8Array, opts: SignOptions): Promise<Uint8Array> => {
        let res;
        try {
          res = await this.plugin.call('SignData', {
            key_id: pk.id,
            data: digest,
            ...(opts.pss ? { pss_options: { salt_length: opts.pss.saltLength, hash_algorithm: opts.hash } } : { hash_algorithm: opts.hash }),
          });
        } catch (err) {
          throw this.wrap(err, `failed to sign with key "${pk.id}"`);
        }
        if (res.key_fingerprint !== fingerprint) {
          throw this.fail(Status.INTERNAL, `fingerprint ${JSON.stringify(res.key_fingerprint)} of the signing key "${pk.id}" does not match ${JSON.stringify(fingerprint)}`);
        }
        if (res.signature.length === 0) throw this.fail(Status.INTERNAL, `empty signature from key "${pk.id}"`);
        return new Uint8Array(res.signature);
      },
    };
  }

  async generateKey(id: string, type: KeyType): Promise<Key> {
    let res;
    try {
      res = await this.plugin.call('GenerateKey', { key_id: id, key_type: type });
    } catch (err) {
      throw this.wrap(err, `failed to generate key "${id}"`);
    }
    const key = this.toKey(id, res.public_key);
    if (key.type !== type) throw this.fail(Status.INTERNAL, `plugin generated a ${key.type} key for "${id}", asked for ${type}`);
    return key;
  }

  async getKey(id: string): Promise<Key | undefined> {
    let res;
    try {
      res = await this.plugin.call('GetPublicKey', { key_id: id });
    } catch (err) {
      if (isServiceError(err) && err.code === Status.NOT_FOUND) return undefined;
      throw this.wrap(err, `failed to get key "${id}"`);
    }
    return res.public_key ? this.toKey(id, res.public_key) : undefined;
  }

  async getKeys(): Promise<Key[]> {
    let res;
    try {
      res = await this.plugin.call('GetPublicKeys', {});
    } catch (err) {
      throw this.wrap(err, 'failed to list keys');
    }
    return res.public_keys.map((pk) => this.toKey(pk.id, pk));
  }
}
