/**
 * TPMT_SIGNATURE (TPM 2.0 Part 2 §11.3.4): decode the RSASSA, RSAPSS and
 * ECDSA forms a TPM produces and verify one over a message with
 * node:crypto, using the signature's own hash (which must be one the
 * verifier allows).
 */
import { constants, verify, type KeyObject } from 'node:crypto';
import { MAX_ECC_BYTES, MAX_RSA_BYTES, TPM_ALG, algName, hashInfo } from './constants.js';
import { TpmError, TpmReader } from './wire.js';

export type TpmSignature =
  | { readonly sigAlg: typeof TPM_ALG.RSASSA | typeof TPM_ALG.RSAPSS; readonly hashAlg: number; readonly sig: Buffer }
  | { readonly sigAlg: typeof TPM_ALG.ECDSA; readonly hashAlg: number; readonly r: Buffer; readonly s: Buffer };

/** Decodes a TPMT_SIGNATURE, refusing trailing bytes and schemes other than RSASSA, RSAPSS and ECDSA. */
export function decodeSignature(bytes: Uint8Array): TpmSignature {
  const rd = new TpmReader(Buffer.from(bytes), 'TPMT_SIGNATURE');
  const sigAlg = rd.u16('sigAlg');
  let sig: TpmSignature;
  if (sigAlg === TPM_ALG.RSASSA || sigAlg === TPM_ALG.RSAPSS) {
    const hashAlg = rd.u16('hash');
    sig = { sigAlg, hashAlg, sig: rd.tpm2b('sig', MAX_RSA_BYTES) };
  } else if (sigAlg === TPM_ALG.ECDSA) {
    const hashAlg = rd.u16('hash');
    const r = rd.tpm2b('signatureR', MAX_ECC_BYTES);
    const s = rd.tpm2b('signatureS', MAX_ECC_BYTES);
    sig = { sigAlg, hashAlg, r, s };
  } else {
    throw new TpmError(`TPMT_SIGNATURE: unsupported signature algorithm ${algName(sigAlg)} (want rsassa, rsapss or ecdsa)`);
  }
  rd.end();
  return sig;
}

const EC_SIZES: Record<string, number> = { prime256v1: 32, secp384r1: 48, secp521r1: 66 };

function pad(b: Buffer, size: number): Buffer | undefined {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  const v = b.subarray(i);
  if (v.length > size) return undefined;
  return Buffer.concat([Buffer.alloc(size - v.length), v]);
}

export interface VerifyOptions {
  /** Hashes accepted (TPM_ALG ids); default SHA-256, SHA-384, SHA-512. */
  readonly hashes?: readonly number[];
}

/**
 * Verifies `sig` over `message` with `key`. Returns undefined when it
 * verifies, else why not (algorithm/key mismatch, hash refused, bad signature).
 */
export function verifySignature(key: KeyObject, message: Uint8Array, sig: TpmSignature, opts: VerifyOptions = {}): string | undefined {
  const allowed = opts.hashes ?? [TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512];
  const h = hashInfo(sig.hashAlg);
  if (!h || !allowed.includes(sig.hashAlg)) return `signature hash ${algName(sig.hashAlg)} is not accepted`;
  if (sig.sigAlg === TPM_ALG.ECDSA) {
    if (key.asymmetricKeyType !== 'ec') return `an ECDSA signature cannot be made by a ${key.asymmetricKeyType ?? 'unknown'} key`;
    const size = EC_SIZES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (size === undefined) return `unsupported curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'}`;
    const r = pad(sig.r, size);
    const s = pad(sig.s, size);
    if (!r || !s) return 'signature verification failed';
    try {
      return verify(h.name, message, { key, dsaEncoding: 'ieee-p1363' }, Buffer.concat([r, s])) ? undefined : 'signature verification failed';
    } catch {
      return 'signature verification failed';
    }
  }
  if (key.asymmetricKeyType !== 'rsa') return `an RSA signature cannot be made by a ${key.asymmetricKeyType ?? 'unknown'} key`;
  const padding = sig.sigAlg === TPM_ALG.RSASSA ? constants.RSA_PKCS1_PADDING : constants.RSA_PKCS1_PSS_PADDING;
  try {
    const ok = verify(h.name, message, { key, padding, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig.sig);
    return ok ? undefined : 'signature verification failed';
  } catch {
    return 'signature verification failed';
  }
}
