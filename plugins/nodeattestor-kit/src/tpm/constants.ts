/**
 * TPM 2.0 constants (TPM 2.0 Part 2 §6, §8): algorithm identifiers, ECC
 * curves, object attributes, structure tags, and the hash algorithms with
 * their node:crypto names and digest sizes.
 */

export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  XOR: 0x000a,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  SM3_256: 0x0012,
  SM4: 0x0013,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  SM2: 0x001b,
  ECSCHNORR: 0x001c,
  ECMQV: 0x001d,
  KDF1_SP800_56A: 0x0020,
  KDF2: 0x0021,
  KDF1_SP800_108: 0x0022,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CAMELLIA: 0x0026,
  CTR: 0x0040,
  OFB: 0x0041,
  CBC: 0x0042,
  CFB: 0x0043,
  ECB: 0x0044,
} as const;

export const TPM_ECC_CURVE = {
  NIST_P192: 0x0001,
  NIST_P224: 0x0002,
  NIST_P256: 0x0003,
  NIST_P384: 0x0004,
  NIST_P521: 0x0005,
  BN_P256: 0x0010,
  BN_P638: 0x0011,
  SM2_P256: 0x0020,
} as const;

/** TPMA_OBJECT bits. */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
  x509sign: 1 << 19,
} as const;

export type ObjectAttribute = keyof typeof TPMA_OBJECT;

/** The attribute names set in `attrs`, in bit order. */
export function attributeNames(attrs: number): ObjectAttribute[] {
  return (Object.keys(TPMA_OBJECT) as ObjectAttribute[]).filter((k) => (attrs & TPMA_OBJECT[k]) !== 0);
}

/** TPM_ST values that tag a TPMS_ATTEST. */
export const TPM_ST_ATTEST = {
  NV: 0x8014,
  COMMAND_AUDIT: 0x8015,
  SESSION_AUDIT: 0x8016,
  CERTIFY: 0x8017,
  QUOTE: 0x8018,
  TIME: 0x8019,
  CREATION: 0x801a,
  NV_DIGEST: 0x801c,
} as const;

/** TPM_GENERATED_VALUE: what the TPM puts at the head of every structure it signs. */
export const TPM_GENERATED_VALUE = 0xff544347;

export interface HashInfo {
  readonly alg: number;
  /** The node:crypto name. */
  readonly name: string;
  readonly size: number;
}

const HASHES: readonly HashInfo[] = [
  { alg: TPM_ALG.SHA1, name: 'sha1', size: 20 },
  { alg: TPM_ALG.SHA256, name: 'sha256', size: 32 },
  { alg: TPM_ALG.SHA384, name: 'sha384', size: 48 },
  { alg: TPM_ALG.SHA512, name: 'sha512', size: 64 },
];

/** The hash for a TPM_ALG_ID, or undefined if it is not a hash node:crypto has. */
export function hashInfo(alg: number): HashInfo | undefined {
  return HASHES.find((h) => h.alg === alg);
}

/** 0x000b as `0x000b` (how TPM specs and tpm2-tools print identifiers). */
export function hex16(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}

const ALG_NAMES = new Map<number, string>(Object.entries(TPM_ALG).map(([k, v]) => [v, k.toLowerCase()]));

/** A readable name for an algorithm identifier: `sha256`, or `0x1234` when unknown. */
export function algName(alg: number): string {
  return ALG_NAMES.get(alg) ?? hex16(alg);
}

/** The largest digest any supported hash produces (bounds TPM2B_DIGEST reads). */
export const MAX_DIGEST_SIZE = 64;
/** TPM2B_NAME: a 2-byte algorithm and a digest. */
export const MAX_NAME_SIZE = 2 + MAX_DIGEST_SIZE;
/** Largest RSA modulus accepted (bits), bounding TPM2B_PUBLIC_KEY_RSA. */
export const MAX_RSA_BYTES = 8192 / 8;
/** Largest ECC coordinate accepted (P-521, rounded up). */
export const MAX_ECC_BYTES = 66;
