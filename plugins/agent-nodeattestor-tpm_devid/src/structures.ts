/**
 * The few TPM 2.0 structures the agent needs to look inside (TPM 2.0
 * Library Part 2), bounds-checked: enough of a TPMT_PUBLIC to know the key
 * type, attributes and signing scheme; a TPMT_SIGNATURE turned into the
 * encoding Go's x509 CheckSignature expects (PKCS#1 v1.5 bytes for RSASSA,
 * DER ECDSA-Sig-Value for ECDSA); TPM2B size prefixes added and removed; and
 * tpm2-tools' credential blob file.
 */

export const TPM_ALG = Object.freeze({
  RSA: 0x0001,
  SHA1: 0x0004,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAPSS: 0x0016,
  ECDSA: 0x0018,
  ECC: 0x0023,
});

export const TPMA_OBJECT = Object.freeze({
  fixedTPM: 1 << 1,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
});

const HASH_NAMES: Record<number, string> = { [TPM_ALG.SHA1]: 'sha1', [TPM_ALG.SHA256]: 'sha256', [TPM_ALG.SHA384]: 'sha384', [TPM_ALG.SHA512]: 'sha512' };

/** The tpm2-tools name of a hash algorithm ID, or undefined. */
export function hashName(alg: number): string | undefined {
  return HASH_NAMES[alg];
}

class Reader {
  private off = 0;
  constructor(
    private readonly b: Uint8Array,
    private readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.off + n > this.b.length) throw new Error(`${this.what}: truncated at byte ${this.off} (need ${n} more of ${this.b.length})`);
  }
  u16(): number {
    this.need(2);
    const v = (this.b[this.off]! << 8) | this.b[this.off + 1]!;
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = Buffer.from(this.b.buffer, this.b.byteOffset + this.off, 4).readUInt32BE(0);
    this.off += 4;
    return v;
  }
  tpm2b(): Uint8Array {
    const n = this.u16();
    this.need(n);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  get remaining(): number {
    return this.b.length - this.off;
  }
}

export interface PublicArea {
  /** TPM_ALG_RSA or TPM_ALG_ECC. */
  readonly type: number;
  readonly nameAlg: number;
  readonly attributes: number;
  /** The signing scheme (TPM_ALG_NULL when none) and its hash. */
  readonly scheme: number;
  readonly schemeHash: number;
  /** RSA key bits, or the ECC curve ID. */
  readonly keyBitsOrCurve: number;
}

function schemeOf(r: Reader): { scheme: number; hash: number } {
  const scheme = r.u16();
  return { scheme, hash: scheme === TPM_ALG.NULL ? TPM_ALG.NULL : r.u16() };
}

function skipSymmetric(r: Reader): void {
  const alg = r.u16();
  if (alg !== TPM_ALG.NULL) {
    r.u16(); // key bits
    r.u16(); // mode
  }
}

/** Parses a TPMT_PUBLIC (no TPM2B size prefix) of an RSA or ECC key. */
export function parsePublic(bytes: Uint8Array, what = 'TPMT_PUBLIC'): PublicArea {
  const r = new Reader(bytes, what);
  const type = r.u16();
  const nameAlg = r.u16();
  const attributes = r.u32();
  r.tpm2b(); // authPolicy
  let scheme: { scheme: number; hash: number };
  let keyBitsOrCurve: number;
  if (type === TPM_ALG.RSA) {
    skipSymmetric(r);
    scheme = schemeOf(r);
    keyBitsOrCurve = r.u16();
    r.u32(); // exponent
    r.tpm2b(); // modulus
  } else if (type === TPM_ALG.ECC) {
    skipSymmetric(r);
    scheme = schemeOf(r);
    keyBitsOrCurve = r.u16();
    schemeOf(r); // kdf
    r.tpm2b();
    r.tpm2b();
  } else {
    throw new Error(`${what}: bad key type: 0x${type.toString(16).padStart(4, '0')}`);
  }
  if (r.remaining !== 0) throw new Error(`${what}: ${r.remaining} trailing bytes`);
  return { type, nameAlg, attributes, scheme: scheme.scheme, schemeHash: scheme.hash, keyBitsOrCurve };
}

/** Removes the 2-byte size prefix of a TPM2B, checking it covers the rest exactly. */
export function stripTpm2b(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.length < 2) throw new Error(`${what}: too short for a TPM2B`);
  const n = (bytes[0]! << 8) | bytes[1]!;
  if (n !== bytes.length - 2) throw new Error(`${what}: TPM2B size ${n} does not match its ${bytes.length - 2} bytes`);
  return bytes.subarray(2);
}

/** Adds a 2-byte size prefix. */
export function addTpm2b(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.length > 0xffff) throw new Error(`${what}: ${bytes.length} bytes do not fit a TPM2B`);
  const out = Buffer.alloc(bytes.length + 2);
  out.writeUInt16BE(bytes.length, 0);
  out.set(bytes, 2);
  return out;
}

const CREDENTIAL_MAGIC = 0xbadcc0de;
const CREDENTIAL_VERSION = 1;

/**
 * tpm2-tools' credential file (what tpm2_makecredential writes and
 * tpm2_activatecredential reads): magic, version, then the TPM2B_ID_OBJECT
 * and TPM2B_ENCRYPTED_SECRET. SPIRE's wire carries both without their size
 * prefix.
 */
export function credentialFile(credential: Uint8Array, secret: Uint8Array): Uint8Array {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(CREDENTIAL_MAGIC, 0);
  head.writeUInt32BE(CREDENTIAL_VERSION, 4);
  return Buffer.concat([head, addTpm2b(credential, 'credential'), addTpm2b(secret, 'secret')]);
}

function derInteger(unsigned: Uint8Array): Buffer {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  let v = Buffer.from(unsigned.subarray(i));
  if (v.length === 0) v = Buffer.from([0]);
  if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return Buffer.concat([Buffer.from([0x02]), derLength(v.length), v]);
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}

/**
 * The bytes SPIRE's agent sends for a TPMT_SIGNATURE: the RSASSA signature
 * as is, ECDSA (r, s) as a DER ECDSA-Sig-Value.
 */
export function signatureBytes(tpmtSignature: Uint8Array): Uint8Array {
  const r = new Reader(tpmtSignature, 'TPMT_SIGNATURE');
  const alg = r.u16();
  if (alg === TPM_ALG.RSASSA || alg === TPM_ALG.RSAPSS) {
    r.u16();
    const sig = r.tpm2b();
    return Buffer.from(sig);
  }
  if (alg === TPM_ALG.ECDSA) {
    r.u16();
    const rr = derInteger(r.tpm2b());
    const ss = derInteger(r.tpm2b());
    const body = Buffer.concat([rr, ss]);
    return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
  }
  throw new Error(`unrecognized TPMT_SIGNATURE algorithm 0x${alg.toString(16).padStart(4, '0')}`);
}
