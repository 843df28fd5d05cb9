/**
 * The PKCS#7 signature of an Azure IMDS attested document checked with the
 * shared verifier: the signing certificate (and possibly others) travel in
 * the signature; the caller checks the certificate's chain and names.
 */
import { verifyPkcs7 as verifySignedData, type VerifiedPkcs7 } from '@spire-ts/nodeattestor-kit';

export { SignatureError, issuerAndSerial } from '@spire-ts/nodeattestor-kit';
export type { VerifiedPkcs7 } from '@spire-ts/nodeattestor-kit';

/** The base64 signature, at most this long (Azure's is ~4 KiB with its certificate). */
export const MAX_PKCS7_BASE64 = 32 * 1024;

/** Verifies a base64 PKCS#7 signature with the certificate it carries; throws SignatureError. */
export function verifyPkcs7(base64: string): VerifiedPkcs7 {
  return verifySignedData(base64, { maxBase64: MAX_PKCS7_BASE64 });
}
