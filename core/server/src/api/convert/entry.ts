/**
 * `spire.api.types.Entry` ⇄ core registration entries, with SPIRE's rules
 * (api/entry.go and the datastore's entry validation), entry masks and the
 * Entry API's list/count filters.
 */
import type { apiTypes, serverApiEntryV1 } from '@spire-ts/proto';
import { invalidArgument } from '../errors.js';
import type { EntryFilters, RegistrationEntry } from '../../plugin/datastore/datastore.js';
import {
  errorMessage, matchFromProto, memberIdFromProto, protoFromId, protoFromSelectors, selectorsFromProto, trustDomainFromString,
  validateDnsName, workloadIdFromProto,
} from './common.js';

export type ProtoEntry = apiTypes.Entry__Output;
export type EntryMask = apiTypes.EntryMask__Output;
type EntryInput = apiTypes.Entry__Output | apiTypes.Entry;
type MaskInput = apiTypes.EntryMask__Output | apiTypes.EntryMask | null | undefined;

const HINT_MAX = 1024;
const ENTRY_ID_MAX = 255;
const ENTRY_ID = /^[A-Za-z0-9._-]*$/;
const INT32_MAX = 2 ** 31 - 1;

/** Every field of an entry (SPIRE's protoutil.AllTrueEntryMask). */
export const ALL_ENTRY_FIELDS: EntryMask = {
  spiffe_id: true, parent_id: true, selectors: true, x509_svid_ttl: true, federates_with: true, admin: true, downstream: true,
  expires_at: true, dns_names: true, revision_number: true, store_svid: true, jwt_svid_ttl: true, hint: true, created_at: true,
  additional_attributes: true,
};

/** The proto form of a core entry (every field). */
export function entryToProto(e: RegistrationEntry): ProtoEntry {
  const out: ProtoEntry = {
    id: e.id,
    spiffe_id: protoFromId(e.spiffeId),
    parent_id: protoFromId(e.parentId),
    selectors: protoFromSelectors(e.selectors),
    x509_svid_ttl: e.x509SvidTtl,
    federates_with: e.federatesWith.map((td) => trustDomainFromString(td)),
    admin: e.admin,
    downstream: e.downstream,
    expires_at: e.expiresAt,
    dns_names: [...e.dnsNames],
    revision_number: e.revisionNumber,
    store_svid: e.storeSvid,
    jwt_svid_ttl: e.jwtSvidTtl,
    hint: e.hint,
    created_at: e.createdAt,
  };
  if (e.additionalAttributes) {
    out.additional_attributes = {
      disable_x509_svid_prefetch: e.additionalAttributes.disableX509SvidPrefetch,
      jwt_svid_include_jti: e.additionalAttributes.jwtSvidIncludeJti,
    };
  }
  return out;
}

/**
 * `e` with the fields `mask` leaves out zeroed (the id always stays); no mask
 * keeps everything. Returns a new object.
 */
export function applyEntryMask(e: ProtoEntry, mask: MaskInput): ProtoEntry {
  if (!mask) return { ...e };
  const out: ProtoEntry = {
    id: e.id,
    spiffe_id: mask.spiffe_id ? e.spiffe_id : null,
    parent_id: mask.parent_id ? e.parent_id : null,
    selectors: mask.selectors ? e.selectors : [],
    x509_svid_ttl: mask.x509_svid_ttl ? e.x509_svid_ttl : 0,
    federates_with: mask.federates_with ? e.federates_with : [],
    admin: mask.admin ? e.admin : false,
    downstream: mask.downstream ? e.downstream : false,
    expires_at: mask.expires_at ? e.expires_at : 0,
    dns_names: mask.dns_names ? e.dns_names : [],
    revision_number: mask.revision_number ? e.revision_number : 0,
    store_svid: mask.store_svid ? e.store_svid : false,
    jwt_svid_ttl: mask.jwt_svid_ttl ? e.jwt_svid_ttl : 0,
    hint: mask.hint ? e.hint : '',
    created_at: mask.created_at ? e.created_at : 0,
  };
  if (mask.additional_attributes && e.additional_attributes) out.additional_attributes = e.additional_attributes;
  return out;
}

/** A core entry as the API takes it: the fields the input mask selects, checked. */
export type EntryFields = Omit<RegistrationEntry, 'createdAt'>;

function int32(v: unknown, what: string): number {
  const n = Number(v ?? 0);
  if (!Number.isSafeInteger(n)) throw new Error(`${what} is not an integer`);
  return n;
}

/**
 * A core entry from a proto one, checking what SPIRE checks when converting
 * (IDs, selectors, DNS names, federated trust domains, hint length) and when
 * storing (entry id characters and length, TTLs, store_svid rules). Fields
 * outside `mask` (all fields when absent) are zero and unchecked. Throws an
 * Error naming the problem.
 */
export function entryFromProto(td: string, e: EntryInput | null | undefined, mask?: MaskInput): EntryFields {
  if (!e) throw new Error('missing entry');
  const m = mask ?? ALL_ENTRY_FIELDS;
  const id = e.id ?? '';
  if (id.length > ENTRY_ID_MAX) throw new Error('invalid registration entry: entry ID too long');
  if (!ENTRY_ID.test(id)) throw new Error('invalid registration entry: entry ID contains invalid characters');

  const out: EntryFields = {
    id, spiffeId: '', parentId: '', selectors: [], x509SvidTtl: 0, jwtSvidTtl: 0, federatesWith: [], admin: false,
    downstream: false, expiresAt: 0, dnsNames: [], revisionNumber: 0, storeSvid: false, hint: '',
  };
  if (m.parent_id) out.parentId = wrap('invalid parent ID', () => memberIdFromProto(td, e.parent_id));
  if (m.spiffe_id) out.spiffeId = wrap('invalid spiffe ID', () => workloadIdFromProto(td, e.spiffe_id));
  if (m.admin) out.admin = e.admin ?? false;
  if (m.dns_names) {
    out.dnsNames = (e.dns_names ?? []).map((name) => {
      wrap('invalid DNS name', () => validateDnsName(name));
      return name;
    });
  }
  if (m.downstream) out.downstream = e.downstream ?? false;
  if (m.expires_at) out.expiresAt = int32(e.expires_at, 'expires_at');
  if (m.federates_with) {
    out.federatesWith = (e.federates_with ?? []).map((t) => wrap('invalid federated trust domain', () => trustDomainFromString(t)));
  }
  if (m.selectors) {
    if ((e.selectors ?? []).length === 0) throw new Error('selector list is empty');
    out.selectors = selectorsFromProto(e.selectors);
  }
  if (m.revision_number) out.revisionNumber = int32(e.revision_number, 'revision_number');
  if (m.store_svid) out.storeSvid = e.store_svid ?? false;
  if (m.x509_svid_ttl) out.x509SvidTtl = int32(e.x509_svid_ttl, 'x509_svid_ttl');
  if (m.jwt_svid_ttl) out.jwtSvidTtl = int32(e.jwt_svid_ttl, 'jwt_svid_ttl');
  if (m.hint) {
    const hint = e.hint ?? '';
    if (hint.length > HINT_MAX) throw new Error(`hint is too long, max length is ${HINT_MAX} characters`);
    out.hint = hint;
  }
  if (m.additional_attributes && e.additional_attributes) {
    out.additionalAttributes = {
      disableX509SvidPrefetch: e.additional_attributes.disable_x509_svid_prefetch ?? false,
      jwtSvidIncludeJti: e.additional_attributes.jwt_svid_include_jti ?? false,
    };
  }
  if (m.x509_svid_ttl && (out.x509SvidTtl < 0 || out.x509SvidTtl > INT32_MAX)) throw new Error('invalid registration entry: X509SvidTtl is not set');
  if (m.jwt_svid_ttl && (out.jwtSvidTtl < 0 || out.jwtSvidTtl > INT32_MAX)) throw new Error('invalid registration entry: JwtSvidTtl is not set');
  return out;
}

/** SPIRE's storage rules that depend on several fields, checked on the entry as it will be stored. */
export function checkStoredEntry(e: EntryFields): void {
  if (e.selectors.length === 0) throw new Error('invalid registration entry: missing selector list');
  if (e.spiffeId === '') throw new Error('invalid registration entry: missing SPIFFE ID');
  if (e.storeSvid) {
    if (e.additionalAttributes?.disableX509SvidPrefetch) throw new Error('specifying cache behaviour is incompatible with storable SVIDs');
    const type = e.selectors[0]?.type;
    if (e.selectors.some((s) => s.type !== type)) {
      throw new Error('invalid registration entry: selector types must be the same when store SVID is enabled');
    }
  }
}

/** `current` with the fields of `update` that `mask` selects (all when absent). */
export function mergeEntry(current: RegistrationEntry, update: EntryFields, mask: MaskInput): RegistrationEntry {
  const m = mask ?? ALL_ENTRY_FIELDS;
  const next: RegistrationEntry = { ...current };
  if (m.spiffe_id) next.spiffeId = update.spiffeId;
  if (m.parent_id) next.parentId = update.parentId;
  if (m.selectors) next.selectors = update.selectors;
  if (m.x509_svid_ttl) next.x509SvidTtl = update.x509SvidTtl;
  if (m.jwt_svid_ttl) next.jwtSvidTtl = update.jwtSvidTtl;
  if (m.federates_with) next.federatesWith = update.federatesWith;
  if (m.admin) next.admin = update.admin;
  if (m.downstream) next.downstream = update.downstream;
  if (m.expires_at) next.expiresAt = update.expiresAt;
  if (m.dns_names) next.dnsNames = update.dnsNames;
  if (m.store_svid) next.storeSvid = update.storeSvid;
  if (m.hint) next.hint = update.hint;
  if (m.additional_attributes) {
    if (update.additionalAttributes) next.additionalAttributes = update.additionalAttributes;
    else delete next.additionalAttributes;
  }
  return next;
}

function wrap<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new Error(`${prefix}: ${errorMessage(err)}`, { cause: err });
  }
}

type Filter = serverApiEntryV1.ListEntriesRequest__Output['filter'] | serverApiEntryV1.CountEntriesRequest__Output['filter'];

/** Core filters from a ListEntries/CountEntries filter; throws INVALID_ARGUMENT with SPIRE's messages. */
export function entryFiltersFromProto(td: string, filter: Filter | undefined): EntryFilters {
  const out: EntryFilters = {};
  if (!filter) return out;
  const fail = (what: string, err: unknown): never => {
    throw invalidArgument(`malformed ${what} filter: ${errorMessage(err)}`);
  };
  if (filter.by_hint) out.byHint = filter.by_hint.value ?? '';
  if (filter.by_parent_id) {
    try {
      out.byParentId = memberIdFromProto(td, filter.by_parent_id);
    } catch (err) {
      fail('parent ID', err);
    }
  }
  if (filter.by_spiffe_id) {
    try {
      out.bySpiffeId = workloadIdFromProto(td, filter.by_spiffe_id);
    } catch (err) {
      fail('SPIFFE ID', err);
    }
  }
  if (filter.by_selectors) {
    try {
      const selectors = selectorsFromProto(filter.by_selectors.selectors);
      if (selectors.length === 0) throw new Error('empty selector set');
      out.bySelectors = { selectors, match: matchFromProto(filter.by_selectors.match) };
    } catch (err) {
      fail('selectors', err);
    }
  }
  if (filter.by_federates_with) {
    try {
      const trustDomains = (filter.by_federates_with.trust_domains ?? []).map((t) => trustDomainFromString(t));
      if (trustDomains.length === 0) throw new Error('empty trust domain set');
      out.byFederatesWith = { trustDomains, match: matchFromProto(filter.by_federates_with.match) };
    } catch (err) {
      fail('federates with', err);
    }
  }
  if (filter.by_downstream) out.byDownstream = filter.by_downstream.value ?? false;
  return out;
}
