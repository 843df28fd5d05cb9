/**
 * The X.509 toolkit of the server CA and of anyone checking SVIDs: a strict DER
 * codec, a certificate builder that only needs a digest signer, CSR parsing,
 * SPIRE's certificate profiles and the SPIFFE X.509-SVID validator. Pure
 * functions: no I/O, the clock and randomness are parameters.
 */
export { X509Error } from './errors.js';
export type { X509ErrorCode } from './errors.js';
export { DER, TAG } from './der-encode.js';
export { DerElement, MAX_DER_DEPTH, MAX_DER_CHILDREN, decodeDer, decodeDerTree, tagName } from './der-decode.js';
export type { DerNode } from './der-decode.js';
export { OID } from './oids.js';
export { encodeName, parseName, formatName, nameValues, nameToSpec } from './name.js';
export type { Name, NameSpec, NameAttribute } from './name.js';
export {
  SIGNATURE_ALGORITHMS,
  defaultSignatureAlgorithm,
  parseSpki,
  subjectKeyId,
  verifySignature,
  verifySignatureAsync,
  publicKeyObject,
  publicKeyObjectAsync,
} from './algorithms.js';
export type { SignatureAlgorithm, VerifyAlgorithm, SignatureAlgorithmInfo, PublicKeyInfo } from './algorithms.js';
export { KEY_USAGES, EXT_KEY_USAGES } from './extensions.js';
export type { Extension, KeyUsage, ExtKeyUsage, NameConstraints } from './extensions.js';
export { parseExtensions } from './extensions-parse.js';
export type { ParsedExtensions, ParsedAltNames, ParsedSubtree } from './extensions-parse.js';
export { parseCertificate } from './certificate.js';
export type { Certificate } from './certificate.js';
export { buildCertificate, keyObjectSigner, randomSerialNumber } from './builder.js';
export type { CertificateTemplate, CertificateSigner, BuildOptions } from './builder.js';
export { parseCSR, parseCSRAsync, parseCSRUnchecked } from './csr.js';
export type { UncheckedCertificateRequest } from './csr.js';
export { buildCSR } from './csr-build.js';
export type { CsrOptions } from './csr-build.js';
export type { CertificateRequest } from './csr.js';
export {
  x509SvidTemplate,
  caTemplate,
  NOT_BEFORE_CUSHION_MS,
  DEFAULT_X509_SVID_SUBJECT,
  DEFAULT_X509_CA_SUBJECT,
} from './profiles.js';
export type { X509SvidParams, X509CaParams } from './profiles.js';
export { X509SvidEncoder } from './svid-encoder.js';
export type { X509SvidBuildParams, BuiltX509Svid } from './svid-encoder.js';
export { validateX509Svid } from './svid.js';
export type { X509SvidValidation } from './svid.js';
export { pemEncode, pemDecode } from './pem.js';
