/**
 * SPIRE's reserved ID space (spire pkg/common/idutil, read at ef8527ec):
 * agents are `spiffe://<td>/spire/agent/<attestor>/...`, the server is
 * `spiffe://<td>/spire/server`, and nothing under `/spire` may be registered
 * for workloads.
 */
import { SpiffeIdError } from './errors.js';
import { SpiffeId, parseSpiffeId, parseTrustDomain, validatePath, validatePathSegment } from './id.js';

/** Path of the SPIRE server's own SPIFFE ID. */
export const SERVER_ID_PATH = '/spire/server';
/** Prefix of every SPIRE agent ID path. */
export const AGENT_PATH_PREFIX = '/spire/agent/';

/**
 * The SPIFFE ID SPIRE gives an agent: `/spire/agent/<attestor>/<suffix>`.
 * `suffix` is attestor-specific and may have several segments, given as a
 * path (`cluster/node`, leading slash optional) or as an array of segments.
 *
 * @throws SpiffeIdError if the trust domain, attestor name or suffix is invalid.
 * @example
 * ```ts
 * agentId('example.org', 'join_token', '2f1c3d').toString();
 * // 'spiffe://example.org/spire/agent/join_token/2f1c3d'
 * agentId('example.org', 'k8s_psat', ['prod-cluster', 'node-uid']).path;
 * // '/spire/agent/k8s_psat/prod-cluster/node-uid'
 * ```
 */
export function agentId(trustDomain: string, attestor: string, suffix: string | readonly string[]): SpiffeId {
  const td = parseTrustDomain(trustDomain);
  validatePathSegment(attestor);
  if (suffix.length === 0 || suffix === '/') {
    throw new SpiffeIdError('empty-segment', `invalid agent ID suffix ${JSON.stringify(suffix)}: the attestor-specific suffix cannot be empty`, String(suffix), 'the attestor-specific suffix cannot be empty');
  }
  let tail: string;
  if (typeof suffix === 'string') {
    tail = suffix.startsWith('/') ? suffix : `/${suffix}`;
    validatePath(tail);
  } else {
    for (const s of suffix) validatePathSegment(s);
    tail = suffix.map((s) => `/${s}`).join('');
  }
  return new SpiffeId(td, `${AGENT_PATH_PREFIX}${attestor}${tail}`);
}

/**
 * The SPIRE server's SPIFFE ID, `spiffe://<td>/spire/server`.
 *
 * @throws SpiffeIdError if the trust domain is invalid.
 * @example
 * ```ts
 * serverId('example.org').toString(); // 'spiffe://example.org/spire/server'
 * ```
 */
export function serverId(trustDomain: string): SpiffeId {
  return new SpiffeId(parseTrustDomain(trustDomain), SERVER_ID_PATH);
}

/**
 * True for paths SPIRE keeps for itself (`/spire` and anything below it);
 * registration entries for workloads may not use them.
 *
 * @example
 * ```ts
 * isReservedPath('/spire/agent/x509pop/abc'); // true
 * isReservedPath('/spirefoo');                // false
 * ```
 */
export function isReservedPath(path: string): boolean {
  return path === '/spire' || path.startsWith('/spire/');
}

/**
 * True if `path` is an agent ID path, optionally one made by the node
 * attestor named `attestor`.
 *
 * @example
 * ```ts
 * isAgentPath('/spire/agent/join_token/abc');            // true
 * isAgentPath('/spire/agent/join_token/abc', 'x509pop'); // false
 * ```
 */
export function isAgentPath(path: string, attestor?: string): boolean {
  return path.startsWith(attestor === undefined ? AGENT_PATH_PREFIX : `${AGENT_PATH_PREFIX}${attestor}/`);
}

/**
 * True if `id` is a valid SPIFFE ID of a SPIRE agent (in `trustDomain`, when given).
 *
 * @example
 * ```ts
 * isAgentId('spiffe://example.org/spire/agent/join_token/abc', 'example.org'); // true
 * ```
 */
export function isAgentId(id: SpiffeId | string, trustDomain?: string): boolean {
  try {
    const parsed = typeof id === 'string' ? parseSpiffeId(id) : id;
    if (trustDomain !== undefined && parsed.trustDomain !== parseTrustDomain(trustDomain)) return false;
    return isAgentPath(parsed.path);
  } catch {
    return false;
  }
}

/**
 * True if `id` is the SPIRE server ID of its trust domain (of `trustDomain`, when given).
 *
 * @example
 * ```ts
 * isServerId('spiffe://example.org/spire/server'); // true
 * ```
 */
export function isServerId(id: SpiffeId | string, trustDomain?: string): boolean {
  try {
    const parsed = typeof id === 'string' ? parseSpiffeId(id) : id;
    if (trustDomain !== undefined && parsed.trustDomain !== parseTrustDomain(trustDomain)) return false;
    return parsed.path === SERVER_ID_PATH;
  } catch {
    return false;
  }
}
