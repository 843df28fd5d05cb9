/**
 * The instance identity token: a compact JWS, RS256 (the only algorithm
 * Google uses for it and the only one accepted), signed by one of Google's
 * current keys, with SPIRE's audience and the `format=full` claims
 * (`google.compute_engine`). Every failure is a {@link PluginError} with
 * SPIRE's status: InvalidArgument for a malformed or badly signed token,
 * PermissionDenied for claims that do not hold (audience, expiry).
 */
import type { KeyObject } from 'node:crypto';
import { verifyJws } from '@spire-ts/nodeattestor-kit';
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import type { KeySet } from './certs.js';

/** The audience SPIRE's agent asks the metadata server for (fixed in SPIRE). */
export const TOKEN_AUDIENCE = 'spire-gcp-node-attestor';
/** The largest payload accepted. A full-format identity token is about 1 KiB. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;
/** Clock skew tolerated on exp/nbf/iat (go-jose's default leeway, as SPIRE). */
export const LEEWAY_SECONDS = 60;

/** The claims of a verified token that SPIRE uses. */
export interface IdentityToken {
  readonly email: string;
  readonly projectId: string;
  readonly projectNumber: number;
  readonly zone: string;
  readonly instanceId: string;
  readonly instanceName: string;
  readonly instanceCreationTimestamp: number;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function parseError(msg: string): PluginError {
  return PluginError.invalidArgument(`unable to parse the identity token: ${msg}`);
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw parseError(`the ${what} is not base64url-encoded JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw parseError(`the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function claimsError(msg: string): PluginError {
  return new PluginError(Status.PERMISSION_DENIED, `failed to validate the identity token claims: ${msg}`);
}

function numericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const v = claims[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw parseError(`claim "${name}" is not a number`);
  return v;
}

function str(obj: Record<string, unknown>, name: string, where: string): string {
  const v = obj[name];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw parseError(`claim "${where}${name}" is not a string`);
  return v;
}

function int(obj: Record<string, unknown>, name: string, where: string): number {
  const v = obj[name];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw parseError(`claim "${where}${name}" is not an integer`);
  return v;
}

/** Verifies `payload` against `keys` and the time `nowMs`; returns SPIRE's claims. */
export function verifyIdentityToken(payload: Uint8Array, keys: KeySet, nowMs: number): IdentityToken {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw PluginError.invalidArgument(`attestation payload is ${payload.length} bytes, more than the ${MAX_PAYLOAD_BYTES} an identity token can be`);
  }
  const text = Buffer.from(payload).toString('utf8').trim();
  const parts = text.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p)) || parts[0] === '' || parts[1] === '') {
    throw parseError('not a compact JWS (three base64url parts): is the agent using the gcp_iit NodeAttestor?');
  }
  const [h, c, sig] = parts as [string, string, string];
  const header = decodeJson(h, 'header');
  if (header.alg !== 'RS256') throw parseError(`unexpected signature algorithm ${JSON.stringify(header.alg)}; only RS256 is accepted`);
  if (header.crit !== undefined) throw parseError('the header has unsupported critical parameters');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw parseError('the header\'s "kid" is not a string');
  const signature = Buffer.from(sig, 'base64url');
  if (signature.length === 0) throw PluginError.invalidArgument('failed to validate the identity token signature: the signature is empty');

  let candidates: KeyObject[];
  if (typeof header.kid === 'string') {
    const key = keys.get(header.kid);
    if (!key) {
      throw PluginError.invalidArgument(
        `failed to validate the identity token signature: signed with key ${JSON.stringify(header.kid)}, which is not among Google's ${keys.size} current keys`,
      );
    }
    candidates = [key];
  } else {
    candidates = [...keys.values()];
  }
  if (!candidates.some((key) => verifyJws('RS256', key, `${h}.${c}`, signature))) {
    throw PluginError.invalidArgument('failed to validate the identity token signature: the RS256 signature does not verify (tampered token or wrong signer)');
  }

  const claims = decodeJson(c, 'claims');
  const now = Math.floor(nowMs / 1000);
  const aud = claims.aud;
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
  if (!audiences.includes(TOKEN_AUDIENCE)) {
    throw claimsError(`audience ${JSON.stringify(audiences)} does not include ${JSON.stringify(TOKEN_AUDIENCE)} (the agent must ask for that audience)`);
  }
  const exp = numericDate(claims, 'exp');
  if (exp === undefined) throw claimsError('the token has no expiry ("exp")');
  if (now > exp + LEEWAY_SECONDS) throw claimsError(`token is expired (exp) since ${new Date(exp * 1000).toISOString()}`);
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && now < nbf - LEEWAY_SECONDS) throw claimsError(`token not valid yet (nbf) until ${new Date(nbf * 1000).toISOString()}`);
  const iat = numericDate(claims, 'iat');
  if (iat !== undefined && now < iat - LEEWAY_SECONDS) throw claimsError(`token issued in the future (iat) at ${new Date(iat * 1000).toISOString()}`);

  const google = claims.google;
  const ce = typeof google === 'object' && google !== null ? (google as Record<string, unknown>).compute_engine : undefined;
  if (typeof ce !== 'object' || ce === null || Array.isArray(ce)) {
    throw PluginError.invalidArgument('the identity token has no "google.compute_engine" claims: the agent must fetch it with format=full');
  }
  const engine = ce as Record<string, unknown>;
  const where = 'google.compute_engine.';
  const token: IdentityToken = {
    email: str(claims, 'email', ''),
    projectId: str(engine, 'project_id', where),
    projectNumber: int(engine, 'project_number', where),
    zone: str(engine, 'zone', where),
    instanceId: str(engine, 'instance_id', where),
    instanceName: str(engine, 'instance_name', where),
    instanceCreationTimestamp: int(engine, 'instance_creation_timestamp', where),
  };
  if (!token.projectId || !token.instanceId) {
    throw PluginError.invalidArgument('the identity token\'s "google.compute_engine" claims lack project_id or instance_id');
  }
  return token;
}
