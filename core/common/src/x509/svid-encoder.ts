/**
 * X.509-SVIDs from one issuing CA at the cost of their varying parts only.
 * SPIRE's X.509-SVID profile (see {@link x509SvidTemplate}) repeats most of a
 * TBSCertificate for every SVID a CA signs: version, signature algorithm,
 * issuer name, keyUsage, extKeyUsage, basicConstraints, authorityKeyIdentifier
 * and (without DNS names) the subject. An {@link X509SvidEncoder} encodes
 * those once per CA; each SVID then encodes its serial number, validity,
 * public key, subjectKeyIdentifier and SAN. The result is byte for byte what
 * {@link buildCertificate} makes from {@link x509SvidTemplate}, with the same
 * checks and errors.
 */
import { createHash } from 'node:crypto';
import { SIGNATURE_ALGORITHMS, encodeSignatureAlgorithm, parseSpki, type PublicKeyInfo, type SignatureAlgorithm } from './algorithms.js';
import { checkSignatureForm, pooledRandomBytes, type CertificateSigner } from './builder.js';
import type { Certificate } from './certificate.js';
import { DER } from './der-encode.js';
import { X509Error } from './errors.js';
import {
  authorityKeyIdExtension,
  basicConstraintsExtension,
  encodeExtension,
  extKeyUsageExtension,
  keyUsageExtension,
  subjectAltNameExtension,
  subjectKeyIdExtension,
} from './extensions.js';
import { encodeName, type NameSpec } from './name.js';
import { DEFAULT_X509_SVID_SUBJECT, isEmpty, issuerTrustDomain, lifetime } from './profiles.js';
import { checkSpiffeId } from './spiffe-id.js';

/** Inputs of {@link X509SvidEncoder.build}. */
export interface X509SvidBuildParams {
  /** The SVID's SPIFFE ID: must have a path, and be in the issuer's trust domain when the issuer names one. */
  spiffeId: string;
  /** The certified key: SubjectPublicKeyInfo DER, or already parsed (a checked CSR's `publicKey`). */
  publicKey: Uint8Array | PublicKeyInfo;
  /** DNS SANs; the first is also the subject CN. */
  dnsNames?: readonly string[];
  /** The clock reading. */
  now: Date;
  /** Lifetime from `now`; capped at the issuer's notAfter. */
  ttlMs: number;
  /** Randomness for the serial number (tests inject it). Default: node:crypto. */
  random?: (size: number) => Uint8Array;
}

/** A signed X.509-SVID leaf. */
export interface BuiltX509Svid {
  readonly der: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

function fail(message: string): never {
  throw new X509Error('ERR_X509_TEMPLATE', message);
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** DER INTEGER of 16 random bytes read as an unsigned big-endian number, as DER.integer(bigint) writes it; undefined for zero. */
function serialInteger(b: Uint8Array): Uint8Array | undefined {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return undefined;
  const pad = (b[i] as number) & 0x80 ? 1 : 0;
  const len = b.length - i + pad;
  const out = new Uint8Array(2 + len);
  out[0] = 0x02;
  out[1] = len;
  out.set(b.subarray(i), 2 + pad);
  return out;
}

/**
 * SPIRE's X.509-SVID profile for one issuer and signer, with the invariant
 * DER encoded once. Make one per CA activation; it holds no key.
 *
 * @example
 * ```ts
 * const enc = new X509SvidEncoder(ca.certificate, signer);
 * const { der, notAfter } = await enc.build({ spiffeId, publicKey: csr.publicKey, now: clock.now(), ttlMs: 3_600_000 });
 * ```
 */
export class X509SvidEncoder {
  readonly issuer: Certificate;
  readonly signer: CertificateSigner;
  readonly #hash: 'sha256' | 'sha384' | 'sha512';
  readonly #algId: Uint8Array;
  /** `[0] { INTEGER 2 }`. */
  readonly #version: Uint8Array;
  readonly #issuerName: Uint8Array;
  readonly #subjectSpec: Readonly<NameSpec>;
  /** The subject without DNS names (no CN). */
  readonly #subject: Uint8Array;
  /** keyUsage, extKeyUsage, basicConstraints: encoded, in order. */
  readonly #head: Uint8Array;
  /** authorityKeyIdentifier, or empty when the issuer has no SKI. */
  readonly #aki: Uint8Array;
  readonly #trustDomain: string | undefined;

  /** @param subject default (also when empty) SPIRE's `C=US, O=SPIRE`. */
  constructor(issuer: Certificate, signer: CertificateSigner, subject?: NameSpec) {
    const info = SIGNATURE_ALGORITHMS[signer?.algorithm];
    if (!info || info.hash === null) fail(`unsupported signature algorithm ${String(signer?.algorithm)}`);
    if (issuer.publicKey.keyType !== info.keyType) {
      fail(`signature algorithm ${signer.algorithm} cannot be made with the issuer's ${issuer.publicKey.keyType} key`);
    }
    this.issuer = issuer;
    this.signer = signer;
    this.#hash = info.hash;
    this.#algId = encodeSignatureAlgorithm(signer.algorithm as SignatureAlgorithm);
    this.#version = DER.explicit(0, DER.integer(2));
    this.#issuerName = issuer.subject.der;
    this.#subjectSpec = Object.freeze({ ...(isEmpty(subject) ? DEFAULT_X509_SVID_SUBJECT : subject) });
    this.#subject = encodeName(this.#subjectSpec);
    if (this.#subject.length === 2) fail('a certificate with an empty subject needs a subject alternative name');
    this.#head = concatBytes([
      encodeExtension(keyUsageExtension(['digitalSignature', 'keyEncipherment', 'keyAgreement'])),
      encodeExtension(extKeyUsageExtension(['serverAuth', 'clientAuth'])),
      encodeExtension(basicConstraintsExtension(false)),
    ]);
    const aki = issuer.extensions.subjectKeyId;
    this.#aki = aki ? encodeExtension(authorityKeyIdExtension(aki)) : new Uint8Array(0);
    this.#trustDomain = issuerTrustDomain(issuer);
  }

  /**
   * The TBSCertificate of an SVID and its validity.
   * @throws X509Error `ERR_X509_TEMPLATE` for a bad SPIFFE ID, a foreign trust domain, an expired issuer.
   */
  tbs(p: X509SvidBuildParams): { tbs: Uint8Array; notBefore: Date; notAfter: Date; publicKey: PublicKeyInfo } {
    const id = checkSpiffeId(p.spiffeId);
    if (typeof id === 'string') fail(`invalid X509-SVID ID ${JSON.stringify(p.spiffeId)}: ${id}`);
    if (id.path === '') fail(`invalid X509-SVID ID ${JSON.stringify(p.spiffeId)}: an SVID needs a path`);
    if (this.#trustDomain !== undefined && this.#trustDomain !== id.trustDomain) {
      fail(`invalid X509-SVID ID ${JSON.stringify(p.spiffeId)}: not a member of trust domain "${this.#trustDomain}"`);
    }
    const { notBefore, notAfter } = lifetime(p.now, p.ttlMs, this.issuer.notAfter);
    const publicKey = p.publicKey instanceof Uint8Array ? parseSpki(p.publicKey, 'subject public key') : p.publicKey;
    const dnsNames = p.dnsNames ?? [];

    const random = p.random ?? pooledRandomBytes;
    let serial: Uint8Array | undefined;
    while (!serial) {
      const b = random(16);
      if (b.length !== 16) throw new TypeError('random(16) must return 16 bytes');
      serial = serialInteger(b);
    }
    const subject = dnsNames.length > 0 ? encodeName({ ...this.#subjectSpec, commonName: dnsNames[0] }) : this.#subject;
    const ski = encodeExtension(subjectKeyIdExtension(new Uint8Array(createHash('sha1').update(publicKey.keyBits).digest())));
    const san = encodeExtension(subjectAltNameExtension({ uris: [id.id], dnsNames }, false)!);
    const tbs = DER.sequence(
      this.#version,
      serial,
      this.#algId,
      this.#issuerName,
      DER.sequence(DER.time(notBefore), DER.time(notAfter)),
      subject,
      publicKey.der,
      DER.explicit(3, DER.tlv(0x30, this.#head, ski, this.#aki, san)),
    );
    return { tbs, notBefore, notAfter, publicKey };
  }

  /**
   * Builds and signs an X.509-SVID: the TBSCertificate's digest goes to the signer.
   * @throws X509Error as {@link tbs}, `ERR_X509_SIGNER` for a malformed signature; the signer's errors propagate.
   */
  async build(p: X509SvidBuildParams): Promise<BuiltX509Svid> {
    const { tbs, notBefore, notAfter } = this.tbs(p);
    const digest = new Uint8Array(createHash(this.#hash).update(tbs).digest());
    const signature = await this.signer.sign(digest, tbs);
    checkSignatureForm(this.signer.algorithm, signature, this.issuer.publicKey);
    return { der: DER.sequence(tbs, this.#algId, DER.bitString(signature)), notBefore, notAfter };
  }
}
