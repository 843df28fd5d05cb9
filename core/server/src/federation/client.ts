/**
 * Fetching a federated trust domain's bundle from its bundle endpoint (SPIRE's
 * pkg/server/bundle/client/client.go): `https_spiffe` authenticates the
 * endpoint by its X509-SVID (chain to the endpoint trust domain's bundle as
 * stored locally, SPIFFE ID equal to the configured one); `https_web` uses
 * the Web PKI (Node's CA store, plus NODE_EXTRA_CA_CERTS, plus any CAs
 * given here). The answer must be a SPIFFE bundle document; size and time
 * are bounded.
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import * as https from 'node:https';
import { rootCertificates, type PeerCertificate } from 'node:tls';
import { decodeSpiffeBundle, parseSpiffeId, validateX509Svid, type Bundle } from '@spire-ts/common';

/** The largest bundle document accepted. */
export const MAX_BUNDLE_BYTES = 4 * 1024 * 1024;
/** Time allowed for a whole fetch. */
export const FETCH_TIMEOUT_MS = 30_000;

export interface FetchBundleOptions {
  /** The trust domain whose bundle is fetched (bare name). */
  readonly trustDomain: string;
  /** https URL. */
  readonly url: string;
  /** `https_spiffe`: the endpoint's SPIFFE ID and the X.509 roots of its trust domain (DER). */
  readonly spiffeAuth?: { readonly endpointSpiffeId: string; readonly roots: readonly Uint8Array[] };
  /** `https_web`: CAs trusted on top of the system store (PEM); for tests and private PKIs. */
  readonly extraWebCasPem?: string;
  readonly timeoutMs?: number;
  /** The time SVIDs are checked at (default now). */
  readonly now?: () => Date;
  /** Aborts the fetch (server shutdown). */
  readonly signal?: AbortSignal;
}

/** Why a fetch failed, with SPIRE's wording where it has one. */
export class BundleFetchError extends Error {
  override readonly name = 'BundleFetchError';
}

function toPem(der: Uint8Array): string {
  return new X509Certificate(Buffer.from(der)).toString();
}

/** The presented chain (leaf first) as node:tls built it, without the trust anchors. */
function chainOf(cert: PeerCertificate, roots: ReadonlySet<string>): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<PeerCertificate>();
  let cur: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = cert;
  while (cur && cur.raw && !seen.has(cur) && out.length < 16) {
    seen.add(cur);
    const raw = new Uint8Array(cur.raw);
    if (out.length > 0 && roots.has(Buffer.from(raw).toString('base64'))) break;
    out.push(raw);
    cur = cur.issuerCertificate;
  }
  return out;
}

/** SPIFFE trust domains named by a CA certificate's URI SANs. */
function certTrustDomains(der: Uint8Array): string[] {
  const san = new X509Certificate(Buffer.from(der)).subjectAltName ?? '';
  const out: string[] = [];
  for (const part of san.split(', ')) {
    if (!part.startsWith('URI:spiffe://')) continue;
    try {
      out.push(parseSpiffeId(part.slice(4)).trustDomain);
    } catch {
      // not a valid SPIFFE ID: says nothing about the trust domain
    }
  }
  return out;
}

/**
 * Checks that a fetched bundle belongs to `trustDomain`: a CA certificate
 * naming another trust domain in a SPIFFE URI SAN means the endpoint serves
 * someone else's bundle.
 */
export function checkBundleTrustDomain(bundle: Bundle, trustDomain: string): void {
  for (const [i, der] of bundle.x509Authorities.entries()) {
    const other = certTrustDomains(der).find((td) => td !== trustDomain);
    if (other !== undefined) {
      throw new BundleFetchError(`bundle from the endpoint is not for trust domain "${trustDomain}": X.509 authority ${i} belongs to "${other}"`);
    }
  }
}

/**
 * Fetches and decodes the bundle of `o.trustDomain` from its endpoint.
 *
 * @throws BundleFetchError (or a decoding error) saying what went wrong.
 */
export function fetchFederatedBundle(o: FetchBundleOptions): Promise<Bundle> {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    return Promise.reject(new BundleFetchError(`invalid bundle endpoint URL ${JSON.stringify(o.url)}`));
  }
  if (url.protocol !== 'https:') return Promise.reject(new BundleFetchError(`bundle endpoint URL ${JSON.stringify(o.url)} must use the https scheme`));
  return fetchOnce(o, url, MAX_REDIRECTS);
}

/** Redirects followed (same authentication at every hop; never persisted). */
export const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function fetchOnce(o: FetchBundleOptions, url: URL, redirectsLeft: number): Promise<Bundle> {
  const now = o.now ?? (() => new Date());
  const options: https.RequestOptions = { method: 'GET', agent: false, headers: { Accept: 'application/json' } };
  const auth = o.spiffeAuth;
  if (auth) {
    if (auth.endpointSpiffeId === '') return Promise.reject(new BundleFetchError(`no SPIFFE ID specified for federation with "${o.trustDomain}"`));
    if (auth.roots.length === 0) return Promise.reject(new BundleFetchError("can't perform SPIFFE Authentication: local copy of bundle has no X.509 authorities"));
    const rootSet = new Set(auth.roots.map((r) => Buffer.from(r).toString('base64')));
    options.ca = auth.roots.map(toPem);
    options.rejectUnauthorized = true;
    options.checkServerIdentity = (_host, cert) => {
      try {
        const [leaf, ...intermediates] = chainOf(cert, rootSet);
        if (!leaf) return new BundleFetchError('the bundle endpoint presented no certificate');
        const v = validateX509Svid(leaf, intermediates, auth.roots, now());
        if (v.spiffeId !== auth.endpointSpiffeId) {
          return new BundleFetchError(`unexpected ID "${v.spiffeId}": the bundle endpoint must present "${auth.endpointSpiffeId}"`);
        }
        return undefined;
      } catch (err) {
        return new BundleFetchError(`the bundle endpoint's X509-SVID is not valid: ${(err as Error).message}`);
      }
    };
  } else if (o.extraWebCasPem) {
    options.ca = [...rootCertificates, o.extraWebCasPem];
  }
  const timeoutMs = o.timeoutMs ?? FETCH_TIMEOUT_MS;
  return new Promise<Bundle>((resolve, reject) => {
    let settled = false;
    const onAbort = (): void => {
      done(new BundleFetchError('bundle fetch aborted'));
      req.destroy();
    };
    const done = (err: Error | undefined, b?: Bundle): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(b as Bundle);
    };
    const req = https.request(url, options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BUNDLE_BYTES) {
          done(new BundleFetchError(`bundle endpoint answer exceeds ${MAX_BUNDLE_BYTES} bytes`));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('error', (err) => done(new BundleFetchError(`failed to fetch bundle: ${err.message}`, { cause: err })));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const location = res.headers.location;
        if (REDIRECTS.has(res.statusCode ?? 0) && location !== undefined) {
          let next: URL;
          try {
            next = new URL(location, url);
          } catch {
            done(new BundleFetchError(`bundle endpoint redirected to an invalid URL ${JSON.stringify(location)}`));
            return;
          }
          if (next.protocol !== 'https:') done(new BundleFetchError(`bundle endpoint redirected to ${JSON.stringify(next.href)}: only https is allowed`));
          else if (redirectsLeft <= 0) done(new BundleFetchError(`failed to fetch bundle: stopped after ${MAX_REDIRECTS} redirects`));
          else fetchOnce(o, next, redirectsLeft - 1).then((b) => done(undefined, b), (err: Error) => done(err));
          return;
        }
        if (res.statusCode !== 200) {
          done(new BundleFetchError(`unexpected status ${res.statusCode ?? 0} fetching bundle: ${body.subarray(0, 1024).toString('utf8').trim()}`));
          return;
        }
        try {
          const bundle = decodeSpiffeBundle(o.trustDomain, body);
          checkBundleTrustDomain(bundle, o.trustDomain);
          done(undefined, bundle);
        } catch (err) {
          done(err instanceof BundleFetchError ? err : new BundleFetchError(`failed to decode bundle from the endpoint: ${(err as Error).message}`, { cause: err }));
        }
      });
    });
    const timer = setTimeout(() => {
      done(new BundleFetchError(`failed to fetch bundle: no answer from ${url.host} within ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    timer.unref();
    req.on('error', (err: Error & { code?: string }) => {
      if (err instanceof BundleFetchError) {
        done(err);
        return;
      }
      let msg = `failed to fetch bundle: ${err.message}`;
      if (!auth && err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
        msg += '; if the endpoint presents an X509-SVID, use the https_spiffe profile instead of https_web';
      }
      done(new BundleFetchError(msg, { cause: err }));
    });
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}

/** Whether two bundles carry the same authorities, refresh hint and sequence number (SPIRE's spiffebundle.Equal). */
export function bundlesEqual(a: Bundle, b: Bundle): boolean {
  if (a.trustDomain !== b.trustDomain || a.refreshHint !== b.refreshHint || a.sequenceNumber !== b.sequenceNumber) return false;
  if (a.x509Authorities.length !== b.x509Authorities.length || a.jwtAuthorities.length !== b.jwtAuthorities.length) return false;
  const same = (x: Uint8Array, y: Uint8Array): boolean => Buffer.from(x).equals(Buffer.from(y));
  const ax = [...a.x509Authorities].map((d) => Buffer.from(d).toString('base64')).sort();
  const bx = [...b.x509Authorities].map((d) => Buffer.from(d).toString('base64')).sort();
  if (ax.some((v, i) => v !== bx[i])) return false;
  const bj = new Map(b.jwtAuthorities.map((k) => [k.keyId, k.publicKeyDer]));
  return a.jwtAuthorities.every((k) => {
    const other = bj.get(k.keyId);
    return other !== undefined && same(k.publicKeyDer, other);
  });
}
