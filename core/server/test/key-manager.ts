// An in-process KeyManager with real keys, made and used by the memory
// KeyManager plugin's own key code, for tests that drive the CA without a
// plugin process (the agent's tests use it too).
// eslint-disable-next-line no-restricted-imports -- test only: sign digests exactly as the memory KeyManager does
import { generateKey, signDigest } from '../../../plugins/server-keymanager-memory/src/keys.js';
import type { Key, KeyManager, KeyManagerKeyType } from '../src/index.js';

/** Keys by id, and the ids generated in order; it outlives a CA manager "restart" (as the disk KeyManager would). */
export class InProcessKeyManager implements KeyManager {
  readonly keys = new Map<string, Key>();
  readonly generated: string[] = [];

  async generateKey(id: string, type: KeyManagerKeyType): Promise<Key> {
    const sk = await generateKey(type);
    const key: Key = { id, type, publicKeyDer: sk.publicKeyDer, fingerprint: sk.fingerprint, sign: (digest, opts) => Promise.resolve(signDigest(sk, digest, opts)) };
    this.keys.set(id, key);
    this.generated.push(id);
    return key;
  }
  getKey(id: string): Promise<Key | undefined> {
    return Promise.resolve(this.keys.get(id));
  }
  getKeys(): Promise<Key[]> {
    return Promise.resolve([...this.keys.values()]);
  }
}
