/**
 * The KeyManager as the CA sees it: keys that sign digests. Protobuf types
 * never appear here; v1.ts is the only file that touches the plugin's wire.
 */
export type KeyType = 'EC_P256' | 'EC_P384' | 'RSA_2048' | 'RSA_4096';

export type HashAlgorithm = 'SHA224' | 'SHA256' | 'SHA384' | 'SHA512' | 'SHA3_224' | 'SHA3_256' | 'SHA3_384' | 'SHA3_512' | 'SHA512_224' | 'SHA512_256';

export interface SignOptions {
  hash: HashAlgorithm;
  /** RSA-PSS with Go's salt rules (0 = maximum, -1 = hash length). */
  pss?: { saltLength: number };
}

/** A key held by the KeyManager; the private half never leaves it. */
export interface Key {
  readonly id: string;
  readonly type: KeyType;
  /** SubjectPublicKeyInfo DER. */
  readonly publicKeyDer: Uint8Array;
  readonly fingerprint: string;
  /** Signs an already computed digest. */
  sign(digest: Uint8Array, opts: SignOptions): Promise<Uint8Array>;
}

export interface KeyManager {
  generateKey(id: string, type: KeyType): Promise<Key>;
  /** The key, or undefined if the KeyManager has none with this id. */
  getKey(id: string): Promise<Key | undefined>;
  getKeys(): Promise<Key[]>;
}
