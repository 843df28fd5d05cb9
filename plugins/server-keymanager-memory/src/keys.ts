/**
 * Key generation and pre-hashed digest signing with the semantics of Go's
 * `crypto.Signer.Sign(rand, digest, opts)`, which is what SPIRE's KeyManager
 * `SignData` exposes: `data` is an already computed digest, never the message.
 */
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateKeyPairCb,
  privateEncrypt,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { P256, P384, bytesToBigInt, ecdsaSignDigest, type EcCurve } from './ecdsa.js';
import { HASH_SPECS, digestInfo, lookupHash, type HashAlgorithmName, type HashSpec } from './digestinfo.js';
import { emsaPssEncode, pssEncodedLength } from './pss.js';

export type { HashAlgorithmName } from './digestinfo.js';

const generateKeyPair = promisify(generateKeyPairCb);

/** Key types a KeyManager can generate, as spelled by the SPIRE `KeyType` proto enum. */
export type KeyType = 'EC_P256' | 'EC_P384' | 'RSA_2048' | 'RSA_4096';

/** Every supported {@link KeyType}. */
export const KEY_TYPES: readonly KeyType[] = Object.freeze(['EC_P256', 'EC_P384', 'RSA_2048', 'RSA_4096']);

/** Every supported {@link HashAlgorithmName}. */
export const HASH_ALGORITHMS: readonly HashAlgorithmName[] = Object.freeze(
  Object.keys(HASH_SPECS) as HashAlgorithmName[],
);

/**
 * A private key plus its public half. The private key is reachable only through
 * {@link signDigest} and {@link exportPrivateKey}; it is not a property of this object.
 */
export interface SigningKey {
  /** The key's type. */
  readonly type: KeyType;
  /** Public key as DER SubjectPublicKeyInfo (Go's `x509.MarshalPKIXPublicKey`). Do not mutate. */
  readonly publicKeyDer: Uint8Array;
  /** Lowercase hex SHA-256 of {@link SigningKey.publicKeyDer}. */
  readonly fingerprint: string;
}

/** Options for {@link signDigest}; the equivalent of Go's `crypto.SignerOpts`. */
export interface SignOptions {
  /**
   * Hash that produced the digest: a proto enum name or Go `crypto.Hash` number,
   * so a `SignDataRequest` value can be passed through unchanged.
   * `UNSPECIFIED_HASH_ALGORITHM` / 0 and unsupported hashes are rejected.
   */
  hash: HashAlgorithmName | 'UNSPECIFIED_HASH_ALGORITHM' | number;
  /**
   * Present to request RSASSA-PSS (Go's `*rsa.PSSOptions`). `saltLength` follows
   * Go's `PSSOptions.SaltLength`: 0 = as large as possible, -1 = hash length,
   * positive = exactly that many bytes.
   */
  pss?: { saltLength: number };
}

/**
 * A signing request the caller got wrong: unsupported or unspecified hash, digest
 * of the wrong length, PSS on an EC key, bad salt length, unknown key type.
 * Maps to gRPC INVALID_ARGUMENT.
 */
export class SignError extends Error {
  /** Always `'invalid-argument'`. */
  readonly kind = 'invalid-argument' as const;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SignError';
  }
}


type Secret =
  | { readonly alg: 'ec'; readonly keyObject: KeyObject; readonly curve: EcCurve; readonly d: bigint }
  | { readonly alg: 'rsa'; readonly keyObject: KeyObject; readonly modulusBits: number };

// Private halves live here rather than on the key so they cannot leak through
// logging, JSON or structured cloning of a SigningKey.
const secrets = new WeakMap<SigningKey, Secret>();

const EC_PARAMS = {
  EC_P256: { namedCurve: 'prime256v1', curve: P256, size: 32 },
  EC_P384: { namedCurve: 'secp384r1', curve: P384, size: 48 },
} as const;

const RSA_BITS = { RSA_2048: 2048, RSA_4096: 4096 } as const;

function isKeyType(value: unknown): value is KeyType {
  return typeof value === 'string' && (KEY_TYPES as readonly string[]).includes(value);
}

/**
 * Generates a new key. RSA keys use e = 65537.
 * @throws SignError if `type` is not a supported key type.
 */
export async function generateKey(type: KeyType): Promise<SigningKey> {
  if (!isKeyType(type)) throw new SignError(`unsupported key type ${String(type)}`);
  const { privateKey } =
    type === 'EC_P256' || type === 'EC_P384'
      ? await generateKeyPair('ec', { namedCurve: EC_PARAMS[type].namedCurve })
      : await generateKeyPair('rsa', { modulusLength: RSA_BITS[type], publicExponent: 0x10001 });
  return wrap(type, privateKey);
}

/**
 * Wraps a private key of the given PKCS#8 DER encoding (as produced by
 * {@link exportPrivateKey} or Go's `x509.MarshalPKCS8PrivateKey`).
 * @throws Error if the DER does not parse or the key is not of `type`.
 */
export function importPrivateKey(type: KeyType, pkcs8Der: Uint8Array): SigningKey {
  if (!isKeyType(type)) throw new SignError(`unsupported key type ${String(type)}`);
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: Buffer.from(pkcs8Der), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new Error(`cannot parse PKCS#8 private key: ${(err as Error).message}`, { cause: err });
  }
  const details = keyObject.asymmetricKeyDetails;
  const actual =
    keyObject.asymmetricKeyType === 'ec'
      ? `EC ${details?.namedCurve}`
      : `${keyObject.asymmetricKeyType?.toUpperCase()} ${details?.modulusLength}`;
  const matches =
    type === 'EC_P256' || type === 'EC_P384'
      ? keyObject.asymmetricKeyType === 'ec' && details?.namedCurve === EC_PARAMS[type].namedCurve
      : keyObject.asymmetricKeyType === 'rsa' && details?.modulusLength === RSA_BITS[type];
  if (!matches) throw new Error(`private key is ${actual}, expected ${type}`);
  return wrap(type, keyObject);
}

/** Returns the private key as PKCS#8 DER, for persisting it. */
export function exportPrivateKey(key: SigningKey): Uint8Array {
  return secretOf(key).keyObject.export({ type: 'pkcs8', format: 'der' });
}

/**
 * Resolves a proto `HashAlgorithm` value (enum name or Go `crypto.Hash` number).
 * @throws SignError for `UNSPECIFIED_HASH_ALGORITHM` / 0 and unsupported hashes.
 */
export function parseHashAlgorithm(value: string | number): HashAlgorithmName {
  return resolveHash(value).name;
}

/**
 * Signs `digest`, an already computed hash of the message, as Go's
 * `crypto.Signer.Sign(rand, digest, opts)` would:
 * - EC: ASN.1 DER `ECDSA-Sig-Value`, digest truncated to the order's bit length
 *   (FIPS 186-4 / SEC 1) when longer; random nonce from the CSPRNG.
 * - RSA without `pss`: RSASSA-PKCS1-v1_5 over `DigestInfo(hash, digest)`.
 * - RSA with `pss`: RSASSA-PSS, MGF1 with the same hash, salt per Go's `SaltLength`.
 *
 * Unlike Go's ECDSA signer, which ignores its options, the hash is validated for
 * EC keys too and PSS is refused for them.
 * @throws SignError for invalid arguments (see {@link SignError}).
 */
export function signDigest(key: SigningKey, digest: Uint8Array, opts: SignOptions): Uint8Array {
  const secret = secretOf(key);
  const hash = resolveHash(opts.hash);
  if (digest.length !== hash.size) {
    throw new SignError(`digest is ${digest.length} bytes, ${hash.name} digests are ${hash.size} bytes`);
  }

  if (secret.alg === 'ec') {
    if (opts.pss) throw new SignError(`PSS options are not valid for ${key.type} keys`);
    return ecdsaSignDigest(secret.curve, secret.d, digest);
  }

  if (!opts.pss) {
    return privateEncrypt(
      { key: secret.keyObject, padding: constants.RSA_PKCS1_PADDING },
      digestInfo(hash, digest),
    );
  }

  const emBits = secret.modulusBits - 1;
  const saltLength = resolveSaltLength(opts.pss.saltLength, pssEncodedLength(emBits), hash);
  const em = emsaPssEncode(digest, { hashName: hash.nodeName, hashSize: hash.size, emBits, saltLength });
  // RSASP1 needs an input of exactly the modulus length; emLen is one byte
  // shorter when modBits ≡ 1 (mod 8).
  const k = Math.ceil(secret.modulusBits / 8);
  const input = new Uint8Array(k);
  input.set(em, k - em.length);
  return privateEncrypt({ key: secret.keyObject, padding: constants.RSA_NO_PADDING }, input);
}

function resolveHash(value: string | number): HashSpec {
  const hash = lookupHash(value);
  if (hash) return hash;
  if (value === 0 || value === 'UNSPECIFIED_HASH_ALGORITHM') throw new SignError('hash algorithm is required');
  throw new SignError(`unsupported hash algorithm ${JSON.stringify(value)}`);
}

/** Go's rsa.SignPSS salt rules (PSSSaltLengthAuto = 0, PSSSaltLengthEqualsHash = -1). */
function resolveSaltLength(saltLength: number, emLen: number, hash: HashSpec): number {
  const max = emLen - hash.size - 2;
  if (!Number.isSafeInteger(saltLength) || saltLength < -1) {
    throw new SignError(`invalid PSS salt length ${saltLength}`);
  }
  const resolved = saltLength === 0 ? max : saltLength === -1 ? hash.size : saltLength;
  if (resolved < 0 || resolved > max) {
    throw new SignError(`PSS salt length ${resolved} is too large: at most ${max} with ${hash.name} and this key`);
  }
  return resolved;
}

function secretOf(key: SigningKey): Secret {
  const secret = secrets.get(key);
  if (!secret) throw new TypeError('not a key created by generateKey or importPrivateKey');
  return secret;
}

/** One DER element of `der` at `at`: its tag, contents and where the next element starts. */
function derElement(der: Uint8Array, at: number, tag: number): { start: number; end: number } {
  if (der[at] !== tag) throw new Error(`PKCS#8: expected DER tag 0x${tag.toString(16)} at ${at}`);
  let len = der[at + 1] ?? 0;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) throw new Error('PKCS#8: unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] ?? 0);
    start += n;
  }
  if (start + len > der.length) throw new Error('PKCS#8: truncated DER');
  return { start, end: start + len };
}

/**
 * The private scalar of an EC key, from its PKCS#8 DER (PrivateKeyInfo →
 * ECPrivateKey → privateKey). Not through a JWK export: Node 20 can deadlock
 * exporting a generated key as JWK (it allocates V8 strings while holding the
 * key's mutex; a garbage collection then may destroy the key-generation job,
 * which takes the same mutex). The DER copy is wiped after use.
 */
function ecPrivateScalar(keyObject: KeyObject): bigint {
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  try {
    const info = derElement(der, 0, 0x30);
    const version = derElement(der, info.start, 0x02);
    const algorithm = derElement(der, version.end, 0x30);
    const octets = derElement(der, algorithm.end, 0x04);
    const ecKey = derElement(der, octets.start, 0x30);
    const ecVersion = derElement(der, ecKey.start, 0x02);
    const d = derElement(der, ecVersion.end, 0x04);
    if (d.end === d.start) throw new Error('EC private key has no scalar');
    return bytesToBigInt(der.subarray(d.start, d.end));
  } finally {
    der.fill(0);
  }
}

function wrap(type: KeyType, keyObject: KeyObject): SigningKey {
  // The SPKI OpenSSL exports is what Go's x509.MarshalPKIXPublicKey produces:
  // uncompressed point + namedCurve OID, or rsaEncryption with NULL parameters.
  const publicKeyDer = new Uint8Array(createPublicKey(keyObject).export({ type: 'spki', format: 'der' }));
  const key: SigningKey = Object.freeze({
    type,
    publicKeyDer,
    fingerprint: createHash('sha256').update(publicKeyDer).digest('hex'),
  });
  if (type === 'EC_P256' || type === 'EC_P384') {
    const { curve } = EC_PARAMS[type];
    secrets.set(key, { alg: 'ec', keyObject, curve, d: ecPrivateScalar(keyObject) });
  } else {
    secrets.set(key, { alg: 'rsa', keyObject, modulusBits: RSA_BITS[type] });
  }
  return key;
}
