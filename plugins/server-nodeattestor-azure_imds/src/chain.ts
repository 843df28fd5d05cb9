/**
 * The trust checks on the certificate that signed an attested document
 * (SPIRE's doc_validation.go): one of its DNS names must be an allowed
 * metadata domain or a subdomain of one, and it must chain to a trusted
 * root (the embedded Azure roots plus `trust_bundle_path`) through the
 * intermediates the signature carries or the one its CA Issuers URL names
 * (fetched from www.microsoft.com only, as SPIRE, and cached).
 */
import type { X509Certificate } from 'node:crypto';

export class ChainError extends Error {
  override readonly name = 'ChainError';
}

/** The only host intermediates are fetched from (SPIRE's rule). */
export const MICROSOFT_INTERMEDIATE_ISSUER_HOST = 'www.microsoft.com';
const MAX_DEPTH = 5;
const TIMEOUT_MS = 10_000;
const MAX_CERT_BYTES = 16 * 1024;
const INTERMEDIATE_CACHE_MS = 24 * 3600 * 1000;
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_ANY = '2.5.29.37.0';

/** The DNS names of the certificate's subjectAltName. */
export function dnsNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (!san) return [];
  return san
    .split(/,\s*/)
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4));
}

/** SPIRE's domain rule: a DNS name equal to an allowed domain or under it. */
export function checkMetadataDomain(cert: X509Certificate, domains: readonly string[]): void {
  const names = dnsNames(cert);
  if (names.some((n) => domains.some((d) => n === d || n.endsWith(`.${d}`)))) return;
  throw new ChainError(`certificate does not have any valid domain in SAN (found SANs=${JSON.stringify(names)}, allowed domains=${JSON.stringify(domains)})`);
}

function caIssuersUrl(cert: X509Certificate): string | undefined {
  const m = /CA Issuers - URI:(\S+)/.exec(cert.infoAccess ?? '');
  return m?.[1];
}

function current(cert: X509Certificate, now: Date, what: string): void {
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
    throw new ChainError(`${what} (${cert.subject.replace(/\n/g, ', ')}) is not valid now (valid ${cert.validFrom} to ${cert.validTo})`);
  }
}

function issues(parent: X509Certificate, child: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

export type IntermediateFetcher = (url: string) => Promise<X509Certificate>;

/** Fetches `url` (DER or PEM); cached for a day. */
export function cachingFetcher(parse: (der: Buffer) => X509Certificate): IntermediateFetcher {
  const cache = new Map<string, { cert: X509Certificate; at: number }>();
  return async (url) => {
    const hit = cache.get(url);
    if (hit && Date.now() - hit.at < INTERMEDIATE_CACHE_MS) return hit.cert;
    let res: Response;
    try {
      res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      throw new ChainError(`failed to fetch intermediate certificate ${url}: ${(err as Error).message}`);
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new ChainError(`failed to fetch intermediate certificate ${url}, status: ${res.status}`);
    if (body.length > MAX_CERT_BYTES) throw new ChainError(`intermediate certificate ${url} is larger than ${MAX_CERT_BYTES} bytes`);
    let cert: X509Certificate;
    try {
      cert = parse(body);
    } catch (err) {
      throw new ChainError(`failed to parse intermediate certificate ${url}: ${(err as Error).message}`);
    }
    cache.set(url, { cert, at: Date.now() });
    return cert;
  };
}

export interface ChainOptions {
  readonly roots: readonly X509Certificate[];
  /** Candidate intermediates (the signature's certificates). */
  readonly intermediates: readonly X509Certificate[];
  readonly fetchIntermediate: IntermediateFetcher;
  readonly now?: Date;
}

/** Verifies that `leaf` chains to one of `roots`; throws {@link ChainError} saying where it breaks. */
export async function verifyChain(leaf: X509Certificate, opts: ChainOptions): Promise<void> {
  const now = opts.now ?? new Date();
  current(leaf, now, 'signing certificate');
  const eku = leaf.keyUsage;
  if (eku && eku.length > 0 && !eku.includes(EKU_SERVER_AUTH) && !eku.includes(EKU_ANY)) {
    throw new ChainError('signing certificate is not valid for server authentication (extended key usage)');
  }
  const pool = [...opts.intermediates];
  let cert = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const root = opts.roots.find((r) => issues(r, cert));
    if (root) {
      current(root, now, 'root certificate');
      return;
    }
    let parent = pool.find((c) => c !== cert && !c.checkIssued(c) && issues(c, cert));
    if (!parent && depth === 0) {
      const url = caIssuersUrl(cert);
      if (!url) throw new ChainError('unable to verify signing certificate against root CAs: no issuer among the signature\'s certificates and no CA Issuers URL');
      let host: string;
      try {
        host = new URL(url).host;
      } catch {
        throw new ChainError(`malformed CA Issuers URL ${JSON.stringify(url)}`);
      }
      if (host !== MICROSOFT_INTERMEDIATE_ISSUER_HOST) {
        throw new ChainError(`CA Issuers URL host ${JSON.stringify(host)} does not match expected value ${JSON.stringify(MICROSOFT_INTERMEDIATE_ISSUER_HOST)}`);
      }
      const fetched = await opts.fetchIntermediate(url);
      if (issues(fetched, cert)) parent = fetched;
      else throw new ChainError('signing certificate was not issued by the intermediate certificate its CA Issuers URL names');
    }
    if (!parent) {
      throw new ChainError(`unable to verify signing certificate against root CAs: no trusted issuer for ${cert.issuer.replace(/\n/g, ', ')}`);
    }
    if (!parent.ca) throw new ChainError(`issuer ${parent.subject.replace(/\n/g, ', ')} is not a CA certificate`);
    current(parent, now, 'intermediate certificate');
    cert = parent;
  }
  throw new ChainError(`unable to verify signing certificate against root CAs: chain longer than ${MAX_DEPTH}`);
}
