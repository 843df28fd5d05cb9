/** Parsing PKCS#10 certificate signing requests (RFC 2986) from the network. */
import {
  SIGNATURE_ALGORITHMS,
  parseSignatureAlgorithm,
  parseSpki,
  publicKeyObject,
  publicKeyObjectAsync,
  verifySignature,
  verifySignatureAsync,
  type PublicKeyInfo,
  type VerifyAlgorithm,
} from './algorithms.js';
import { decodeDer, parseFail, type DerElement } from './der-decode.js';
import { TAG } from './der-encode.js';
import { X509Error } from './errors.js';
import { parseExtensions, type ParsedExtensions } from './extensions-parse.js';
import { OID } from './oids.js';
import { parseName, type Name } from './name.js';

/** A parsed CSR. Byte fields are views of the input: do not mutate. */
export interface CertificateRequest {
  /** The whole CSR DER. */
  readonly der: Uint8Array;
  /** The CertificationRequestInfo DER (what the signature covers). */
  readonly info: Uint8Array;
  readonly subject: Name;
  /** SubjectPublicKeyInfo DER, ready for {@link BuildOptions.publicKeyDer}. */
  readonly publicKeyDer: Uint8Array;
  readonly publicKey: PublicKeyInfo;
  /** URI SANs from the extensionRequest attribute. */
  readonly uris: string[];
  /** DNS SANs from the extensionRequest attribute. */
  readonly dnsNames: string[];
  /** The requested extensions (empty when there is no extensionRequest). */
  readonly extensions: ParsedExtensions;
  readonly signatureAlgorithm: VerifyAlgorithm;
  readonly signature: Uint8Array;
  /** Whether the signature verifies with the CSR's own key (proof of possession). */
  readonly signatureValid: boolean;
}

const NO_EXTENSIONS: ParsedExtensions = Object.freeze({ list: [], unhandledCritical: [] });

function requestedExtensions(attrs: DerElement): ParsedExtensions {
  let found: ParsedExtensions | undefined;
  for (const attr of attrs.children()) {
    const parts = attr.expect(TAG.SEQUENCE, 'CSR attribute').children();
    if (parts.length !== 2) parseFail(`CSR attribute has ${parts.length} parts, expected 2`, attr);
    const type = (parts[0] as DerElement).expect(TAG.OID, 'CSR attribute type').oid();
    const values = (parts[1] as DerElement).expect(TAG.SET, `CSR attribute ${type} values`).children();
    if (type !== OID.extensionRequest) continue;
    if (found || values.length !== 1) parseFail('CSR must have at most one extensionRequest with one value', attr);
    found = parseExtensions(values[0] as DerElement);
  }
  return found ?? NO_EXTENSIONS;
}

/**
 * Parses a DER CSR and checks its signature with node:crypto over the
 * CertificationRequestInfo, using the algorithm the CSR names.
 * A signature that does not verify gives `signatureValid: false`; everything
 * else wrong throws.
 * @throws X509Error `ERR_DER` (not DER), `ERR_X509_PARSE` (not a CSR, or a key
 * OpenSSL refuses, or an algorithm that does not fit the key), `ERR_X509_UNSUPPORTED`.
 *
 * @example
 * ```ts
 * const csr = parseCSR(req.csr);
 * if (!csr.signatureValid) throw new Error('CSR signature is invalid');
 * ```
 */
export function parseCSR(der: Uint8Array): CertificateRequest {
  const csr = parseCSRUnchecked(der);
  const key = publicKeyObject(csr.publicKey, 'CSR public key');
  return { ...csr, signatureValid: verifySignature(csr.signatureAlgorithm, key, csr.info, csr.signature) };
}

/**
 * {@link parseCSR} for servers: the EC key is imported through WebCrypto (the
 * cheapest import in OpenSSL 3.0) and the signature is checked on the libuv
 * threadpool, so the event loop pays only for parsing and the key import.
 * Same results and errors (as a rejected promise).
 */
export async function parseCSRAsync(der: Uint8Array): Promise<CertificateRequest> {
  const csr = parseCSRUnchecked(der);
  const key = await publicKeyObjectAsync(csr.publicKey, 'CSR public key');
  return { ...csr, signatureValid: await verifySignatureAsync(csr.signatureAlgorithm, key, csr.info, csr.signature) };
}

/** A parsed CSR whose signature has not been checked yet. */
export type UncheckedCertificateRequest = Omit<CertificateRequest, 'signatureValid'>;

/**
 * {@link parseCSR} without the signature check, for callers that check it
 * elsewhere (the server checks CSRs on worker threads): the structure, key
 * and algorithm are validated exactly as {@link parseCSR} does, and
 * `signatureValid` must still be established before the CSR is trusted.
 * @throws X509Error as {@link parseCSR}, except OpenSSL's import of the key.
 */
export function parseCSRUnchecked(der: Uint8Array): UncheckedCertificateRequest {
  const root = decodeDer(der);
  const top = root.expect(TAG.SEQUENCE, 'CSR').children();
  if (top.length !== 3) parseFail(`CSR has ${top.length} parts, expected 3`);
  const [infoEl, algEl, sigEl] = top as [DerElement, DerElement, DerElement];
  const signatureAlgorithm = parseSignatureAlgorithm(algEl, 'CSR signatureAlgorithm');
  const sig = sigEl.expect(TAG.BIT_STRING, 'CSR signature').bitString();
  if (sig.unusedBits !== 0) parseFail('CSR signature has unused bits', sigEl);

  const parts = infoEl.expect(TAG.SEQUENCE, 'CertificationRequestInfo').children();
  if (parts.length < 3 || parts.length > 4) parseFail(`CertificationRequestInfo has ${parts.length} parts, expected 4`, infoEl);
  const version = (parts[0] as DerElement).expect(TAG.INTEGER, 'CSR version').integer();
  if (version !== 0n) parseFail(`unsupported CSR version ${version}`, parts[0]);
  const subject = parseName(parts[1] as DerElement, 'CSR subject');
  const publicKey = parseSpki(parts[2] as DerElement, 'CSR public key');
  const extensions = parts[3] ? requestedExtensions((parts[3] as DerElement).expect(0xa0, 'CSR attributes')) : NO_EXTENSIONS;

  const keyType = SIGNATURE_ALGORITHMS[signatureAlgorithm].keyType;
  if (keyType !== publicKey.keyType) {
    throw new X509Error('ERR_X509_PARSE', `CSR signature algorithm ${signatureAlgorithm} does not fit its ${publicKey.keyType} public key`);
  }
  return {
    der: root.bytes,
    info: infoEl.bytes,
    subject,
    publicKeyDer: publicKey.der,
    publicKey,
    uris: extensions.subjectAltName?.uris ?? [],
    dnsNames: extensions.subjectAltName?.dnsNames ?? [],
    extensions,
    signatureAlgorithm,
    signature: sig.bytes,
  };
}
