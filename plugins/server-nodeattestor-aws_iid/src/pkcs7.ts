/**
 * The PKCS#7 signature AWS serves at `instance-identity/rsa2048` (base64, no
 * certificates inside) checked with the shared verifier: the signer must be
 * one of the trusted certificates for the document's region; the signed
 * content is returned so the caller can compare it with the document it was given.
 */
import type { X509Certificate } from 'node:crypto';
import { verifyPkcs7 as verifySignedData } from '@spire-ts/nodeattestor-kit';

export { SignatureError, issuerAndSerial } from '@spire-ts/nodeattestor-kit';

/** The base64 body of the signature (what IMDS serves), at most this long. */
export const MAX_PKCS7_BASE64 = 8192;

/** Verifies a base64 PKCS#7 signature against `trusted`; throws SignatureError. */
export function verifyPkcs7(base64: string, trusted: readonly X509Certificate[]): Buffer {
  return verifySignedData(base64, {
    maxBase64: MAX_PKCS7_BASE64,
    trusted,
    untrustedReason: (serial, count) => `signed by a certificate (serial ${serial}) that is not among the ${count} trusted for this region`,
  }).content;
}
