/**
 * Conversions between the DataStore model (types.ts) and the protobuf
 * messages of spire_ts.plugin.server.datastore.v1, shared by both ends of the
 * wire: the plugin's handlers (requests proto → model, responses model →
 * proto) and host-side clients (the reverse).
 *
 * model → proto refuses what the wire cannot carry faithfully (a fractional
 * or out-of-range number, an unknown match behaviour) with INVALID_ARGUMENT
 * rather than letting protobufjs truncate it; proto → model refuses unknown
 * enum values the same way. Everything else is the store's to validate.
 */
import type { datastoreV1 as pb } from '@spire-ts/proto';
import { invalidArgument } from '../errors.js';
import type {
  AttestedNode, Consistency, EntryFilters, EntryMask, MatchBehavior, NewEntry, NewNode, NodeFilters, NodeMask, Pagination,
  RegistrationEntry, Selector, SelectorMatch,
} from '../types.js';

// ---- Scalars ------------------------------------------------------------------

function integer(v: number | undefined, field: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw invalidArgument(`${field}: must be an integer between ${min} and ${max}`);
  }
  return v;
}

export const int32 = (v: number | undefined, field: string): number | undefined => integer(v, field, -(2 ** 31), 2 ** 31 - 1);
export const int64 = (v: number | undefined, field: string): number | undefined => integer(v, field, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
export const uint64 = (v: number | undefined, field: string): number | undefined => integer(v, field, 0, Number.MAX_SAFE_INTEGER);

/** Bytes as a plain Uint8Array (protobufjs hands out Buffers). */
export function bytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice();
}

// ---- Enums ------------------------------------------------------------------

export function matchToProto(m: MatchBehavior, field: string): pb.MatchBehavior {
  switch (m) {
    case 'exact': return 'MATCH_EXACT';
    case 'subset': return 'MATCH_SUBSET';
    case 'superset': return 'MATCH_SUPERSET';
    case 'any': return 'MATCH_ANY';
    default: throw invalidArgument(`${field}: unknown match behavior ${JSON.stringify(m)}`);
  }
}

/** Unknown enum numbers arrive as numbers at run time, whatever the type says. */
export function matchFromProto(m: pb.MatchBehavior__Output, field: string): MatchBehavior {
  switch (m) {
    case 'MATCH_EXACT': return 'exact';
    case 'MATCH_SUBSET': return 'subset';
    case 'MATCH_SUPERSET': return 'superset';
    case 'MATCH_ANY': return 'any';
    default: throw invalidArgument(`${field}: unknown match behavior ${String(m as unknown)}`);
  }
}

export function consistencyToProto(c: Consistency | undefined): pb.Consistency | undefined {
  if (c === undefined || c === 'current') return undefined;
  if (c === 'stale') return 'CONSISTENCY_STALE';
  throw invalidArgument(`consistency: unknown value ${JSON.stringify(c)}`);
}

export function consistencyFromProto(c: pb.Consistency__Output): Consistency {
  if (c === 'CONSISTENCY_CURRENT') return 'current';
  if (c === 'CONSISTENCY_STALE') return 'stale';
  throw invalidArgument(`consistency: unknown value ${String(c as unknown)}`);
}

// ---- Shared messages ----------------------------------------------------------

export function selectorsToProto(list: readonly Selector[] | undefined): pb.Selector[] | undefined {
  return list?.map((s) => ({ type: s.type, value: s.value }));
}

export function selectorsFromProto(list: readonly pb.Selector__Output[]): Selector[] {
  return list.map((s) => ({ type: s.type, value: s.value }));
}

export function selectorMatchToProto(m: SelectorMatch | undefined, field: string): pb.SelectorMatch | undefined {
  if (m === undefined) return undefined;
  return { selectors: selectorsToProto(m.selectors) ?? [], match: matchToProto(m.match, field) };
}

export function selectorMatchFromProto(m: pb.SelectorMatch__Output | null, field: string): SelectorMatch | undefined {
  if (!m) return undefined;
  return { selectors: selectorsFromProto(m.selectors), match: matchFromProto(m.match, field) };
}

export function paginationToProto(p: Pagination | undefined): pb.Pagination | undefined {
  if (p === undefined) return undefined;
  return { page_size: int32(p.pageSize, 'pagination.pageSize') ?? 0, token: p.token ?? '' };
}

export function paginationFromProto(p: pb.Pagination__Output | null): Pagination | undefined {
  if (!p) return undefined;
  return p.token ? { pageSize: p.page_size, token: p.token } : { pageSize: p.page_size };
}

// ---- Registration entries -------------------------------------------------------

/** Any entry-shaped input: a new entry, a stored one, or the fields of an update. */
export function entryToProto(e: Partial<RegistrationEntry>, field = 'entry'): pb.Entry {
  const out: pb.Entry = {
    id: e.id,
    spiffe_id: e.spiffeId,
    parent_id: e.parentId,
    selectors: selectorsToProto(e.selectors),
    x509_svid_ttl: int32(e.x509SvidTtl, `${field}.x509SvidTtl`),
    jwt_svid_ttl: int32(e.jwtSvidTtl, `${field}.jwtSvidTtl`),
    federates_with: e.federatesWith,
    admin: e.admin,
    downstream: e.downstream,
    dns_names: e.dnsNames,
    expires_at: int64(e.expiresAt, `${field}.expiresAt`),
    hint: e.hint,
    store_svid: e.storeSvid,
    revision_number: int64(e.revisionNumber, `${field}.revisionNumber`),
    created_at: int64(e.createdAt, `${field}.createdAt`),
  };
  if (e.additionalAttributes) {
    out.additional_attributes = {
      disable_x509_svid_prefetch: e.additionalAttributes.disableX509SvidPrefetch,
      jwt_svid_include_jti: e.additionalAttributes.jwtSvidIncludeJti,
    };
  }
  return out;
}

export function entryFromProto(p: pb.Entry__Output): RegistrationEntry {
  const e: RegistrationEntry = {
    id: p.id,
    spiffeId: p.spiffe_id,
    parentId: p.parent_id,
    selectors: selectorsFromProto(p.selectors),
    x509SvidTtl: p.x509_svid_ttl,
    jwtSvidTtl: p.jwt_svid_ttl,
    federatesWith: [...p.federates_with],
    admin: p.admin,
    downstream: p.downstream,
    dnsNames: [...p.dns_names],
    expiresAt: p.expires_at,
    hint: p.hint,
    storeSvid: p.store_svid,
    revisionNumber: p.revision_number,
    createdAt: p.created_at,
  };
  if (p.additional_attributes) {
    e.additionalAttributes = {
      disableX509SvidPrefetch: p.additional_attributes.disable_x509_svid_prefetch,
      jwtSvidIncludeJti: p.additional_attributes.jwt_svid_include_jti,
    };
  }
  return e;
}

/** A create request's entry: revision and creation time are the store's to set. */
export function newEntryFromProto(p: pb.Entry__Output): NewEntry {
  const { revisionNumber: _r, createdAt: _c, ...rest } = entryFromProto(p);
  return rest;
}

const ENTRY_MASK: ReadonlyArray<[keyof EntryMask, keyof pb.EntryMask__Output]> = [
  ['spiffeId', 'spiffe_id'], ['parentId', 'parent_id'], ['selectors', 'selectors'], ['x509SvidTtl', 'x509_svid_ttl'],
  ['jwtSvidTtl', 'jwt_svid_ttl'], ['federatesWith', 'federates_with'], ['admin', 'admin'], ['downstream', 'downstream'],
  ['dnsNames', 'dns_names'], ['expiresAt', 'expires_at'], ['hint', 'hint'], ['storeSvid', 'store_svid'],
  ['additionalAttributes', 'additional_attributes'],
];

export function entryMaskToProto(m: EntryMask | undefined): pb.EntryMask | undefined {
  if (m === undefined) return undefined;
  const out: pb.EntryMask = {};
  for (const [k, f] of ENTRY_MASK) out[f] = m[k] === true;
  return out;
}

export function entryMaskFromProto(m: pb.EntryMask__Output | null): EntryMask | undefined {
  if (!m) return undefined;
  const out: EntryMask = {};
  for (const [k, f] of ENTRY_MASK) out[k] = m[f];
  return out;
}

/** Empty strings mean "no filter" on the wire (proto3 has no presence for them). */
export function entryFiltersToProto(f: EntryFilters): pb.EntryFilters {
  const out: pb.EntryFilters = {
    by_parent_id: f.byParentId ?? '',
    by_spiffe_id: f.bySpiffeId ?? '',
    by_selectors: selectorMatchToProto(f.bySelectors, 'bySelectors') ?? null,
    by_federates_with: f.byFederatesWith
      ? { trust_domains: f.byFederatesWith.trustDomains, match: matchToProto(f.byFederatesWith.match, 'byFederatesWith') }
      : null,
  };
  if (f.byHint !== undefined) out.by_hint = f.byHint;
  if (f.byDownstream !== undefined) out.by_downstream = f.byDownstream;
  return out;
}

export function entryFiltersFromProto(f: pb.EntryFilters__Output | null): EntryFilters {
  const out: EntryFilters = {};
  if (!f) return out;
  if (f.by_parent_id !== '') out.byParentId = f.by_parent_id;
  if (f.by_spiffe_id !== '') out.bySpiffeId = f.by_spiffe_id;
  const bySelectors = selectorMatchFromProto(f.by_selectors, 'by_selectors');
  if (bySelectors) out.bySelectors = bySelectors;
  if (f.by_federates_with) {
    out.byFederatesWith = { trustDomains: [...f.by_federates_with.trust_domains], match: matchFromProto(f.by_federates_with.match, 'by_federates_with') };
  }
  if (f.by_hint !== undefined) out.byHint = f.by_hint;
  if (f.by_downstream !== undefined) out.byDownstream = f.by_downstream;
  return out;
}

// ---- Attested nodes -------------------------------------------------------------

export function nodeToProto(n: Partial<AttestedNode>, field = 'node'): pb.Node {
  return {
    spiffe_id: n.spiffeId,
    attestation_data_type: n.attestationDataType,
    cert_serial_number: n.certSerialNumber,
    cert_not_after: int64(n.certNotAfter, `${field}.certNotAfter`),
    new_cert_serial_number: n.newCertSerialNumber,
    new_cert_not_after: int64(n.newCertNotAfter, `${field}.newCertNotAfter`),
    can_reattest: n.canReattest,
    agent_version: n.agentVersion,
    banned: n.banned,
    selectors: selectorsToProto(n.selectors),
  };
}

/**
 * The wire cannot tell "no selectors" from "selectors not asked for": the
 * caller says whether the node carries them.
 */
export function nodeFromProto(p: pb.Node__Output, withSelectors: boolean): AttestedNode {
  const n: AttestedNode = {
    spiffeId: p.spiffe_id,
    attestationDataType: p.attestation_data_type,
    certSerialNumber: p.cert_serial_number,
    certNotAfter: p.cert_not_after,
    newCertSerialNumber: p.new_cert_serial_number,
    newCertNotAfter: p.new_cert_not_after,
    canReattest: p.can_reattest,
    agentVersion: p.agent_version,
    banned: p.banned,
  };
  if (withSelectors) n.selectors = selectorsFromProto(p.selectors);
  return n;
}

/** A create request's node: `banned` is derived by the store; selectors only when given. */
export function newNodeFromProto(p: pb.Node__Output): NewNode {
  const { banned: _b, ...rest } = nodeFromProto(p, p.selectors.length > 0);
  return rest;
}

const NODE_MASK: ReadonlyArray<[keyof NodeMask, keyof pb.NodeMask__Output]> = [
  ['attestationDataType', 'attestation_data_type'], ['certSerialNumber', 'cert_serial_number'], ['certNotAfter', 'cert_not_after'],
  ['newCertSerialNumber', 'new_cert_serial_number'], ['newCertNotAfter', 'new_cert_not_after'], ['canReattest', 'can_reattest'],
  ['agentVersion', 'agent_version'],
];

export function nodeMaskToProto(m: NodeMask | undefined): pb.NodeMask | undefined {
  if (m === undefined) return undefined;
  const out: pb.NodeMask = {};
  for (const [k, f] of NODE_MASK) out[f] = m[k] === true;
  return out;
}

export function nodeMaskFromProto(m: pb.NodeMask__Output | null): NodeMask | undefined {
  if (!m) return undefined;
  const out: NodeMask = {};
  for (const [k, f] of NODE_MASK) out[k] = m[f];
  return out;
}

/** Empty strings and a zero expiry mean "no filter" on the wire. */
export function nodeFiltersToProto(f: NodeFilters): pb.NodeFilters {
  const out: pb.NodeFilters = {
    by_attestation_type: f.byAttestationType ?? '',
    by_expires_before: int64(f.byExpiresBefore, 'byExpiresBefore') ?? 0,
    by_selector_match: selectorMatchToProto(f.bySelectorMatch, 'bySelectorMatch') ?? null,
  };
  if (f.byBanned !== undefined) out.by_banned = f.byBanned;
  if (f.byCanReattest !== undefined) out.by_can_reattest = f.byCanReattest;
  return out;
}

export function nodeFiltersFromProto(f: pb.NodeFilters__Output | null): NodeFilters {
  const out: NodeFilters = {};
  if (!f) return out;
  if (f.by_attestation_type !== '') out.byAttestationType = f.by_attestation_type;
  if (f.by_banned !== undefined) out.byBanned = f.by_banned;
  if (f.by_expires_before !== 0) out.byExpiresBefore = f.by_expires_before;
  const bySelectorMatch = selectorMatchFromProto(f.by_selector_match, 'by_selector_match');
  if (bySelectorMatch) out.bySelectorMatch = bySelectorMatch;
  if (f.by_can_reattest !== undefined) out.byCanReattest = f.by_can_reattest;
  return out;
}
