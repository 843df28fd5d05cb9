/**
 * Conversions shared by the server API services: `spire.api.types.SPIFFEID`
 * and `Selector` to and from core values (SPIRE's api/id.go and
 * api/selector.go rules), match behaviours, DNS names, per-item
 * `spire.api.types.Status` results and DataStore error codes.
 */
import { isAgentPath, isReservedPath, parseSpiffeId, parseTrustDomain, spiffeIdFromPath } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import { Status } from '../errors.js';
import type { MatchBehavior, Selector } from '../../plugin/datastore/datastore.js';

/** A proto SPIFFEID as handlers receive it (absent messages decode as null). */
export type ProtoId = apiTypes.SPIFFEID__Output | apiTypes.SPIFFEID | null | undefined;

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `spiffe://<td><path>` from a proto SPIFFEID; throws an Error saying what is wrong. */
export function idFromProto(id: ProtoId): string {
  if (!id) throw new Error('request must specify SPIFFE ID');
  return spiffeIdFromPath(id.trust_domain ?? '', id.path ?? '').toString();
}

/** The proto form of a SPIFFE ID string (trust domain name and path). */
export function protoFromId(id: string): apiTypes.SPIFFEID__Output {
  const parsed = parseSpiffeId(id);
  return { trust_domain: parsed.trustDomain, path: parsed.path };
}

/** A SPIFFE ID in trust domain `td` with a non-empty path (SPIRE's TrustDomainMemberIDFromProto). */
export function memberIdFromProto(td: string, proto: ProtoId): string {
  const id = parseSpiffeId(idFromProto(proto));
  if (id.trustDomain !== td) throw new Error(`"${id.toString()}" is not a member of trust domain "${td}"`);
  if (id.path === '') throw new Error(`"${id.toString()}" is not a member of trust domain "${td}"; path is empty`);
  return id.toString();
}

/** A workload SPIFFE ID of `td`: non-empty path outside `/spire` (SPIRE's TrustDomainWorkloadIDFromProto). */
export function workloadIdFromProto(td: string, proto: ProtoId): string {
  const id = parseSpiffeId(idFromProto(proto));
  if (id.trustDomain !== td) throw new Error(`"${id.toString()}" is not a member of trust domain "${td}"`);
  if (id.path === '') throw new Error(`"${id.toString()}" is not a workload in trust domain "${td}"; path is empty`);
  if (isReservedPath(id.path)) throw new Error(`"${id.toString()}" is not a workload in trust domain "${td}"; path is in the reserved namespace`);
  return id.toString();
}

/** An agent SPIFFE ID of `td` (SPIRE's TrustDomainAgentIDFromProto). */
export function agentIdFromProto(td: string, proto: ProtoId): string {
  const id = parseSpiffeId(idFromProto(proto));
  if (id.trustDomain !== td) throw new Error(`"${id.toString()}" is not a member of trust domain "${td}"`);
  if (id.path === '') throw new Error(`"${id.toString()}" is not an agent in trust domain "${td}"; path is empty`);
  if (!isAgentPath(id.path)) throw new Error(`"${id.toString()}" is not an agent in trust domain "${td}"; path is not in the agent namespace`);
  return id.toString();
}

/** A bare trust domain name from a name or `spiffe://` ID; throws on anything else. */
export function trustDomainFromString(td: string): string {
  return parseTrustDomain(td);
}

/** Core selectors from proto ones, SPIRE's rules: type and value required, no ':' in the type. */
export function selectorsFromProto(list: readonly (apiTypes.Selector__Output | apiTypes.Selector)[] | null | undefined): Selector[] {
  const out: Selector[] = [];
  for (const s of list ?? []) {
    const type = s.type ?? '';
    const value = s.value ?? '';
    if (type === '') throw new Error('missing selector type');
    if (type.includes(':')) throw new Error("selector type contains ':'");
    if (value === '') throw new Error('missing selector value');
    out.push({ type, value });
  }
  return out;
}

export function protoFromSelectors(list: readonly Selector[]): apiTypes.Selector__Output[] {
  return list.map((s) => ({ type: s.type, value: s.value }));
}

const MATCH: Record<string, MatchBehavior> = {
  MATCH_EXACT: 'EXACT',
  MATCH_SUBSET: 'SUBSET',
  MATCH_SUPERSET: 'SUPERSET',
  MATCH_ANY: 'ANY',
};

/** The core match behaviour of a proto one (absent = EXACT, proto3's zero value). */
export function matchFromProto(match: string | number | null | undefined): MatchBehavior {
  if (match === undefined || match === null || match === '' || match === 0) return 'EXACT';
  const byNumber = ['MATCH_EXACT', 'MATCH_SUBSET', 'MATCH_SUPERSET', 'MATCH_ANY'];
  const name = typeof match === 'number' ? byNumber[match] : match;
  const m = name === undefined ? undefined : MATCH[name];
  if (!m) throw new Error(`unknown match behavior ${JSON.stringify(match)}`);
  return m;
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Checks a DNS name as SPIRE's x509util.ValidateLabel does: ASCII, at most one
 * wildcard and only as the whole first label, LDH labels of 1-63 characters
 * (no leading/trailing hyphen, no `xx--` unless an IDNA `xn--` label), no
 * trailing dot, 253 characters at most.
 */
export function validateDnsName(name: string): void {
  if (!/^[\x00-\x7f]*$/.test(name)) throw new Error('name must be ascii');
  let domain = name;
  const stars = domain.split('*').length - 1;
  if (stars > 1) throw new Error('too many wildcards');
  if (stars === 1) {
    if (!domain.startsWith('*.')) throw new Error('wildcard must be first label');
    domain = domain.slice(2);
  }
  domain = domain.trim();
  if (domain === '') throw new Error('empty or only whitespace');
  if (domain.endsWith('.')) throw new Error('domain ends with dot');
  if (domain.length > 253) throw new Error('idna error: domain name is too long');
  for (const label of domain.split('.')) {
    if (!LABEL.test(label)) throw new Error(`idna error: invalid label ${JSON.stringify(label)}`);
    if (label.length >= 4 && label.slice(2, 4) === '--' && label.slice(0, 2).toLowerCase() !== 'xn') {
      throw new Error(`idna error: invalid label ${JSON.stringify(label)}: hyphens in the third and fourth positions`);
    }
  }
}

/** A per-item result status (`spire.api.types.Status`). */
export type ApiStatus = apiTypes.Status__Output;

export function okStatus(): ApiStatus {
  return { code: Status.OK, message: 'OK' };
}

/** SPIRE's MakeStatus: `msg`, or `msg: <cause>` when there is a cause (cause prefixes are its own). */
export function makeStatus(code: number, msg: string, cause?: unknown): ApiStatus {
  return { code, message: cause === undefined ? msg : `${msg}: ${errorMessage(cause)}` };
}

/** The gRPC code of a DataStore failure (`grpcCode` of a plugin error, or a numeric `code`); UNKNOWN otherwise. */
export function codeOf(err: unknown): number {
  if (typeof err === 'object' && err !== null) {
    const e = err as { grpcCode?: unknown; code?: unknown };
    if (typeof e.grpcCode === 'number') return e.grpcCode;
    if (typeof e.code === 'number') return e.code;
  }
  return Status.UNKNOWN;
}
