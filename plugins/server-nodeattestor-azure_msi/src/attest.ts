/**
 * The server side of `azure_msi` (SPIRE's pkg/server/plugin/nodeattestor/azuremsi):
 * the payload carries an MSI access token; its signature must verify under
 * the issuer's OpenID keys, its tenant (`tid`) must be configured, its
 * audience must be the tenant's `resource_id` and it must be current (five
 * minutes of leeway, as SPIRE). The agent ID comes from `tid` and `sub`.
 *
 * Selectors come from Azure Resource Manager (resolve.ts), after the trust
 * on first use check, as SPIRE orders it.
 */
import { decodeJsonPayload } from '@spire-ts/nodeattestor-kit';
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import type { AttestorConfig } from './config.js';
import { ALLOWED_ALGORITHMS, KeySetError, verifyJws, type OpenIdKeySet } from './jwks.js';
import { validateAgentPath } from './template.js';

export const PLUGIN_NAME = 'azure_msi';
/** Largest accepted payload: an MSI token is a few KiB. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** SPIRE's leeway for clock differences (tokens live for hours). */
export const TOKEN_LEEWAY_SECONDS = 5 * 60;

const B64URL = /^[A-Za-z0-9_-]*$/;

export function denied(message: string): PluginError {
  return new PluginError(Status.PERMISSION_DENIED, message);
}

/** The token from SPIRE's `MSIAttestationData` payload; every problem is INVALID_ARGUMENT. */
export function parsePayload(payload: Uint8Array | undefined): string {
  const doc = decodeJsonPayload(payload, MAX_PAYLOAD_BYTES, PLUGIN_NAME);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw PluginError.invalidArgument('failed to unmarshal data payload: expected a JSON object with "token" (is the agent using the azure_msi NodeAttestor?)');
  }
  const token = (doc as Record<string, unknown>).token;
  if (token !== undefined && typeof token !== 'string') throw PluginError.invalidArgument('failed to unmarshal data payload: "token" must be a string');
  if (!token) throw PluginError.invalidArgument('missing token from attestation data');
  return token;
}

export interface MsiClaims {
  readonly tid: string;
  readonly sub: string;
  readonly iss: string;
  readonly aud: readonly string[];
  readonly exp: number | undefined;
  readonly nbf: number | undefined;
  readonly iat: number | undefined;
  readonly xms_mirid: string | undefined;
}

function decodeSegment(seg: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
  } catch (err) {
    throw PluginError.invalidArgument(`unable to parse token: ${what} is not base64url JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw PluginError.invalidArgument(`unable to parse token: ${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function str(c: Record<string, unknown>, k: string): string {
  const v = c[k];
  if (v === undefined) return '';
  if (typeof v !== 'string') throw PluginError.invalidArgument(`unable to verify token: claim "${k}" must be a string`);
  return v;
}

function num(c: Record<string, unknown>, k: string): number | undefined {
  const v = c[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw PluginError.invalidArgument(`unable to verify token: claim "${k}" must be a number`);
  return v;
}

/** Verifies the token's signature under the issuer's keys and returns its claims (not yet validated). */
export async function verifyToken(token: string, keySet: OpenIdKeySet): Promise<MsiClaims> {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) {
    throw PluginError.invalidArgument('unable to parse token: not a compact JWS (three base64url segments)');
  }
  const [h, p, sig] = parts as [string, string, string];
  const header = decodeSegment(h, 'header');
  const alg = header.alg;
  if (typeof alg !== 'string' || !ALLOWED_ALGORITHMS.includes(alg)) {
    throw PluginError.invalidArgument(`unable to parse token: unexpected signature algorithm ${JSON.stringify(alg)}; expected one of ${ALLOWED_ALGORITHMS.join(', ')}`);
  }
  if (header.crit !== undefined) throw PluginError.invalidArgument('unable to parse token: critical header parameters are not supported');
  const kid = header.kid;
  if (typeof kid !== 'string' || kid === '') throw PluginError.invalidArgument('token missing key id');
  let key;
  try {
    key = await keySet.key(kid);
  } catch (err) {
    if (err instanceof KeySetError) throw PluginError.internal(`unable to obtain JWKS: ${err.message}`);
    throw err;
  }
  if (!key) throw PluginError.invalidArgument(`key id ${JSON.stringify(kid)} not found (the token is not signed by ${keySet.issuerUrl})`);
  if (!verifyJws(alg, key, `${h}.${p}`, Buffer.from(sig, 'base64url'))) {
    throw PluginError.invalidArgument(`unable to verify token: signature does not verify under key ${JSON.stringify(kid)}`);
  }
  const c = decodeSegment(p, 'claims');
  const aud = c.aud;
  let audiences: string[];
  if (aud === undefined) audiences = [];
  else if (typeof aud === 'string') audiences = [aud];
  else if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) audiences = aud as string[];
  else throw PluginError.invalidArgument('unable to verify token: claim "aud" must be a string or a list of strings');
  const mirid = str(c, 'xms_mirid');
  return {
    tid: str(c, 'tid'),
    sub: str(c, 'sub'),
    iss: str(c, 'iss'),
    aud: audiences,
    exp: num(c, 'exp'),
    nbf: num(c, 'nbf'),
    iat: num(c, 'iat'),
    xms_mirid: mirid || undefined,
  };
}

/** SPIRE's claim validation (audience, exp, nbf, iat with leeway); failures are PERMISSION_DENIED. */
export function validateClaims(claims: MsiClaims, resourceId: string, nowSeconds: number): void {
  const tenant = JSON.stringify(claims.tid);
  if (!claims.aud.includes(resourceId)) {
    throw denied(`unable to validate token claims: audience ${JSON.stringify(claims.aud)} is not the resource ID ${JSON.stringify(resourceId)} configured for tenant ${tenant}`);
  }
  if (claims.exp !== undefined && nowSeconds > claims.exp + TOKEN_LEEWAY_SECONDS) {
    throw denied(`unable to validate token claims: token is expired (exp ${new Date(claims.exp * 1000).toISOString()})`);
  }
  if (claims.nbf !== undefined && nowSeconds < claims.nbf - TOKEN_LEEWAY_SECONDS) {
    throw denied(`unable to validate token claims: token not valid yet (nbf ${new Date(claims.nbf * 1000).toISOString()})`);
  }
  if (claims.iat !== undefined && nowSeconds < claims.iat - TOKEN_LEEWAY_SECONDS) {
    throw denied(`unable to validate token claims: token issued in the future (iat ${new Date(claims.iat * 1000).toISOString()})`);
  }
}

export interface AttestationResult {
  spiffeId: string;
  selectorValues: string[];
}

export interface VerifiedToken {
  readonly spiffeId: string;
  readonly tenantId: string;
  readonly principalId: string;
}

/** Verifies the payload and computes the agent ID (trust on first use and selectors are the caller's). */
export async function attestToken(config: AttestorConfig, keySet: OpenIdKeySet, payload: Uint8Array | undefined, nowSeconds: number): Promise<VerifiedToken> {
  const claims = await verifyToken(parsePayload(payload), keySet);
  if (!claims.tid) throw PluginError.invalidArgument('token missing tenant ID claim');
  if (!claims.sub) throw PluginError.invalidArgument('token missing subject claim');
  const tenant = config.tenants.get(claims.tid);
  if (!tenant) throw denied(`tenant ${JSON.stringify(claims.tid)} is not authorized (not in "tenants")`);
  validateClaims(claims, tenant.resourceId, nowSeconds);
  const path = config.pathTemplate.execute({ PluginName: PLUGIN_NAME, TenantID: claims.tid, PrincipalID: claims.sub, Subject: claims.sub, Issuer: claims.iss });
  const problem = validateAgentPath(path);
  if (problem) throw PluginError.internal(`unable to make agent ID: invalid agent path suffix ${JSON.stringify(path)}: ${problem}`);
  return { spiffeId: `spiffe://${config.trustDomain}/spire/agent${path}`, tenantId: claims.tid, principalId: claims.sub };
}
