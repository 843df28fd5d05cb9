/**
 * JWT-SVIDs over HTTP as bearer tokens (RFC 6750): attach one to a request,
 * and authenticate an incoming request's token for our audience.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { AuthorizationError, checkAuthorized, type Authorizer } from './authorize.js';
import { JwtSvidError, validateJwtSvid, type JwtBundleSource, type JwtSvid } from './jwt.js';
import { sendBearerChallenge } from './http.js';

/** Something that hands out JWT-SVIDs (a {@link JwtSource}). */
export interface JwtSvidFetcher {
  fetchJwtSvid(req: { audience: readonly string[]; spiffeId?: string }): Promise<JwtSvid>;
}

/**
 * An `Authorization` header carrying a fresh JWT-SVID for `audience`.
 *
 * @example
 * ```ts
 * const headers = await bearerHeaders(jwtSource, 'spiffe://example.org/api');
 * await fetch('https://api.example.org/x', { headers });
 * ```
 */
export async function bearerHeaders(source: JwtSvidFetcher, audience: string | readonly string[], spiffeId?: string): Promise<{ authorization: string }> {
  const svid = await source.fetchJwtSvid({ audience: typeof audience === 'string' ? [audience] : audience, ...(spiffeId ? { spiffeId } : {}) });
  return { authorization: `Bearer ${svid.token}` };
}

/** The bearer token of an `Authorization` header; throws a {@link JwtSvidError} if absent or malformed. */
export function bearerToken(headers: IncomingHttpHeaders | Headers): string {
  const value = headers instanceof Headers ? headers.get('authorization') : headers.authorization;
  if (!value) throw new JwtSvidError('malformed', 'request has no Authorization header');
  const m = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(value);
  if (!m) throw new JwtSvidError('malformed', 'Authorization header is not "Bearer <token>"');
  return m[1]!;
}

/** What {@link authenticateBearer} checks. */
export interface BearerOptions {
  /** Our audience(s): the token must name one. */
  audience: string | readonly string[];
  /** Who may call (default: anyone with a valid token). */
  authorizer?: Authorizer;
  leewaySeconds?: number;
}

/**
 * Validates the request's bearer JWT-SVID against the bundles and audience,
 * then the authorizer. Throws a {@link JwtSvidError} (401) or an
 * {@link AuthorizationError} (403).
 *
 * @example
 * ```ts
 * const caller = authenticateBearer(req.headers, jwtSource, { audience: 'spiffe://example.org/api' });
 * ```
 */
export function authenticateBearer(headers: IncomingHttpHeaders | Headers, bundles: JwtBundleSource, opts: BearerOptions): JwtSvid {
  const svid = validateJwtSvid(bearerToken(headers), bundles, { audience: opts.audience, ...(opts.leewaySeconds !== undefined ? { leewaySeconds: opts.leewaySeconds } : {}) });
  if (opts.authorizer) {
    const denied = checkAuthorized(opts.authorizer, svid.id);
    if (denied) throw denied;
  }
  return svid;
}

/**
 * Wraps a node:http(s) request handler: it runs only for requests with a
 * valid JWT-SVID for our audience from an authorised caller; others get 401
 * (with a `WWW-Authenticate: Bearer` challenge) or 403.
 *
 * @example
 * ```ts
 * http.createServer(withBearerAuth(jwtSource, { audience: 'spiffe://example.org/api' }, (req, res, caller) => {
 *   res.end(`hello ${caller.id.toString()}`);
 * }));
 * ```
 */
export function withBearerAuth(
  bundles: JwtBundleSource,
  opts: BearerOptions,
  handler: (req: IncomingMessage, res: ServerResponse, caller: JwtSvid) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    let caller: JwtSvid;
    try {
      caller = authenticateBearer(req.headers, bundles, opts);
    } catch (err) {
      if (err instanceof AuthorizationError) {
        res.statusCode = 403;
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.end(`${err.message}\n`);
      } else {
        sendBearerChallenge(res, 'invalid_token', (err as Error).message);
      }
      return;
    }
    handler(req, res, caller);
  };
}
