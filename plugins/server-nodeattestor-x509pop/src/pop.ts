/**
 * The x509pop wire format, server side (SPIRE's pkg/common/plugin/x509pop):
 * the payload `{"certificates": [<base64 DER>, ...]}`, the challenge (a
 * fresh 32-byte nonce under `rsa_signature` or `ecdsa_signature`, per the
 * leaf's key) and the check of the agent's answer: a signature over
 * SHA-256(challenge nonce ‖ agent nonce), RSA-PSS/SHA-256 (any salt length)
 * or ECDSA given as big-endian (r, s). Every field is parsed strictly: this
 * is attacker input.
 */
import { constants, randomBytes, verify, type KeyObject } from 'node:crypto';

export const NONCE_LEN = 32;

export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function b64(v: unknown, what: string): Buffer {
  if (typeof v !== 'string') throw new PayloadError(`${what} must be a base64 string`);
  if (!B64.test(v)) throw new PayloadError(`${what} is not valid base64`);
  return Buffer.from(v, 'base64');
}

function parseObject(bytes: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new PayloadError((err as Error).message);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PayloadError(`want a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`);
  return v as Record<string, unknown>;
}

/** The DER certificates of an attestation payload (leaf first); at most `maxCerts` are decoded. */
export function parseAttestationData(bytes: Uint8Array, maxCerts: number): { certificates: Buffer[]; count: number } {
  const obj = parseObject(bytes);
  const certs = obj.certificates;
  if (certs === undefined || certs === null) return { certificates: [], count: 0 };
  if (!Array.isArray(certs)) throw new PayloadError('"certificates" must be an array of base64 strings');
  if (certs.length > maxCerts) return { certificates: [], count: certs.length };
  return { certificates: certs.map((c, i) => b64(c, `certificates[${i}]`)), count: certs.length };
}

export type KeyKind = 'rsa' | 'ecdsa';

export interface Challenge {
  readonly kind: KeyKind;
  readonly nonce: Buffer;
}

export function newChallenge(kind: KeyKind): Challenge {
  return { kind, nonce: randomBytes(NONCE_LEN) };
}

/** The challenge as SPIRE's agent expects it. */
export function encodeChallenge(c: Challenge): Buffer {
  const body = { nonce: c.nonce.toString('base64') };
  return Buffer.from(JSON.stringify(c.kind === 'rsa' ? { rsa_signature: body, ecdsa_signature: null } : { rsa_signature: null, ecdsa_signature: body }), 'utf8');
}

/** Parses the agent's response; a PayloadError says what is malformed. */
export function parseResponse(bytes: Uint8Array): Record<string, unknown> {
  return parseObject(bytes);
}

function field(obj: unknown, name: string): unknown {
  return typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[name] : undefined;
}

/** Left-pads an unsigned big-endian integer to `size` bytes; undefined if it does not fit. */
function pad(b: Buffer, size: number): Buffer | undefined {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  const v = b.subarray(i);
  if (v.length > size) return undefined;
  return Buffer.concat([Buffer.alloc(size - v.length), v]);
}

const EC_SIZES: Record<string, number> = { prime256v1: 32, secp384r1: 48, secp521r1: 66 };

/**
 * Checks the response to `challenge` against the leaf's public key. Returns
 * the reason it fails (SPIRE's wording where it has one), or undefined.
 * Throws PayloadError for a response that is not even well-formed.
 */
export function verifyResponse(key: KeyObject, challenge: Challenge, response: Record<string, unknown>): string | undefined {
  if (challenge.kind === 'rsa') {
    const r = response.rsa_signature;
    if (r === undefined || r === null) return 'expecting RSA response';
    const nonce = b64(field(r, 'nonce'), 'rsa_signature.nonce');
    const signature = b64(field(r, 'signature'), 'rsa_signature.signature');
    if (nonce.length !== NONCE_LEN) return 'invalid response nonce';
    const ok = verify('sha256', Buffer.concat([challenge.nonce, nonce]), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature);
    return ok ? undefined : 'RSA signature verify failed';
  }
  const e = response.ecdsa_signature;
  if (e === undefined || e === null) return 'expecting ECDSA response';
  const nonce = b64(field(e, 'nonce'), 'ecdsa_signature.nonce');
  const rb = b64(field(e, 'r'), 'ecdsa_signature.r');
  const sb = b64(field(e, 's'), 'ecdsa_signature.s');
  if (nonce.length !== NONCE_LEN) return 'invalid response nonce';
  const size = EC_SIZES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  if (size === undefined) return `unsupported curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'}`;
  const r = pad(rb, size);
  const s = pad(sb, size);
  if (!r || !s) return 'ECDSA signature verify failed';
  let ok = false;
  try {
    ok = verify('sha256', Buffer.concat([challenge.nonce, nonce]), { key, dsaEncoding: 'ieee-p1363' }, Buffer.concat([r, s]));
  } catch {
    ok = false;
  }
  return ok ? undefined : 'ECDSA signature verify failed';
}
