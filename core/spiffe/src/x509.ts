/**
 * X.509-SVIDs and X.509 bundles: parsing the Workload API's DER blobs and
 * verifying a peer's certificate chain against the bundle of the peer's
 * trust domain, then reading its SPIFFE ID.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { SpiffeId, TrustDomain } from './spiffeid.js';

/** An X.509-SVID: the workload's certificate chain (leaf first) and private key. */
export interface X509Svid {
  readonly id: SpiffeId;
  /** Leaf first, then intermediates. */
  readonly certificates: readonly X509Certificate[];
  readonly privateKey: KeyObject;
  /** The operator's hint for choosing among several SVIDs (may be empty). */
  readonly hint: string;
  /** The leaf's notAfter. */
  readonly expiresAt: Date;
}

/** The X.509 authorities of one trust domain. */
export class X509Bundle {
  constructor(
    readonly trustDomain: TrustDomain,
    readonly authorities: readonly X509Certificate[],
  ) {}

  /** Parses concatenated DER certificates (the Workload API's bundle encoding). */
  static fromDer(td: TrustDomain | string, der: Uint8Array): X509Bundle {
    return new X509Bundle(typeof td === 'string' ? TrustDomain.parse(td) : td, splitDer(der).map((d) => new X509Certificate(d)));
  }

  /** Parses PEM certificates (a `bundle.pem` as `spire-server bundle show` prints). */
  static fromPem(td: TrustDomain | string, pem: string): X509Bundle {
    return new X509Bundle(typeof td === 'string' ? TrustDomain.parse(td) : td, pemCertificates(pem));
  }

  /** The authorities as one PEM string. */
  toPem(): string {
    return this.authorities.map((c) => c.toString()).join('');
  }

  /** True if both hold the same certificates in the same order. */
  equals(other: X509Bundle): boolean {
    return (
      this.trustDomain.equals(other.trustDomain) &&
      this.authorities.length === other.authorities.length &&
      this.authorities.every((c, i) => c.raw.equals(other.authorities[i]!.raw))
    );
  }
}

/** Anything that can give the X.509 bundle of a trust domain (a source, a set, a single bundle). */
export interface X509BundleSource {
  getX509Bundle(td: TrustDomain | string): X509Bundle | undefined;
}

/** A fixed set of bundles keyed by trust domain name. */
export class X509BundleSet implements X509BundleSource {
  readonly #bundles = new Map<string, X509Bundle>();
  constructor(bundles: Iterable<X509Bundle> = []) {
    for (const b of bundles) this.#bundles.set(b.trustDomain.name, b);
  }
  getX509Bundle(td: TrustDomain | string): X509Bundle | undefined {
    return this.#bundles.get(typeof td === 'string' ? td : td.name);
  }
  bundles(): X509Bundle[] {
    return [...this.#bundles.values()];
  }
}

/** Splits concatenated DER-encoded ASN.1 SEQUENCEs (certificates). */
export function splitDer(der: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < der.length) {
    if (der[i] !== 0x30 || i + 2 > der.length) throw new Error(`x509: malformed DER at offset ${i}: expected a SEQUENCE`);
    let len = der[i + 1]!;
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4 || i + 2 + n > der.length) throw new Error(`x509: malformed DER length at offset ${i}`);
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + der[i + 2 + k]!;
      hdr += n;
    }
    const end = i + hdr + len;
    if (end > der.length) throw new Error(`x509: truncated DER at offset ${i}: need ${end - i} bytes, have ${der.length - i}`);
    out.push(der.subarray(i, end));
    i = end;
  }
  return out;
}

/** The certificates of a PEM string, in order. */
export function pemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** The URI SANs of a certificate. */
export function uriSans(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (!san) return [];
  return san
    .split(', ')
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}

/** The SPIFFE ID of an X.509-SVID leaf: its one URI SAN. Throws if there is not exactly one valid one. */
export function spiffeIdFromCertificate(cert: X509Certificate): SpiffeId {
  const uris = uriSans(cert);
  if (uris.length === 0) throw new Error('x509svid: certificate contains no URI SAN');
  if (uris.length > 1) throw new Error(`x509svid: certificate contains more than one URI SAN (${uris.length})`);
  try {
    return SpiffeId.parse(uris[0]!);
  } catch (err) {
    throw new Error(`x509svid: certificate URI SAN "${uris[0]!}" is not a SPIFFE ID: ${(err as Error).message}`, { cause: err });
  }
}

/** Builds an {@link X509Svid} from the Workload API's DER chain and PKCS#8 key; checks the key matches the leaf. */
export function parseX509Svid(chainDer: Uint8Array, keyPkcs8Der: Uint8Array, hint = ''): X509Svid {
  const certificates = splitDer(chainDer).map((d) => new X509Certificate(d));
  const leaf = certificates[0];
  if (!leaf) throw new Error('x509svid: empty certificate chain');
  const privateKey = createPrivateKey({ key: Buffer.from(keyPkcs8Der), format: 'der', type: 'pkcs8' });
  if (!leaf.checkPrivateKey(privateKey)) throw new Error('x509svid: private key does not match the leaf certificate');
  return { id: spiffeIdFromCertificate(leaf), certificates, privateKey, hint, expiresAt: new Date(leaf.validTo) };
}

const validAt = (c: X509Certificate, now: Date): boolean => Date.parse(c.validFrom) <= now.getTime() && now.getTime() <= Date.parse(c.validTo);

/**
 * Verifies an X.509-SVID chain (leaf first, then any intermediates the peer
 * sent) against the X.509 bundle of the leaf's trust domain, and returns the
 * leaf's SPIFFE ID. Throws with the reason when it does not verify.
 *
 * @example
 * ```ts
 * const id = verifyX509Svid(peerChain, source); // source: an X509Source or X509BundleSet
 * ```
 */
export function verifyX509Svid(chain: readonly X509Certificate[], bundles: X509BundleSource, now: Date = new Date()): SpiffeId {
  const leaf = chain[0];
  if (!leaf) throw new Error('x509svid: empty certificate chain');
  const id = spiffeIdFromCertificate(leaf);
  if (leaf.ca) throw new Error(`x509svid: leaf certificate of "${id.toString()}" is a CA`);
  const bundle = bundles.getX509Bundle(id.trustDomain);
  if (!bundle) throw new Error(`x509svid: no X.509 bundle for trust domain "${id.trustDomain.name}"`);
  const intermediates = chain.slice(1);
  let current = leaf;
  for (let depth = 0; depth <= intermediates.length; depth++) {
    if (!validAt(current, now)) throw new Error(`x509svid: certificate "${current.subject || id.toString()}" is not valid at ${now.toISOString()} (valid ${current.validFrom} to ${current.validTo})`);
    const root = bundle.authorities.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
    if (root) {
      if (!validAt(root, now)) throw new Error(`x509svid: authority "${root.subject}" is not valid at ${now.toISOString()}`);
      return id;
    }
    const next = intermediates.find((c) => c !== current && c.ca && current.checkIssued(c) && current.verify(c.publicKey));
    if (!next) break;
    current = next;
  }
  throw new Error(`x509svid: could not verify "${id.toString()}": certificate signed by unknown authority (not chained to the "${id.trustDomain.name}" bundle)`);
}
