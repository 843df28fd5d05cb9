/**
 * TPM 2.0 structures for node attestation: TPMT_PUBLIC, TPM Names,
 * TPMS_ATTEST, TPMT_SIGNATURE, and credential activation (MakeCredential)
 * in software.
 */
export { TpmError, TpmReader, TpmWriter, tpm2bDecode, tpm2bEncode } from './wire.js';
export {
  TPM_ALG,
  TPM_ECC_CURVE,
  TPMA_OBJECT,
  TPM_ST_ATTEST,
  TPM_GENERATED_VALUE,
  algName,
  attributeNames,
  hashInfo,
  hex16,
} from './constants.js';
export type { HashInfo, ObjectAttribute } from './constants.js';
export { decodePublic, encodePublic, publicName, publicKeyOf, hasAttributes, sameKey, eccCurve } from './public.js';
export type { EccPublic, RsaPublic, Scheme, SymDef, TpmPublic } from './public.js';
export { decodeAttest } from './attest.js';
export type { CertifyInfo, ClockInfo, PcrSelection, QuoteInfo, TpmAttest } from './attest.js';
export { decodeSignature, verifySignature } from './signature.js';
export type { TpmSignature, VerifyOptions } from './signature.js';
export { kdfa, makeCredential } from './credential.js';
export type { MadeCredential, MakeCredentialOptions } from './credential.js';
