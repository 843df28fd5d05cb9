/**
 * JWT-SVIDs and JWT bundles: parse a JWKS, and validate a token's signature
 * (against the bundle of the `sub`'s trust domain), expiry and audience.
 */
import { createPublicKey, verify as cryptoVerify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { SpiffeId, TrustDomain } from './spiffeid.js';

/** The JWT authorities (key ID → public key) of one trust domain. */
export class JwtBundle {
  constructor(
    readonly trustDomain: TrustDomain,
    readonly authorities: ReadonlyMap<string, KeyObject>,
  ) {}

  /**
   * Parses a JWKS document (the Workload API's JWT bundle, or a SPIFFE bundle:
   * keys with `use: "x509-svid"` are skipped).
   */
  static fromJwks(td: TrustDomain | string, jwks: Uint8Array | string): JwtBundle {
    const t = typeof td === 'string' ? TrustDomain.parse(td) : td;
    let doc: unknown;
    try {
      doc = JSON.parse(typeof jwks === 'string' ? jwks : Buffer.from(jwks).toString('utf8'));
    } catch (err) {
      throw new Error(`jwtbundle: bundle of "${t.name}" is not JSON: ${(err as Error).message}`, { cause: err });
    }
    const keys = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new Error(`jwtbundle: bundle of "${t.name}" has no "keys" array`);
    const out = new Map<string, KeyObject>();
    for (const [i, k] of keys.entries()) {
      const jwk = k as JsonWebKey & { kid?: unknown; use?: unknown };
      if (jwk.use === 'x509-svid') continue;
      if (typeof jwk.kid !== 'string' || jwk.kid === '') throw new Error(`jwtbundle: key ${i} of "${t.name}" has no "kid"`);
      try {
        out.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
      } catch (err) {
        throw new Error(`jwtbundle: key "${jwk.kid}" of "${t.name}" is not a usable public key: ${(err as Error).message}`, { cause: err });
      }
    }
    return new JwtBundle(t, out);
  }

  /** The authority with key ID `kid`. */
  findAuthority(kid: string): KeyObject | undefined {
    return this.authorities.get(kid);
  }
}

/** Anything that can give the JWT bundle of a trust domain. */
export interface JwtBundleSource {
  getJwtBundle(td: TrustDomain | string): JwtBundle | undefined;
}

/** A fixed set of JWT bundles. */
export class JwtBundleSet implements JwtBundleSource {
  readonly #bundles = new Map<string, JwtBundle>();
  constructor(bundles: Iterable<JwtBundle> = []) {
    for (const b of bundles) this.#bundles.set(b.trustDomain.name, b);
  }
  getJwtBundle(td: TrustDomain | string): JwtBundle | undefined {
    return this.#bundles.get(typeof td === 'string' ? td : td.name);
  }
  bundles(): JwtBundle[] {
    return [...this.#bundles.values()];
  }
}

/** A validated (or merely parsed) JWT-SVID. */
export interface JwtSvid {
  readonly id: SpiffeId;
  readonly audience: readonly string[];
  readonly expiresAt: Date;
  readonly claims: Readonly<Record<string, unknown>>;
  /** The compact token itself. */
  readonly token: string;
  readonly hint: string;
}

/** A token that is not a valid JWT-SVID for the caller; `reason` is machine-readable. */
export class JwtSvidError extends Error {
  override readonly name = 'JwtSvidError';
  constructor(
    readonly reason: 'malformed' | 'unsupported-algorithm' | 'no-bundle' | 'unknown-key' | 'bad-signature' | 'expired' | 'not-yet-valid' | 'audience' | 'subject',
    message: string,
  ) {
    super(`jwtsvid: ${message}`);
  }
}

interface Alg {
  hash: string;
  kind: 'rsa' | 'pss' | 'ec';
}
const ALGS: Record<string, Alg> = {
  RS256: { hash: 'sha256', kind: 'rsa' },
  RS384: { hash: 'sha384', kind: 'rsa' },
  RS512: { hash: 'sha512', kind: 'rsa' },
  PS256: { hash: 'sha256', kind: 'pss' },
  PS384: { hash: 'sha384', kind: 'pss' },
  PS512: { hash: 'sha512', kind: 'pss' },
  ES256: { hash: 'sha256', kind: 'ec' },
  ES384: { hash: 'sha384', kind: 'ec' },
  ES512: { hash: 'sha512', kind: 'ec' },
};

function b64json(part: string, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new JwtSvidError('malformed', `token ${what} is not a base64url JSON object`);
}

interface Parsed {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
  id: SpiffeId;
  audience: string[];
  expiresAt: Date;
}

function parse(token: string): Parsed {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtSvidError('malformed', `token has ${parts.length} parts, expected 3 (header.payload.signature)`);
  const header = b64json(parts[0]!, 'header');
  const claims = b64json(parts[1]!, 'payload');
  if (typeof header.typ === 'string' && header.typ !== 'JWT' && header.typ !== 'JOSE') throw new JwtSvidError('malformed', `token header "typ" is "${header.typ}", expected "JWT" or "JOSE"`);
  if (typeof claims.sub !== 'string') throw new JwtSvidError('subject', 'token has no "sub" claim');
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(claims.sub);
  } catch (err) {
    throw new JwtSvidError('subject', `token "sub" claim "${claims.sub}" is not a SPIFFE ID: ${(err as Error).message}`);
  }
  const aud = claims.aud;
  const audience = typeof aud === 'string' ? [aud] : Array.isArray(aud) && aud.every((a) => typeof a === 'string') ? (aud as string[]) : undefined;
  if (!audience || audience.length === 0) throw new JwtSvidError('audience', 'token has no "aud" claim');
  if (typeof claims.exp !== 'number') throw new JwtSvidError('malformed', 'token has no numeric "exp" claim');
  return { header, claims, signingInput: `${parts[0]!}.${parts[1]!}`, signature: Buffer.from(parts[2]!, 'base64url'), id, audience, expiresAt: new Date(claims.exp * 1000) };
}

/**
 * Reads a JWT-SVID's claims WITHOUT verifying its signature (for a token you
 * fetched yourself from the Workload API).
 */
export function parseJwtSvidInsecure(token: string, hint = ''): JwtSvid {
  const p = parse(token);
  return { id: p.id, audience: p.audience, expiresAt: p.expiresAt, claims: p.claims, token, hint };
}

/** Options for {@link validateJwtSvid}. */
export interface ValidateJwtOptions {
  /** Accepted audiences: the token must name at least one. */
  audience: string | readonly string[];
  /** Clock (default now). */
  now?: Date;
  /** Allowed clock skew in seconds for `exp`/`nbf` (default 0). */
  leewaySeconds?: number;
}

/**
 * Validates a JWT-SVID: the signature against the JWT bundle of the `sub`'s
 * trust domain (by `kid`), `exp`/`nbf`, and that `aud` names one of the
 * accepted audiences.
 *
 * @example
 * ```ts
 * const svid = validateJwtSvid(token, jwtSource, { audience: 'spiffe://example.org/api' });
 * svid.id.toString(); // the caller's SPIFFE ID
 * ```
 */
export function validateJwtSvid(token: string, bundles: JwtBundleSource, options: ValidateJwtOptions): JwtSvid {
  const p = parse(token);
  const algName = p.header.alg;
  const alg = typeof algName === 'string' ? ALGS[algName] : undefined;
  if (!alg) throw new JwtSvidError('unsupported-algorithm', `unsupported token signature algorithm ${JSON.stringify(algName ?? null)}`);
  const kid = p.header.kid;
  if (typeof kid !== 'string' || kid === '') throw new JwtSvidError('malformed', 'token header has no key ID ("kid")');
  const bundle = bundles.getJwtBundle(p.id.trustDomain);
  if (!bundle) throw new JwtSvidError('no-bundle', `no JWT bundle for trust domain "${p.id.trustDomain.name}"`);
  const key = bundle.findAuthority(kid);
  if (!key) throw new JwtSvidError('unknown-key', `no JWT authority "${kid}" in the bundle of "${p.id.trustDomain.name}"`);
  const ok = cryptoVerify(
    alg.hash,
    Buffer.from(p.signingInput, 'ascii'),
    alg.kind === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : alg.kind === 'pss' ? { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -1 } : key,
    p.signature,
  );
  if (!ok) throw new JwtSvidError('bad-signature', `token signature does not verify with authority "${kid}"`);
  const now = (options.now ?? new Date()).getTime() / 1000;
  const leeway = options.leewaySeconds ?? 0;
  if (now > p.expiresAt.getTime() / 1000 + leeway) throw new JwtSvidError('expired', `token expired at ${p.expiresAt.toISOString()}`);
  if (typeof p.claims.nbf === 'number' && now + leeway < p.claims.nbf) throw new JwtSvidError('not-yet-valid', `token is not valid before ${new Date(p.claims.nbf * 1000).toISOString()}`);
  const accepted = typeof options.audience === 'string' ? [options.audience] : options.audience;
  if (!p.audience.some((a) => accepted.includes(a))) {
    throw new JwtSvidError('audience', `token audience ${JSON.stringify(p.audience)} does not include ${accepted.length === 1 ? JSON.stringify(accepted[0]) : `any of ${JSON.stringify(accepted)}`}`);
  }
  return { id: p.id, audience: p.audience, expiresAt: p.expiresAt, claims: p.claims, token, hint: '' };
}
