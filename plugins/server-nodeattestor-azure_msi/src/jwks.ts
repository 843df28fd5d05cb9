/**
 * The signing keys of MSI tokens: the OpenID discovery document of the
 * issuer (`<issuer>.well-known/openid-configuration`) names `jwks_uri`,
 * whose keys are cached for an hour (SPIRE's refresh interval). A token
 * naming an unknown key ID triggers one early refresh, at most once a
 * minute, so a key rotation is picked up without letting hostile tokens
 * hammer the issuer.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { JWS_ALGORITHMS } from '@spire-ts/nodeattestor-kit';

export { verifyJws } from '@spire-ts/nodeattestor-kit';

export class KeySetError extends Error {
  override readonly name = 'KeySetError';
}

const TIMEOUT_MS = 10_000;
const MAX_DOC_BYTES = 512 * 1024;
export const KEY_SET_REFRESH_MS = 60 * 60 * 1000;
const EARLY_REFRESH_MIN_MS = 60 * 1000;

async function getJson(url: string, what: string): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new KeySetError(`${what} ${url}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`);
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > MAX_DOC_BYTES) throw new KeySetError(`${what} ${url}: response larger than ${MAX_DOC_BYTES} bytes`);
  if (res.status !== 200) throw new KeySetError(`${what} ${url}: HTTP ${res.status}`);
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new KeySetError(`${what} ${url}: not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new KeySetError(`${what} ${url}: not a JSON object`);
  return doc as Record<string, unknown>;
}

/** Signing keys by key ID (keys without `kid`, or of unusable types, are skipped). */
export function parseJwks(doc: Record<string, unknown>): Map<string, KeyObject> {
  if (!Array.isArray(doc.keys)) throw new KeySetError('JWKS has no "keys" array');
  const keys = new Map<string, KeyObject>();
  for (const jwk of doc.keys as unknown[]) {
    if (typeof jwk !== 'object' || jwk === null) continue;
    const { kid, use, kty } = jwk as Record<string, unknown>;
    if (typeof kid !== 'string' || kid === '' || (use !== undefined && use !== 'sig')) continue;
    if (kty !== 'RSA' && kty !== 'EC') continue;
    try {
      keys.set(kid, createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }));
    } catch {
      // A malformed key cannot verify anything; the others still can.
    }
  }
  return keys;
}

export class OpenIdKeySet {
  private keys: Map<string, KeyObject> | undefined;
  private fetchedAt = 0;
  private inflight: Promise<Map<string, KeyObject>> | undefined;

  constructor(
    readonly issuerUrl: string,
    private readonly now: () => number = Date.now,
  ) {}

  private refresh(): Promise<Map<string, KeyObject>> {
    this.inflight ??= (async () => {
      try {
        const discovery = await getJson(`${this.issuerUrl}.well-known/openid-configuration`, 'unable to fetch OpenID configuration from');
        const jwksUri = discovery.jwks_uri;
        if (typeof jwksUri !== 'string' || !/^https?:\/\//.test(jwksUri)) throw new KeySetError('OpenID configuration has no usable "jwks_uri"');
        const keys = parseJwks(await getJson(jwksUri, 'unable to fetch JWKS from'));
        this.keys = keys;
        this.fetchedAt = this.now();
        return keys;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  /** The key for `kid`, or undefined if the issuer does not publish it. */
  async key(kid: string): Promise<KeyObject | undefined> {
    const age = this.now() - this.fetchedAt;
    let keys = this.keys && age < KEY_SET_REFRESH_MS ? this.keys : await this.refresh();
    if (!keys.has(kid) && this.now() - this.fetchedAt >= EARLY_REFRESH_MIN_MS) keys = await this.refresh();
    return keys.get(kid);
  }
}

/** The algorithms SPIRE accepts for MSI tokens (every JWS algorithm the shared verifier knows). */
export const ALLOWED_ALGORITHMS: readonly string[] = JWS_ALGORITHMS;
