/**
 * Hash algorithms accepted by KeyManager `SignData`, keyed by the names of the
 * SPIRE `HashAlgorithm` proto enum, plus the DER `DigestInfo` RSASSA-PKCS1-v1_5
 * wraps around a digest.
 */

/** Name of a supported hash algorithm, as spelled by the SPIRE `HashAlgorithm` proto enum. */
export type HashAlgorithmName =
  | 'SHA224'
  | 'SHA256'
  | 'SHA384'
  | 'SHA512'
  | 'SHA3_224'
  | 'SHA3_256'
  | 'SHA3_384'
  | 'SHA3_512'
  | 'SHA512_224'
  | 'SHA512_256';

/** Static facts about one supported hash algorithm. */
export interface HashSpec {
  /** Proto enum name. */
  readonly name: HashAlgorithmName;
  /** Value of Go's `crypto.Hash` constant (and of the proto enum). */
  readonly goId: number;
  /** Algorithm name understood by node:crypto `createHash`. */
  readonly nodeName: string;
  /** Digest size in bytes. */
  readonly size: number;
  /** Last arc of the NIST hash OID 2.16.840.1.101.3.4.2.x. */
  readonly oidArc: number;
}

function spec(name: HashAlgorithmName, goId: number, nodeName: string, size: number, oidArc: number): HashSpec {
  return Object.freeze({ name, goId, nodeName, size, oidArc });
}

/** Every supported hash algorithm, by proto enum name. */
export const HASH_SPECS: Readonly<Record<HashAlgorithmName, HashSpec>> = Object.freeze({
  SHA224: spec('SHA224', 4, 'sha224', 28, 4),
  SHA256: spec('SHA256', 5, 'sha256', 32, 1),
  SHA384: spec('SHA384', 6, 'sha384', 48, 2),
  SHA512: spec('SHA512', 7, 'sha512', 64, 3),
  SHA3_224: spec('SHA3_224', 10, 'sha3-224', 28, 7),
  SHA3_256: spec('SHA3_256', 11, 'sha3-256', 32, 8),
  SHA3_384: spec('SHA3_384', 12, 'sha3-384', 48, 9),
  SHA3_512: spec('SHA3_512', 13, 'sha3-512', 64, 10),
  SHA512_224: spec('SHA512_224', 14, 'sha512-224', 28, 5),
  SHA512_256: spec('SHA512_256', 15, 'sha512-256', 32, 6),
});

const BY_GO_ID: ReadonlyMap<number, HashSpec> = new Map(Object.values(HASH_SPECS).map((s) => [s.goId, s]));

/**
 * Looks up a hash algorithm by proto enum name or Go `crypto.Hash` number.
 * @returns the spec, or `undefined` when the value is unknown, unsupported
 *   (e.g. SHA-1, MD5) or `UNSPECIFIED_HASH_ALGORITHM` / 0.
 */
export function lookupHash(value: string | number): HashSpec | undefined {
  if (typeof value === 'number') return BY_GO_ID.get(value);
  return Object.hasOwn(HASH_SPECS, value) ? HASH_SPECS[value as HashAlgorithmName] : undefined;
}

/**
 * Builds the DER encoding of PKCS#1 `DigestInfo { AlgorithmIdentifier, OCTET STRING digest }`
 * for `hash`, with explicit NULL parameters (as Go and OpenSSL emit them, SHA-3 included).
 * The caller is responsible for checking `digest.length === hash.size`.
 */
export function digestInfo(hash: HashSpec, digest: Uint8Array): Uint8Array {
  // 30 L1 30 0d 06 09 <2.16.840.1.101.3.4.2.x> 05 00 04 L2 <digest>; all lengths < 128.
  const algorithmId = [0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, hash.oidArc, 0x05, 0x00];
  const body = algorithmId.length + 2 + digest.length;
  const out = new Uint8Array(2 + body);
  out.set([0x30, body, ...algorithmId, 0x04, digest.length]);
  out.set(digest, 2 + algorithmId.length + 2);
  return out;
}
