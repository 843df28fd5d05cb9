/**
 * Server API messages (spire.api.types) to the agent's own shapes. The
 * server's answers are checked, not trusted: a malformed bundle or entry is
 * an error naming what is wrong.
 */
import type { Bundle } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import type { AgentEntry } from './server-api.js';

/** The entry fields the agent asks for in SyncAuthorizedEntries (SPIRE's agent output mask). */
export const AGENT_ENTRY_MASK: apiTypes.EntryMask = {
  spiffe_id: true,
  selectors: true,
  federates_with: true,
  admin: true,
  downstream: true,
  revision_number: true,
  store_svid: true,
  hint: true,
  additional_attributes: true,
  created_at: true,
};

export function spiffeIdString(id: apiTypes.SPIFFEID__Output | null | undefined): string {
  if (!id || !id.trust_domain) return '';
  return `spiffe://${id.trust_domain}${id.path}`;
}

/** A `spire.api.types.Bundle` as a {@link Bundle}; throws when it is not one of `trustDomain`. */
export function bundleFromProto(b: apiTypes.Bundle__Output, trustDomain: string): Bundle {
  if (b.trust_domain !== trustDomain) {
    throw new Error(`the server returned a bundle for trust domain ${JSON.stringify(b.trust_domain)}, expected ${JSON.stringify(trustDomain)}`);
  }
  return {
    trustDomain: b.trust_domain,
    x509Authorities: (b.x509_authorities ?? []).map((a) => new Uint8Array(a.asn1)),
    jwtAuthorities: (b.jwt_authorities ?? []).map((k) => ({ keyId: k.key_id, publicKeyDer: new Uint8Array(k.public_key), expiresAt: Number(k.expires_at) })),
    refreshHint: Number(b.refresh_hint),
    sequenceNumber: Number(b.sequence_number),
  };
}

/** Strings remembered by {@link intern} before it starts over. */
const INTERN_LIMIT = 4096;
const interned = new Map<string, string>();

/**
 * One string object for equal selector types and values. Each decoded entry
 * comes with its own copies, and the agent keeps every entry: ten thousand
 * entries sharing `unix` and `uid:1000` would otherwise hold forty thousand
 * strings. The table is bounded (it starts over when full), so values seen
 * only once cost nothing lasting and common ones are shared again at once.
 */
function intern(s: string): string {
  const known = interned.get(s);
  if (known !== undefined) return known;
  if (interned.size >= INTERN_LIMIT) interned.clear();
  interned.set(s, s);
  return s;
}

const NO_TRUST_DOMAINS: readonly string[] = Object.freeze([]);

/**
 * An entry from SyncAuthorizedEntries; throws on one without id or SPIFFE ID.
 * The entry is deeply frozen, so the agent's cache can share its selectors
 * rather than copy them.
 */
/** The fields of a `spire.api.types.Entry` the agent reads (as proto-loader or sync-wire.ts decodes them). */
export type EntryWire = Pick<
  apiTypes.Entry__Output,
  'id' | 'spiffe_id' | 'selectors' | 'federates_with' | 'admin' | 'downstream' | 'revision_number' | 'store_svid' | 'hint' | 'created_at' | 'additional_attributes'
>;

export function entryFromProto(e: EntryWire): AgentEntry {
  const spiffeId = spiffeIdString(e.spiffe_id);
  if (!e.id) throw new Error('the server returned an entry without id');
  if (!spiffeId) throw new Error(`the server returned entry ${e.id} without a SPIFFE ID`);
  const revision = Number(e.revision_number);
  if (!Number.isSafeInteger(revision) || revision < 0) throw new Error(`the server returned entry ${e.id} with revision ${String(e.revision_number)}`);
  return Object.freeze({
    id: e.id,
    spiffeId,
    selectors: Object.freeze((e.selectors ?? []).map((s) => Object.freeze({ type: intern(s.type), value: intern(s.value) }))),
    federatesWith: e.federates_with?.length ? Object.freeze([...e.federates_with]) : NO_TRUST_DOMAINS,
    admin: e.admin === true,
    downstream: e.downstream === true,
    revisionNumber: revision,
    storeSvid: e.store_svid === true,
    hint: e.hint ?? '',
    createdAt: Number(e.created_at),
    disableX509SvidPrefetch: e.additional_attributes?.disable_x509_svid_prefetch === true,
    jwtSvidIncludeJti: e.additional_attributes?.jwt_svid_include_jti === true,
  });
}

/** SPIRE's staleness test: a different revision, or (when known) a different creation time. */
export function entryIsStale(known: AgentEntry, revision: number, createdAt: number): boolean {
  if (known.revisionNumber !== revision) return true;
  return createdAt !== 0 && known.createdAt !== createdAt;
}
