/**
 * Verification of a PKCS#7 (CMS SignedData) signature as the cloud
 * instance-identity services serve it: base64 without PEM armour, the signed
 * content inside (detached signatures are refused), one signer identified by
 * issuer and serial number, RSA PKCS#1 v1.5 over the signed attributes (whose
 * message digest covers the content) or over the content itself.
 *
 * The signer's certificate comes either from a caller-supplied trusted list
 * (AWS: the regional certificates; the signature's own certificate set is
 * not read) or from the signature's certificate set (Azure: the caller then
 * checks that certificate's chain and names).
 */
import { X509Certificate, createHash, verify } from 'node:crypto';
import { BerError, TAG, decodeBer, definiteContent, encodeTLV, expectTag, octetsOf, oidOf, type BerNode } from './ber.js';

export class SignatureError extends Error {
  override readonly name = 'SignatureError';
}

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_DATA = '1.2.840.113549.1.7.1';
const OID_ATTR_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_ATTR_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';

const DIGESTS: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** Signature algorithms accepted for the signer (all RSA PKCS#1 v1.5). */
const RSA_SIGNATURES = new Set([
  '1.2.840.113549.1.1.1', // rsaEncryption (hash from digestAlgorithm)
  '1.2.840.113549.1.1.5', // sha1WithRSAEncryption
  '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13', // sha512WithRSAEncryption
]);

/** At most this many certificates in an embedded certificate set. */
export const MAX_EMBEDDED_CERTS = 8;

export interface Pkcs7Options {
  /** The base64 signature (whitespace removed) may be at most this long. */
  readonly maxBase64: number;
  /**
   * The certificates the signer must be one of. When absent, the signer is
   * looked up in the signature's own certificate set instead.
   */
  readonly trusted?: readonly X509Certificate[];
  /** The reason given when the signer is not among `trusted` (serial in hex). */
  readonly untrustedReason?: (serialHex: string, trustedCount: number) => string;
}

export interface VerifiedPkcs7 {
  readonly content: Buffer;
  readonly signer: X509Certificate;
  /** Every certificate of the embedded set (the signer included); empty with `trusted`. */
  readonly certificates: readonly X509Certificate[];
}

interface Signer {
  issuer: Buffer;
  serial: Buffer;
  digest: string;
  signedAttrs: BerNode | undefined;
  signature: Buffer;
}

function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** The issuer Name (DER) and serial number of a certificate. */
export function issuerAndSerial(cert: X509Certificate): { issuer: Buffer; serial: Buffer } {
  const tbs = expectTag(decodeBer(cert.raw).children[0], TAG.SEQUENCE, 'tbsCertificate');
  let i = 0;
  if (tbs.children[0]?.tag === TAG.CTX0) i++;
  const serial = expectTag(tbs.children[i], TAG.INTEGER, 'serialNumber');
  const issuer = expectTag(tbs.children[i + 2], TAG.SEQUENCE, 'issuer');
  return { issuer: issuer.raw, serial: stripLeadingZeros(serial.content) };
}

function decodeBase64Strict(text: string, max: number): Buffer {
  const compact = text.replace(/[\r\n \t]/g, '');
  if (compact.length === 0) throw new SignatureError('the PKCS#7 signature is empty');
  if (compact.length > max) {
    throw new SignatureError(`the PKCS#7 signature is ${compact.length} base64 characters, more than the ${max} allowed`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new SignatureError('the PKCS#7 signature is not valid base64');
  }
  return Buffer.from(compact, 'base64');
}

function parseSigner(node: BerNode): Signer {
  const f = expectTag(node, TAG.SEQUENCE, 'SignerInfo').children;
  const sid = expectTag(f[1], TAG.SEQUENCE, 'signer identifier (only issuerAndSerialNumber is supported)');
  const issuer = expectTag(sid.children[0], TAG.SEQUENCE, 'signer issuer');
  const serial = expectTag(sid.children[1], TAG.INTEGER, 'signer serial number');
  const digestOid = oidOf(expectTag(f[2], TAG.SEQUENCE, 'digestAlgorithm').children[0], 'digestAlgorithm');
  const digest = DIGESTS[digestOid];
  if (!digest) throw new SignatureError(`unsupported digest algorithm ${digestOid}`);
  let i = 3;
  let signedAttrs: BerNode | undefined;
  if (f[i]?.tag === TAG.CTX0) signedAttrs = f[i++];
  const signatureAlg = oidOf(expectTag(f[i++], TAG.SEQUENCE, 'signatureAlgorithm').children[0], 'signatureAlgorithm');
  if (!RSA_SIGNATURES.has(signatureAlg)) throw new SignatureError(`unsupported signature algorithm ${signatureAlg}`);
  return { issuer: issuer.raw, serial: stripLeadingZeros(serial.content), digest, signedAttrs, signature: octetsOf(f[i], 'signature') };
}

function attribute(attrs: BerNode, oid: string): BerNode | undefined {
  let found: BerNode | undefined;
  for (const a of attrs.children) {
    const seq = expectTag(a, TAG.SEQUENCE, 'signed attribute');
    if (oidOf(seq.children[0], 'attribute type') !== oid) continue;
    if (found) throw new SignatureError(`signed attribute ${oid} appears twice`);
    const values = expectTag(seq.children[1], TAG.SET, 'attribute values');
    if (values.children.length !== 1) throw new SignatureError(`signed attribute ${oid} must have exactly one value`);
    found = values.children[0];
  }
  return found;
}

function embeddedCertificates(certSet: BerNode | undefined): X509Certificate[] {
  const certificates: X509Certificate[] = [];
  if (!certSet) return certificates;
  if (certSet.children.length > MAX_EMBEDDED_CERTS) throw new SignatureError(`more than ${MAX_EMBEDDED_CERTS} certificates in the signature`);
  for (const c of certSet.children) {
    if (c.tag !== TAG.SEQUENCE) continue; // other certificate formats are ignored
    try {
      certificates.push(new X509Certificate(c.raw));
    } catch (err) {
      throw new SignatureError(`malformed certificate in the signature: ${(err as Error).message}`);
    }
  }
  return certificates;
}

/** Parses the structure; reads the certificate set only when `withCertificates`. */
function parse(der: Buffer, withCertificates: boolean): { content: Buffer; signer: Signer; certificates: X509Certificate[] } {
  const ci = expectTag(decodeBer(der), TAG.SEQUENCE, 'ContentInfo');
  const type = oidOf(ci.children[0], 'contentType');
  if (type !== OID_SIGNED_DATA) throw new SignatureError(`not a PKCS#7 SignedData (content type ${type})`);
  const sd = expectTag(expectTag(ci.children[1], TAG.CTX0, 'SignedData wrapper').children[0], TAG.SEQUENCE, 'SignedData');
  const f = sd.children;
  const encap = expectTag(f[2], TAG.SEQUENCE, 'encapContentInfo');
  const eType = oidOf(encap.children[0], 'eContentType');
  if (eType !== OID_DATA) throw new SignatureError(`unexpected signed content type ${eType}`);
  const wrapped = expectTag(encap.children[1], TAG.CTX0, 'signed content (detached signatures are not accepted)');
  const content = octetsOf(wrapped.children[0], 'signed content');
  const certificates = withCertificates ? embeddedCertificates(f[3]?.tag === TAG.CTX0 ? f[3] : undefined) : [];
  const set = expectTag(f[f.length - 1], TAG.SET, 'signerInfos');
  if (set.children.length !== 1) throw new SignatureError(`expected exactly one signer, found ${set.children.length}`);
  return { content, signer: parseSigner(set.children[0]!), certificates };
}

function checkSignature(signer: Signer, content: Buffer, cert: X509Certificate, certWording: string): void {
  let signedBytes: Buffer;
  if (signer.signedAttrs) {
    const attrs = signer.signedAttrs;
    const ct = attribute(attrs, OID_ATTR_CONTENT_TYPE);
    if (ct && oidOf(ct, 'content-type attribute') !== OID_DATA) {
      throw new SignatureError('the content-type signed attribute does not match the signed content');
    }
    const md = attribute(attrs, OID_ATTR_MESSAGE_DIGEST);
    if (!md) throw new SignatureError('the signature has signed attributes but no message digest');
    if (!octetsOf(md, 'message-digest attribute').equals(createHash(signer.digest).update(content).digest())) {
      throw new SignatureError('the message digest does not match the signed content');
    }
    // The signature covers the attributes re-tagged as a SET OF (RFC 5652 §5.4).
    signedBytes = encodeTLV(TAG.SET, definiteContent(attrs));
  } else {
    signedBytes = content;
  }
  let ok: boolean;
  try {
    ok = verify(signer.digest, signedBytes, cert.publicKey, signer.signature);
  } catch (err) {
    throw new SignatureError(`cannot verify the signature: ${(err as Error).message}`);
  }
  if (!ok) throw new SignatureError(`the RSA signature does not verify with ${certWording}`);
}

function sameSigner(signer: Signer): (c: X509Certificate) => boolean {
  return (c) => {
    const id = issuerAndSerial(c);
    return id.issuer.equals(signer.issuer) && id.serial.equals(signer.serial);
  };
}

/**
 * Verifies a base64 PKCS#7 signature and returns the signed content with the
 * signing certificate. Throws {@link SignatureError} with an operator-readable reason.
 */
export function verifyPkcs7(base64: string, opts: Pkcs7Options): VerifiedPkcs7 {
  const der = decodeBase64Strict(base64, opts.maxBase64);
  const { trusted } = opts;
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(der, trusted === undefined);
  } catch (err) {
    if (err instanceof BerError) throw new SignatureError(`malformed PKCS#7 signature: ${err.message}`);
    throw err;
  }
  const { content, signer, certificates } = parsed;
  let cert: X509Certificate | undefined;
  if (trusted) {
    cert = trusted.find(sameSigner(signer));
    if (!cert) {
      const serialHex = signer.serial.toString('hex') || '0';
      throw new SignatureError(
        opts.untrustedReason?.(serialHex, trusted.length) ?? `signed by a certificate (serial ${serialHex}) that is not among the ${trusted.length} trusted`,
      );
    }
  } else {
    if (certificates.length === 0) throw new SignatureError('no certificates found in PKCS7 signature');
    cert = certificates.find(sameSigner(signer));
    if (!cert) throw new SignatureError('the signer certificate is not in the PKCS7 signature');
  }
  try {
    checkSignature(signer, content, cert, trusted ? 'the certificate it names' : 'the signing certificate');
  } catch (err) {
    if (err instanceof BerError) throw new SignatureError(`malformed PKCS#7 signed attributes: ${err.message}`);
    throw err;
  }
  return { content, signer: cert, certificates };
}
