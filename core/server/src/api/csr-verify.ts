/**
 * The CSR signature check, for the CSR-check worker threads and the inline
 * fallback alike. P-256 keys with ecdsa-with-SHA256 (what SPIRE agents
 * send) go to @spire-ts/ecverify when its addon is built: no EVP key import,
 * less than half the CPU of node:crypto's import-then-verify on this kind of
 * machine. Everything else, and every CSR when the addon is missing, goes
 * through node:crypto. Both refuse keys that are not points of their curve.
 */
import { EcPointError, ecVerifyAvailable, verifyP256Sha256 } from '@spire-ts/ecverify';
import { OID, X509Error, parseSpki, publicKeyObjectAsync, verifySignature, type PublicKeyInfo, type VerifyAlgorithm } from '@spire-ts/common';

/**
 * Whether `signature` over `info` verifies with the key of `spki`.
 * @throws X509Error `ERR_X509_PARSE` when the key is not usable.
 */
export async function verifyCsrSignature(alg: VerifyAlgorithm, spki: Uint8Array | PublicKeyInfo, info: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const what = 'CSR public key';
  const key = spki instanceof Uint8Array ? parseSpki(spki, what) : spki;
  if (ecVerifyAvailable && alg === 'ecdsa-sha256' && key.keyType === 'ec' && key.curve === OID.prime256v1) {
    try {
      return verifyP256Sha256(key.keyBits, info, signature);
    } catch (err) {
      if (err instanceof EcPointError) throw new X509Error('ERR_X509_PARSE', `${what}: not a usable public key: ${err.message}`, { cause: err });
      throw err;
    }
  }
  return verifySignature(alg, await publicKeyObjectAsync(key, what), info, signature);
}
