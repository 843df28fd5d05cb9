/**
 * The x509pop wire format (SPIRE's pkg/common/plugin/x509pop), agent side:
 * the attestation payload `{"certificates": [<base64 DER>, ...]}` (leaf
 * first), the server's challenge `{"rsa_signature"|"ecdsa_signature":
 * {"nonce": <32 bytes>}}` and the answer: a fresh 32-byte nonce of ours and
 * a signature over SHA-256(challenge nonce ‖ our nonce) — RSA-PSS with
 * SHA-256, or ECDSA as (r, s) big-endian integers.
 */
import { constants, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';

export const NONCE_LEN = 32;

export interface AttestationData {
  certificates: string[];
}

interface NonceChallenge {
  nonce: string;
}

export interface Challenge {
  rsa_signature?: NonceChallenge | null;
  ecdsa_signature?: NonceChallenge | null;
}

export interface Response {
  rsa_signature: { nonce: string; signature: string } | null;
  ecdsa_signature: { nonce: string; r: string; s: string } | null;
}

/** The payload for a chain of DER certificates, leaf first. */
export function attestationPayload(chain: readonly Uint8Array[]): Uint8Array {
  const data: AttestationData = { certificates: chain.map((der) => Buffer.from(der).toString('base64')) };
  return Buffer.from(JSON.stringify(data), 'utf8');
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function nonceOf(c: unknown, what: string): Buffer {
  if (typeof c !== 'object' || c === null || typeof (c as NonceChallenge).nonce !== 'string' || !B64.test((c as NonceChallenge).nonce)) {
    throw new Error(`${what} has no base64 nonce`);
  }
  const nonce = Buffer.from((c as NonceChallenge).nonce, 'base64');
  if (nonce.length !== NONCE_LEN) throw new Error('invalid challenge nonce');
  return nonce;
}

/** Parses the server's challenge; throws an Error saying what is wrong. */
export function parseChallenge(bytes: Uint8Array): Challenge {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  return v as Challenge;
}

/** Strips leading zero bytes (Go's big.Int.Bytes()). */
function unsigned(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** Answers `challenge` with `key` (RSA or ECDSA); throws an Error saying why it cannot. */
export function calculateResponse(key: KeyObject, challenge: Challenge): Response {
  const ours = randomBytes(NONCE_LEN);
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      if (!challenge.rsa_signature) throw new Error('expecting RSA challenge');
      const theirs = nonceOf(challenge.rsa_signature, 'RSA challenge');
      const signature = sign('sha256', Buffer.concat([theirs, ours]), {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN,
      });
      return { rsa_signature: { nonce: ours.toString('base64'), signature: signature.toString('base64') }, ecdsa_signature: null };
    }
    case 'ec': {
      if (!challenge.ecdsa_signature) throw new Error('expecting ECDSA challenge');
      const theirs = nonceOf(challenge.ecdsa_signature, 'ECDSA challenge');
      // ECDSA over SHA-256(theirs ‖ ours): the digest SPIRE signs.
      const sig = sign('sha256', Buffer.concat([theirs, ours]), { key, dsaEncoding: 'ieee-p1363' });
      const half = sig.length / 2;
      return {
        rsa_signature: null,
        ecdsa_signature: {
          nonce: ours.toString('base64'),
          r: unsigned(sig.subarray(0, half)).toString('base64'),
          s: unsigned(sig.subarray(half)).toString('base64'),
        },
      };
    }
    default:
      throw new Error(`unsupported private key type ${key.asymmetricKeyType ?? 'unknown'}`);
  }
}

/** The SPKI DER of a key (private or public), to compare a key with a certificate's. */
export function spkiOf(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
}
