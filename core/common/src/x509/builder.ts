/**
 * Building certificates whose private key we never hold: the TBSCertificate is
 * encoded here, hashed, and only the DIGEST goes to the signer (a KeyManager's
 * SignData takes exactly that).
 */
import { createHash, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import {
  SIGNATURE_ALGORITHMS,
  encodeSignatureAlgorithm,
  parseSpki,
  publicKeyObject,
  subjectKeyId,
  verifySignature,
  type PublicKeyInfo,
  type SignatureAlgorithm,
} from './algorithms.js';
import type { Certificate } from './certificate.js';
import { decodeDer } from './der-decode.js';
import { DER, TAG } from './der-encode.js';
import { X509Error } from './errors.js';
import {
  authorityKeyIdExtension,
  basicConstraintsExtension,
  encodeExtension,
  extKeyUsageExtension,
  keyUsageExtension,
  nameConstraintsExtension,
  subjectAltNameExtension,
  subjectKeyIdExtension,
  type ExtKeyUsage,
  type Extension,
  type KeyUsage,
  type NameConstraints,
} from './extensions.js';
import { encodeName, type Name, type NameSpec } from './name.js';

/** What to put in a certificate. Extensions are written in Go's order. */
export interface CertificateTemplate {
  /** Positive, at most 20 bytes. Default: random in [1, 2^128-1] (SPIRE's `NewSerialNumber`). */
  serialNumber?: bigint;
  /** An empty subject (`{}`) makes the SAN extension critical (RFC 5280). */
  subject: NameSpec | Name;
  /** Sub-second parts are dropped. */
  notBefore: Date;
  notAfter: Date;
  /** Written critical. Absent: no basicConstraints extension. */
  basicConstraints?: { ca: boolean; pathLen?: number };
  /** Written critical. */
  keyUsage?: readonly KeyUsage[];
  extKeyUsage?: readonly ExtKeyUsage[];
  /** Default: SHA-1 of the subject public key bits (Go/SPIRE). `false`: no SKI. */
  subjectKeyId?: Uint8Array | false;
  /** Default: the issuer's SKI; none for self-signed certificates unless given. */
  authorityKeyId?: Uint8Array;
  uris?: readonly string[];
  dnsNames?: readonly string[];
  /** Written critical. */
  nameConstraints?: NameConstraints;
  /** Appended after the others; must not repeat one of them. */
  extraExtensions?: readonly Extension[];
}

/**
 * Signs a certificate. `sign` gets the digest of the TBSCertificate made with
 * the algorithm's hash (what KeyManager `SignData` takes) and, for signers that
 * hash themselves, the TBSCertificate. It returns an ECDSA signature as DER
 * `ECDSA-Sig-Value` or an RSA PKCS#1 v1.5 signature (Go's encodings).
 */
export interface CertificateSigner {
  readonly algorithm: SignatureAlgorithm;
  sign(digest: Uint8Array, tbs: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/** Inputs of {@link buildCertificate} besides the template. */
export interface BuildOptions {
  /** SubjectPublicKeyInfo DER of the certified key. */
  publicKeyDer: Uint8Array;
  signer: CertificateSigner;
  /** The signing CA. Absent: self-signed (issuer = subject, and the signer holds the subject key). */
  issuer?: Certificate;
  /** Randomness for the default serial number (tests inject it). Default: node:crypto. */
  random?: (size: number) => Uint8Array;
  /**
   * Verify the signature with the issuer's public key before returning, as Go
   * does, to catch a faulty signer. Costs one verification. Default false: the
   * signature's form (and RSA length) is always checked.
   */
  verifySignature?: boolean;
}

const RANDOM_POOL_SIZE = 4096;
let randomPool = Buffer.alloc(0);
let randomPoolOffset = 0;

/**
 * `size` bytes from node:crypto's CSPRNG, served from a pool refilled 4 KiB
 * at a time: one OpenSSL RAND call per 256 serial numbers instead of one
 * each. The bytes are a view of the pool, never handed out twice: read only.
 */
export function pooledRandomBytes(size: number): Uint8Array {
  if (size > 256) return randomBytes(size);
  if (randomPoolOffset + size > randomPool.length) {
    randomPool = randomBytes(RANDOM_POOL_SIZE);
    randomPoolOffset = 0;
  }
  const out = randomPool.subarray(randomPoolOffset, randomPoolOffset + size);
  randomPoolOffset += size;
  return out;
}

/** A random serial number in [1, 2^128-1], as SPIRE makes them. */
export function randomSerialNumber(random: (size: number) => Uint8Array = pooledRandomBytes): bigint {
  for (;;) {
    const b = random(16);
    if (b.length !== 16) throw new TypeError('random(16) must return 16 bytes');
    const v = BigInt(`0x${Buffer.from(b.buffer, b.byteOffset, 16).toString('hex')}`);
    if (v !== 0n) return v;
  }
}

function fail(message: string): never {
  throw new X509Error('ERR_X509_TEMPLATE', message);
}

function extensionsOf(t: CertificateTemplate, subjectEmpty: boolean, subjectKey: PublicKeyInfo, issuer: Certificate | undefined): Extension[] {
  const exts: Extension[] = [];
  if (t.keyUsage) exts.push(keyUsageExtension(t.keyUsage));
  if (t.extKeyUsage) exts.push(extKeyUsageExtension(t.extKeyUsage));
  if (t.basicConstraints) exts.push(basicConstraintsExtension(t.basicConstraints.ca, t.basicConstraints.pathLen));
  if (t.subjectKeyId !== false) exts.push(subjectKeyIdExtension(t.subjectKeyId ?? subjectKeyId(subjectKey)));
  const aki = t.authorityKeyId ?? issuer?.extensions.subjectKeyId;
  if (aki) exts.push(authorityKeyIdExtension(aki));
  const san = subjectAltNameExtension({ uris: t.uris ?? [], dnsNames: t.dnsNames ?? [] }, subjectEmpty);
  if (san) exts.push(san);
  else if (subjectEmpty && !(t.extraExtensions ?? []).some((e) => e.oid === '2.5.29.17' && e.critical)) {
    fail('a certificate with an empty subject needs a subject alternative name');
  }
  if (t.nameConstraints) exts.push(nameConstraintsExtension(t.nameConstraints));
  for (const e of t.extraExtensions ?? []) {
    if (exts.some((x) => x.oid === e.oid)) fail(`extra extension ${e.oid} duplicates one made from the template`);
    exts.push(e);
  }
  return exts;
}

/** Checks the signature has the form Go's signers produce, so a faulty signer cannot yield a broken certificate. */
export function checkSignatureForm(alg: SignatureAlgorithm, sig: Uint8Array, key: PublicKeyInfo): void {
  if (!(sig instanceof Uint8Array) || sig.length === 0) throw new X509Error('ERR_X509_SIGNER', 'signer returned an empty signature');
  if (SIGNATURE_ALGORITHMS[alg].keyType === 'rsa') {
    if (sig.length !== key.rsaModulusBytes) {
      throw new X509Error('ERR_X509_SIGNER', `signer returned ${sig.length} bytes, an RSA signature with this key is ${key.rsaModulusBytes}`);
    }
    return;
  }
  try {
    const parts = decodeDer(sig).expect(TAG.SEQUENCE, 'ECDSA signature').children();
    if (parts.length !== 2 || parts.some((p) => p.integer() <= 0n)) throw new Error('expected two positive INTEGERs');
  } catch (err) {
    throw new X509Error('ERR_X509_SIGNER', `signer returned a malformed ECDSA signature: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Builds and signs an X.509 v3 certificate.
 * @throws X509Error `ERR_X509_TEMPLATE` for impossible templates, `ERR_X509_SIGNER`
 * for a malformed (or, with `verifySignature`, wrong) signature; errors thrown
 * by `signer.sign` propagate unchanged.
 *
 * @example
 * ```ts
 * const der = await buildCertificate(
 *   x509SvidTemplate({ spiffeId: 'spiffe://example.org/w', issuer: ca, now: clock.now(), ttlMs: 3_600_000 }),
 *   { publicKeyDer: csr.publicKeyDer, issuer: ca, signer: { algorithm: 'ecdsa-sha256', sign: (digest) => key.signDigest(digest) } },
 * );
 * ```
 */
export async function buildCertificate(template: CertificateTemplate, options: BuildOptions): Promise<Uint8Array> {
  const { signer, issuer } = options;
  const info = SIGNATURE_ALGORITHMS[signer?.algorithm];
  if (!info || info.hash === null) fail(`unsupported signature algorithm ${String(signer?.algorithm)}`);
  const subjectKey = parseSpki(options.publicKeyDer, 'subject public key');
  const signingKey = issuer ? issuer.publicKey : subjectKey;
  if (signingKey.keyType !== info.keyType) {
    fail(`signature algorithm ${signer.algorithm} cannot be made with the ${issuer ? 'issuer' : 'subject'}'s ${signingKey.keyType} key`);
  }

  const serial = template.serialNumber ?? randomSerialNumber(options.random);
  if (serial <= 0n) fail('serial number must be positive');
  if (serial >= 1n << 159n) fail('serial number is longer than 20 bytes');
  const { notBefore, notAfter } = template;
  if (!(notBefore instanceof Date) || !(notAfter instanceof Date) || !(notBefore.getTime() <= notAfter.getTime())) {
    fail('notBefore must be a date no later than notAfter');
  }
  const subject = encodeName(template.subject);
  const issuerName = issuer ? issuer.subject.der : subject;
  const exts = extensionsOf(template, subject.length === 2, subjectKey, issuer);
  const algId = encodeSignatureAlgorithm(signer.algorithm);

  const tbs = DER.sequence(
    DER.explicit(0, DER.integer(2)),
    DER.integer(serial),
    algId,
    issuerName,
    DER.sequence(DER.time(notBefore), DER.time(notAfter)),
    subject,
    subjectKey.der,
    DER.explicit(3, DER.sequence(...exts.map(encodeExtension))),
  );
  const digest = new Uint8Array(createHash(info.hash).update(tbs).digest());
  const signature = await signer.sign(digest, tbs);
  checkSignatureForm(signer.algorithm, signature, signingKey);
  if (options.verifySignature && !verifySignature(signer.algorithm, publicKeyObject(signingKey.der), tbs, signature)) {
    throw new X509Error('ERR_X509_SIGNER', `signature does not verify with the ${issuer ? 'issuer' : 'subject'}'s public key`);
  }
  return DER.sequence(tbs, algId, DER.bitString(signature));
}

/**
 * A {@link CertificateSigner} over a node:crypto private key, signing the
 * TBSCertificate itself (for tests and for keys held in this process).
 * The algorithm defaults to Go's choice for the key.
 */
export function keyObjectSigner(privateKey: KeyObject, algorithm?: SignatureAlgorithm): CertificateSigner {
  const alg = algorithm ?? (privateKey.asymmetricKeyType === 'rsa' ? 'rsa-pkcs1-sha256' : ecAlgorithm(privateKey));
  const info = SIGNATURE_ALGORITHMS[alg];
  return {
    algorithm: alg,
    sign: (_digest, tbs) => new Uint8Array(cryptoSign(info.hash, tbs, info.keyType === 'ec' ? { key: privateKey, dsaEncoding: 'der' } : privateKey)),
  };
}

function ecAlgorithm(key: KeyObject): SignatureAlgorithm {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec') throw new TypeError(`cannot sign certificates with a ${key.asymmetricKeyType} key`);
  return curve === 'secp384r1' ? 'ecdsa-sha384' : curve === 'secp521r1' ? 'ecdsa-sha512' : 'ecdsa-sha256';
}
