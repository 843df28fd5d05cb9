/** Parsing X.509 certificates (RFC 5280 §4.1), strictly, from untrusted bytes. */
import { parseSignatureAlgorithm, parseSpki, type PublicKeyInfo, type VerifyAlgorithm } from './algorithms.js';
import { decodeDer, parseFail, type DerElement } from './der-decode.js';
import { TAG } from './der-encode.js';
import { parseExtensions, type ParsedExtensions } from './extensions-parse.js';
import { parseName, type Name } from './name.js';

/** A parsed certificate. Byte fields are views of the input: do not mutate. */
export interface Certificate {
  /** The whole certificate DER. */
  readonly der: Uint8Array;
  /** The TBSCertificate DER (what the signature covers). */
  readonly tbs: Uint8Array;
  readonly version: 1 | 2 | 3;
  readonly serialNumber: bigint;
  readonly signatureAlgorithm: VerifyAlgorithm;
  readonly issuer: Name;
  readonly subject: Name;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: PublicKeyInfo;
  /** Decoded extensions (an empty list for v1 certificates). */
  readonly extensions: ParsedExtensions;
  readonly signature: Uint8Array;
}

const NO_EXTENSIONS: ParsedExtensions = Object.freeze({ list: [], unhandledCritical: [] });

function algBytesEqual(a: DerElement, b: DerElement): boolean {
  return Buffer.compare(a.bytes, b.bytes) === 0;
}

/**
 * Parses a DER certificate. Signature algorithms and keys outside
 * {@link VerifyAlgorithm} / {@link parseSpki} are refused.
 * Does not verify the signature or the validity period.
 * @throws X509Error `ERR_DER`, `ERR_X509_PARSE` or `ERR_X509_UNSUPPORTED`.
 *
 * @example
 * ```ts
 * const ca = parseCertificate(caDer);
 * ca.extensions.subjectKeyId; // Uint8Array
 * formatName(ca.subject);      // 'SERIALNUMBER=123,O=SPIFFE,C=US'
 * ```
 */
export function parseCertificate(der: Uint8Array): Certificate {
  const root = decodeDer(der);
  const top = root.expect(TAG.SEQUENCE, 'certificate').children();
  if (top.length !== 3) parseFail(`certificate has ${top.length} parts, expected 3`);
  const [tbsEl, algEl, sigEl] = top as [DerElement, DerElement, DerElement];
  const signatureAlgorithm = parseSignatureAlgorithm(algEl, 'certificate signatureAlgorithm');
  const sig = sigEl.expect(TAG.BIT_STRING, 'certificate signature').bitString();
  if (sig.unusedBits !== 0) parseFail('certificate signature has unused bits', sigEl);

  const parts = tbsEl.expect(TAG.SEQUENCE, 'tbsCertificate').children();
  let i = 0;
  let version: 1 | 2 | 3 = 1;
  if (parts[0]?.tag === 0xa0) {
    const v = (parts[0] as DerElement).children();
    if (v.length !== 1) parseFail('tbsCertificate version must hold one INTEGER', parts[0]);
    version = ((v[0] as DerElement).smallInteger('version', 0, 2) + 1) as 1 | 2 | 3;
    i++;
  }
  const next = (what: string): DerElement => parts[i++] ?? parseFail(`tbsCertificate is missing ${what}`, tbsEl);
  const serialNumber = next('serialNumber').expect(TAG.INTEGER, 'serialNumber').integer();
  const innerAlg = next('signature');
  if (!algBytesEqual(innerAlg, algEl)) parseFail('tbsCertificate signature algorithm differs from the outer one', innerAlg);
  const issuer = parseName(next('issuer'), 'issuer');
  const validity = next('validity').expect(TAG.SEQUENCE, 'validity').children();
  if (validity.length !== 2) parseFail(`validity has ${validity.length} parts, expected 2`);
  const notBefore = (validity[0] as DerElement).time();
  const notAfter = (validity[1] as DerElement).time();
  const subject = parseName(next('subject'), 'subject');
  const publicKey = parseSpki(next('subjectPublicKeyInfo'), 'subjectPublicKeyInfo');
  let extensions = NO_EXTENSIONS;
  while (i < parts.length) {
    const el = parts[i++] as DerElement;
    if ((el.tag === 0x81 || el.tag === 0x82) && version >= 2) continue; // issuer/subject unique IDs
    if (el.tag !== 0xa3 || version !== 3 || extensions !== NO_EXTENSIONS) {
      parseFail(`tbsCertificate: unexpected element tag 0x${el.tag.toString(16)}`, el);
    }
    const inner = el.children();
    if (inner.length !== 1) parseFail('extensions [3] must hold one SEQUENCE', el);
    extensions = parseExtensions(inner[0] as DerElement);
    if (extensions.list.length === 0) parseFail('empty extensions list', el);
  }
  return {
    der: root.bytes,
    tbs: tbsEl.bytes,
    version,
    serialNumber,
    signatureAlgorithm,
    issuer,
    subject,
    notBefore,
    notAfter,
    publicKey,
    extensions,
    signature: sig.bytes,
  };
}
