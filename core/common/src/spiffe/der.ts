/**
 * Small byte-level codecs: strict base64url, the ECDSA signature conversion
 * between Go's ASN.1 DER form and JOSE's fixed-size r||s, and splitting the
 * Workload API's concatenated DER certificates.
 */
import { X509Certificate } from 'node:crypto';
import { BundleError } from './errors.js';

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Unpadded base64url, as JWS compact serialisation uses. */
export function b64urlEncode(data: Uint8Array | string): string {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return buf.toString('base64url');
}

/** Strict unpadded base64url decode; `undefined` if `s` is not canonical base64url. */
export function b64urlDecode(s: string): Buffer | undefined {
  if (!B64URL.test(s) || s.length % 4 === 1) return undefined;
  const out = Buffer.from(s, 'base64url');
  return out.toString('base64url') === s ? out : undefined;
}

const B64STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict padded standard base64 (JWK `x5c`); `undefined` if malformed. */
export function b64stdDecode(s: string): Buffer | undefined {
  return B64STD.test(s) ? Buffer.from(s, 'base64') : undefined;
}

/** Reads a DER length at `pos`; returns [length, header bytes] or undefined. */
function readLength(buf: Uint8Array, pos: number): [number, number] | undefined {
  const first = buf[pos];
  if (first === undefined) return undefined;
  if (first < 0x80) return [first, 1];
  const n = first & 0x7f;
  if (n === 0 || n > 4 || pos + n >= buf.length) return undefined;
  let len = 0;
  for (let i = 1; i <= n; i++) len = len * 256 + (buf[pos + i] as number);
  if (len < 0x80 || (n > 1 && buf[pos + 1] === 0)) return undefined; // non-minimal: not DER
  return [len, 1 + n];
}

function readInteger(buf: Uint8Array, pos: number): { value: Uint8Array; next: number } | undefined {
  if (buf[pos] !== 0x02) return undefined;
  const l = readLength(buf, pos + 1);
  if (!l) return undefined;
  const start = pos + 1 + l[1];
  const end = start + l[0];
  if (l[0] === 0 || end > buf.length) return undefined;
  const value = buf.subarray(start, end);
  if ((value[0] as number) & 0x80) return undefined; // negative
  if (value.length > 1 && value[0] === 0 && !((value[1] as number) & 0x80)) return undefined; // non-minimal
  return { value, next: end };
}

/**
 * Converts an ASN.1 DER `ECDSA-Sig-Value` (what Go signers and KeyManagers
 * return) to JOSE's `r || s`, each left-padded to `size` bytes.
 * Returns `undefined` if `der` is not a well-formed signature of that size.
 *
 * @example
 * ```ts
 * const jose = ecdsaDerToJose(await keyManager.signData(id, digest), 32); // 64 bytes for ES256
 * ```
 */
export function ecdsaDerToJose(der: Uint8Array, size: number): Buffer | undefined {
  if (der[0] !== 0x30) return undefined;
  const l = readLength(der, 1);
  if (!l || 1 + l[1] + l[0] !== der.length) return undefined;
  const r = readInteger(der, 1 + l[1]);
  if (!r) return undefined;
  const s = readInteger(der, r.next);
  if (!s || s.next !== der.length) return undefined;
  const out = Buffer.alloc(size * 2);
  for (const [i, v] of [r.value, s.value].entries()) {
    const trimmed = v[0] === 0 ? v.subarray(1) : v;
    if (trimmed.length > size) return undefined;
    out.set(trimmed, i * size + size - trimmed.length);
  }
  return out;
}

function derInteger(v: Uint8Array): Buffer {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = (v[i] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), v.subarray(i)]) : Buffer.from(v.subarray(i));
  return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}

/**
 * Converts JOSE's `r || s` back to ASN.1 DER (for Go-style verifiers).
 *
 * @example
 * ```ts
 * crypto.verify('sha256', input, publicKey, ecdsaJoseToDer(joseSignature));
 * ```
 */
export function ecdsaJoseToDer(sig: Uint8Array): Buffer {
  const half = sig.length / 2;
  const body = Buffer.concat([derInteger(sig.subarray(0, half)), derInteger(sig.subarray(half))]);
  const len = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x81, body.length]);
  return Buffer.concat([Buffer.from([0x30]), len, body]);
}

/**
 * Joins DER certificates into one byte string: the Workload API encoding of
 * `X509SVID.x509_svid` (leaf first), `X509SVID.bundle` and bundle map values.
 *
 * @example
 * ```ts
 * const blob = concatCertificates([leafDer, intermediateDer]);
 * ```
 */
export function concatCertificates(certs: readonly Uint8Array[]): Buffer {
  return Buffer.concat(certs.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
}

/**
 * Splits concatenated DER certificates (the Workload API encoding) and checks
 * that each parses as X.509, as go-spiffe's `x509.ParseCertificates` does.
 * An empty input gives an empty list.
 *
 * @throws BundleError naming the byte offset of the first bad certificate.
 * @example
 * ```ts
 * const [leaf, ...intermediates] = splitCertificates(svid.x509_svid);
 * ```
 */
export function splitCertificates(blob: Uint8Array): Buffer[] {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const l = buf[pos] === 0x30 ? readLength(buf, pos + 1) : undefined;
    const end = l ? pos + 1 + l[1] + l[0] : Infinity;
    if (!l || end > buf.length) {
      throw new BundleError('malformed', `certificate ${out.length + 1} at byte ${pos} is not a complete DER SEQUENCE (${buf.length - pos} bytes left)`);
    }
    const der = Buffer.from(buf.subarray(pos, end));
    try {
      new X509Certificate(der);
    } catch (err) {
      throw new BundleError('invalid-certificate', `certificate ${out.length + 1} at byte ${pos} does not parse: ${(err as Error).message}`, { cause: err });
    }
    out.push(der);
    pos = end;
  }
  return out;
}
