/**
 * Google's token signing keys, as SPIRE fetches them: GET the certificates
 * URL (`https://www.googleapis.com/oauth2/v1/certs`, a JSON object mapping
 * key ID → PEM certificate), cached until the answer's `Expires` header (no
 * header: fetched again for every attestation). The JWKS form Google also
 * publishes (`oauth2/v3/certs`, `{"keys": [...]}`) is understood too.
 */
import { X509Certificate, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

export const GOOGLE_CERTS_URL = 'https://www.googleapis.com/oauth2/v1/certs';
/** The largest certificates document read. Google's is a few KiB. */
export const MAX_CERTS_BYTES = 1024 * 1024;
export const CERTS_FETCH_TIMEOUT_MS = 10_000;

export class CertsError extends Error {
  override readonly name = 'CertsError';
}

/** Key ID → RSA public key. */
export type KeySet = ReadonlyMap<string, KeyObject>;

function rsaKey(key: KeyObject, kid: string): KeyObject {
  if (key.asymmetricKeyType !== 'rsa') throw new CertsError(`key ${JSON.stringify(kid)} is ${key.asymmetricKeyType ?? 'not asymmetric'}, not RSA`);
  return key;
}

/** Parses either certificates document form. */
export function parseKeySet(body: string): Map<string, KeyObject> {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new CertsError(`unable to unmarshal certificate response: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CertsError('unable to unmarshal certificate response: not a JSON object');
  const keys = new Map<string, KeyObject>();
  const jwks = (doc as { keys?: unknown }).keys;
  if (Array.isArray(jwks)) {
    for (const jwk of jwks as unknown[]) {
      const kid = (jwk as { kid?: unknown } | null)?.kid;
      if (typeof kid !== 'string') throw new CertsError('unable to unmarshal certificate response: a JWK has no "kid"');
      try {
        keys.set(kid, rsaKey(createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }), kid));
      } catch (err) {
        if (err instanceof CertsError) throw err;
        throw new CertsError(`unable to unmarshal certificate response: malformed JWK ${JSON.stringify(kid)}`);
      }
    }
    return keys;
  }
  for (const [kid, pem] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new CertsError(`unable to unmarshal certificate response: malformed PEM block for key ${JSON.stringify(kid)}`);
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      throw new CertsError(`unable to unmarshal certificate response: malformed certificate PEM for key ${JSON.stringify(kid)}`);
    }
    keys.set(kid, rsaKey(cert.publicKey, kid));
  }
  return keys;
}

/** Fetches and caches the key set from one URL. */
export class GoogleKeyRetriever {
  private keys: KeySet = new Map();
  private expiry = 0;
  private inflight: Promise<KeySet> | undefined;

  constructor(
    readonly url: string,
    private readonly now: () => number = Date.now,
  ) {}

  async keySet(): Promise<KeySet> {
    if (this.expiry !== 0 && this.now() < this.expiry) return this.keys;
    this.inflight ??= this.download().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async download(): Promise<KeySet> {
    let res: Response;
    try {
      res = await fetch(this.url, { signal: AbortSignal.timeout(CERTS_FETCH_TIMEOUT_MS) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CertsError(`unable to fetch Google's certificates from ${this.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new CertsError(`unable to fetch Google's certificates from ${this.url}: unexpected status code: ${res.status}`);
    if (body.length > MAX_CERTS_BYTES) throw new CertsError(`unable to fetch Google's certificates from ${this.url}: larger than ${MAX_CERTS_BYTES} bytes`);
    const keys = parseKeySet(body.toString('utf8'));
    const expires = res.headers.get('expires');
    const at = expires ? Date.parse(expires) : NaN;
    this.expiry = Number.isFinite(at) ? at : 0;
    this.keys = keys;
    return keys;
  }
}
