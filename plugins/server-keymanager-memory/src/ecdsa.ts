import { createECDH, randomBytes, type ECDH } from 'node:crypto';

/**
 * ECDSA over a digest that is already computed (Go's crypto.Signer
 * semantics). node:crypto can only sign messages it hashes itself, so the
 * signature equation is done here while OpenSSL does the secret-dependent
 * scalar multiplication k·G (through ECDH's public-key derivation).
 *
 * Nonces are uniform in [1, n-1] from the CSPRNG, drawn with 64 extra bits
 * (FIPS 186-4 B.5.1), so their bias is below 2^-64.
 */
export interface EcCurve {
  /** OpenSSL curve name. */
  readonly name: 'prime256v1' | 'secp384r1';
  /** Group order. */
  readonly n: bigint;
  readonly bits: number;
  /** Field element / scalar size in bytes. */
  readonly size: number;
}

export const P256: EcCurve = {
  name: 'prime256v1',
  n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  bits: 256,
  size: 32,
};

export const P384: EcCurve = {
  name: 'secp384r1',
  n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  bits: 384,
  size: 48,
};

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + Buffer.from(bytes).toString('hex'));
}

function toBytes(v: bigint, size: number): Buffer {
  return Buffer.from(v.toString(16).padStart(size * 2, '0'), 'hex');
}

/** SEC 1 / FIPS 186-4: the leftmost `bits` bits of the digest as an integer (Go's hashToInt). */
export function digestToInt(digest: Uint8Array, curve: EcCurve): bigint {
  const orderBytes = Math.ceil(curve.bits / 8);
  const kept = digest.length > orderBytes ? digest.subarray(0, orderBytes) : digest;
  const excess = kept.length * 8 - curve.bits;
  const z = toBigInt(kept);
  return excess > 0 ? z >> BigInt(excess) : z;
}

const contexts = new Map<string, ECDH>();

// Nonce bytes come from the CSPRNG in 4 KiB draws; each byte is used once.
let pool = Buffer.alloc(0);
let poolOffset = 0;
function randomPool(n: number): Buffer {
  if (poolOffset + n > pool.length) {
    pool = randomBytes(4096);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

function mod(a: bigint, n: bigint): bigint {
  const r = a % n;
  return r < 0n ? r + n : r;
}

/** Inverse of a modulo prime n (extended Euclid). */
function invert(a: bigint, n: bigint): bigint {
  let [oldR, r] = [mod(a, n), n];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new Error('not invertible');
  return mod(oldS, n);
}

function derInt(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  let b = Buffer.from(hex, 'hex');
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02]), derLength(b.length), b]);
}

function derLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  if (len < 0x100) return Buffer.from([0x81, len]);
  return Buffer.from([0x82, len >> 8, len & 0xff]);
}

/** `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` in DER. */
export function encodeSignature(r: bigint, s: bigint): Uint8Array {
  const body = Buffer.concat([derInt(r), derInt(s)]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]));
}

/** A one-time nonce ready for use: k⁻¹ mod n and r = x(k·G) mod n. */
interface Nonce {
  readonly kInv: bigint;
  readonly r: bigint;
}

/** Nonces made at a time: one modular inversion serves the whole batch. */
const NONCE_BATCH = 32;
const nonces = new Map<string, Nonce[]>();

/**
 * `count` fresh nonces for `curve`. Nonces do not depend on the key, only
 * on the curve, so one supply serves every key; each is used once. The
 * inverses come from Montgomery's trick (the product of the batch is
 * inverted once, then three multiplications per nonce): the one
 * variable-time extended-Euclid inversion sees a product of random values,
 * never a nonce itself, and a signature costs ~16 µs instead of ~34 µs
 * with an inversion per nonce.
 */
function makeNonces(curve: EcCurve, count: number): Nonce[] {
  // One ECDH context per curve: setPrivateKey replaces the scalar on each use.
  let ecdh = contexts.get(curve.name);
  if (!ecdh) contexts.set(curve.name, (ecdh = createECDH(curve.name)));
  const ks: bigint[] = [];
  const rs: bigint[] = [];
  while (ks.length < count) {
    const k = (toBigInt(randomPool(curve.size + 8)) % (curve.n - 1n)) + 1n;
    ecdh.setPrivateKey(toBytes(k, curve.size));
    const point = ecdh.getPublicKey(); // 0x04 || X || Y
    const r = mod(toBigInt(point.subarray(1, 1 + curve.size)), curve.n);
    if (r === 0n) continue;
    ks.push(k);
    rs.push(r);
  }
  const { n } = curve;
  // prefix[i] = k[0]·…·k[i-1] mod n; then walk back from the inverse of the whole product.
  const prefix: bigint[] = new Array<bigint>(count);
  let acc = 1n;
  for (let i = 0; i < count; i++) {
    prefix[i] = acc;
    acc = (acc * ks[i]!) % n;
  }
  let inv = invert(acc, n);
  const out: Nonce[] = new Array<Nonce>(count);
  for (let i = count - 1; i >= 0; i--) {
    out[i] = { kInv: (inv * prefix[i]!) % n, r: rs[i]! };
    inv = (inv * ks[i]!) % n;
  }
  return out;
}

function nextNonce(curve: EcCurve): Nonce {
  let supply = nonces.get(curve.name);
  if (!supply || supply.length === 0) nonces.set(curve.name, (supply = makeNonces(curve, NONCE_BATCH)));
  return supply.pop()!;
}

/**
 * Signs `digest` with private scalar `d`; returns a DER signature that Go's
 * `ecdsa.VerifyASN1` and OpenSSL accept.
 */
export function ecdsaSignDigest(curve: EcCurve, d: bigint, digest: Uint8Array): Uint8Array {
  const z = digestToInt(digest, curve);
  for (;;) {
    const { kInv, r } = nextNonce(curve);
    const s = (kInv * ((z + r * d) % curve.n)) % curve.n;
    if (s === 0n) continue;
    return encodeSignature(r, s);
  }
}

export { toBigInt as bytesToBigInt };
