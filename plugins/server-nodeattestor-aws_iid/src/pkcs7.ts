/**
 * Verification of the PKCS#7 (CMS SignedData) signature AWS serves at
 * `instance-identity/rsa2048`: base64 without PEM armour, no certificates
 * inside, one signer identified by issuer and serial number, RSA PKCS#1 v1.5
 * over the signed attributes (whose message digest covers the document).
 * The signer must be one of the trusted certificates for the document's
 * region; the signed content is returned so the caller can compare it with
 * the document it was given.
 */
import { createHash, verify, type X509Certificate } from 'node:crypto';
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

/** The base64 body of the signature (what IMDS serves), at most this long. */
export const MAX_PKCS7_BASE64 = 8192;

interface Signer {
  issuer: Buffer;
  serial: Buffer;
  digest: string;
  signedAttrs: BerNode | undefined;
  signatureAlg: string;
  signature: Buffer;
}

interface IssuerSerial {
  issuer: Buffer;
  serial: Buffer;
}

function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** The issuer Name (DER) and serial number of a certificate. */
export function issuerAndSerial(cert: X509Certificate): IssuerSerial {
  const tbs = expectTag(decodeBer(cert.raw).children[0], TAG.SEQUENCE, 'tbsCertificate');
  let i = 0;
  if (tbs.children[0]?.tag === TAG.CTX0) i++;
  const serial = expectTag(tbs.children[i], TAG.INTEGER, 'serialNumber');
  const issuer = expectTag(tbs.children[i + 2], TAG.SEQUENCE, 'issuer');
  return { issuer: issuer.raw, serial: stripLeadingZeros(serial.content) };
}

function decodeBase64Strict(text: string): Buffer {
  const compact = text.replace(/[\r\n \t]/g, '');
  if (compact.length === 0) throw new SignatureError('the PKCS#7 signature is empty');
  if (compact.length > MAX_PKCS7_BASE64) {
    throw new SignatureError(`the PKCS#7 signature is ${compact.length} base64 characters, more than the ${MAX_PKCS7_BASE64} allowed`);
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
  const signature = octetsOf(f[i], 'signature');
  return { issuer: issuer.raw, serial: stripLeadingZeros(serial.content), digest, signedAttrs, signatureAlg, signature };
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

/** Parses the structure; returns the signed content and the single signer. */
function parse(der: Buffer): { content: Buffer; signer: Signer } {
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
  const signerInfos = f[f.length - 1];
  const set = expectTag(signerInfos, TAG.SET, 'signerInfos');
  if (set.children.length !== 1) throw new SignatureError(`expected exactly one signer, found ${set.children.length}`);
  return { content, signer: parseSigner(set.children[0]!) };
}

function checkSignature(signer: Signer, content: Buffer, cert: X509Certificate): void {
  let signedBytes: Buffer;
  if (signer.signedAttrs) {
    const attrs = signer.signedAttrs;
    const ct = attribute(attrs, OID_ATTR_CONTENT_TYPE);
    if (ct && oidOf(ct, 'content-type attribute') !== OID_DATA) {
      throw new SignatureError('the content-type signed attribute does not match the signed content');
    }
    const md = attribute(attrs, OID_ATTR_MESSAGE_DIGEST);
    if (!md) throw new SignatureError('the signature has signed attributes but no message digest');
    const want = createHash(signer.digest).update(content).digest();
    if (!octetsOf(md, 'message-digest attribute').equals(want)) {
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
  if (!ok) throw new SignatureError('the RSA signature does not verify with the certificate it names');
}

/**
 * Verifies a base64 PKCS#7 signature against the trusted certificates and
 * returns the signed content. Throws {@link SignatureError} with an
 * operator-readable reason.
 */
export function verifyPkcs7(base64: string, trusted: readonly X509Certificate[]): Buffer {
  const der = decodeBase64Strict(base64);
  let parsed: { content: Buffer; signer: Signer };
  try {
    parsed = parse(der);
  } catch (err) {
    if (err instanceof BerError) throw new SignatureError(`malformed PKCS#7 signature: ${err.message}`);
    throw err;
  }
  const { content, signer } = parsed;
  const cert = trusted.find((c) => {
    const id = issuerAndSerial(c);
    return id.issuer.equals(signer.issuer) && id.serial.equals(signer.serial);
  });
  if (!cert) {
    throw new SignatureError(
      `signed by a certificate (serial ${signer.serial.toString('hex') || '0'}) that is not among the ${trusted.length} trusted for this region`,
    );
  }
  try {
    checkSignature(signer, content, cert);
  } catch (err) {
    if (err instanceof BerError) throw new SignatureError(`malformed PKCS#7 signed attributes: ${err.message}`);
    throw err;
  }
  return content;
}
