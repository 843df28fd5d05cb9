import { parseCertificate, type Bundle, type ManagedPlugin, type PluginHostError } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { FacadeErrors } from '../facade.js';
import type { datastoreV1 as v1 } from '@spire-ts/proto';
import type {
  AttestedNode, BundleDeleteMode, CAJournalRecord, ChangeEvent, EntryFilters, JoinToken, MatchBehavior, NewEntry, NewNode, NodeFilters,
  RegistrationEntry, Selector,
} from './datastore.js';

export type Service = 'spire_ts.plugin.server.datastore.v1.DataStore';

const TD_PREFIX = 'spiffe://';
export const bareTrustDomain = (td: string): string => (td.startsWith(TD_PREFIX) ? td.slice(TD_PREFIX.length) : td);

export const ALL_ENTRY_FIELDS: v1.EntryMask = {
  spiffe_id: true, parent_id: true, selectors: true, x509_svid_ttl: true, federates_with: true, admin: true, downstream: true,
  expires_at: true, dns_names: true, store_svid: true, jwt_svid_ttl: true, hint: true, additional_attributes: true,
};
export const ALL_NODE_FIELDS: v1.NodeMask = {
  attestation_data_type: true, cert_serial_number: true, cert_not_after: true, new_cert_serial_number: true, new_cert_not_after: true,
  can_reattest: true, agent_version: true,
};
export const ALL_BUNDLE_FIELDS: v1.BundleMask = { x509_authorities: true, jwt_authorities: true, refresh_hint: true, sequence_number: true };

const MATCH: Record<MatchBehavior, v1.MatchBehavior__Output> = {
  EXACT: 'MATCH_EXACT', SUBSET: 'MATCH_SUBSET', SUPERSET: 'MATCH_SUPERSET', ANY: 'MATCH_ANY',
};
const DELETE_MODE: Record<BundleDeleteMode, v1.BundleDeleteMode__Output> = {
  RESTRICT: 'BUNDLE_DELETE_RESTRICT', DELETE: 'BUNDLE_DELETE_DELETE', DISSOCIATE: 'BUNDLE_DELETE_DISSOCIATE',
};

const selectorsToProto = (s: readonly Selector[]): v1.Selector[] => s.map((x) => ({ type: x.type, value: x.value }));

/**
 * The plumbing of {@link DataStoreV1}: error wrapping, and the conversions
 * between core types and the plugin's messages. Every conversion from a
 * response treats it as hostile input (INTERNAL naming the plugin).
 */
export class DataStoreV1Base {
  constructor(protected readonly plugin: ManagedPlugin<Service>) {
    this.errors = new FacadeErrors(plugin.label);
  }

  private readonly errors: FacadeErrors;

  protected fail(code: Status, msg: string, cause?: unknown): PluginHostError {
    return this.errors.fail(code, msg, cause);
  }

  protected async call<R>(what: string, fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (err) {
      throw this.errors.wrap(err, what);
    }
  }

  protected need<T>(value: T | null | undefined, method: string, field: string): T {
    if (value === null || value === undefined) throw this.fail(Status.INTERNAL, `${method} returned no ${field}`);
    return value;
  }

  protected check(cond: boolean, method: string, msg: string): void {
    if (!cond) throw this.fail(Status.INTERNAL, `${method} returned ${msg}`);
  }

  /** A page of at most `pageSize` items. */
  protected checkPage(n: number, pageSize: number, method: string, what: string): void {
    this.check(n <= pageSize, method, `${n} ${what} for a page of ${pageSize}`);
  }

  /** A count: a non-negative safe integer. */
  protected count(n: number, method: string): number {
    this.check(Number.isSafeInteger(n) && n >= 0, method, `an invalid count ${n}`);
    return n;
  }

  // ---- from the plugin (checked) ------------------------------------------------

  protected selectors(s: v1.Selector__Output[], method: string): Selector[] {
    return s.map((x) => {
      this.check(x.type !== '' && x.value !== '', method, 'a selector without type or value');
      return { type: x.type, value: x.value };
    });
  }

  protected entry(e: v1.Entry__Output | null | undefined, method: string): RegistrationEntry {
    const x = this.need(e, method, 'entry');
    this.check(x.id !== '' && x.spiffe_id !== '' && x.parent_id !== '', method, `an entry without id, spiffe_id or parent_id (id ${JSON.stringify(x.id)})`);
    const a = x.additional_attributes;
    return {
      id: x.id, spiffeId: x.spiffe_id, parentId: x.parent_id, selectors: this.selectors(x.selectors, method),
      x509SvidTtl: x.x509_svid_ttl, jwtSvidTtl: x.jwt_svid_ttl, federatesWith: [...x.federates_with].map(bareTrustDomain),
      admin: x.admin, downstream: x.downstream, expiresAt: x.expires_at, dnsNames: [...x.dns_names],
      revisionNumber: x.revision_number, storeSvid: x.store_svid, hint: x.hint, createdAt: x.created_at,
      ...(a ? { additionalAttributes: { disableX509SvidPrefetch: a.disable_x509_svid_prefetch, jwtSvidIncludeJti: a.jwt_svid_include_jti } } : {}),
    };
  }

  protected node(n: v1.Node__Output | null | undefined, method: string, withSelectors: boolean): AttestedNode {
    const x = this.need(n, method, 'node');
    this.check(x.spiffe_id !== '', method, 'a node without spiffe_id');
    return {
      spiffeId: x.spiffe_id, attestationDataType: x.attestation_data_type, certSerialNumber: x.cert_serial_number, certNotAfter: x.cert_not_after,
      newCertSerialNumber: x.new_cert_serial_number, newCertNotAfter: x.new_cert_not_after, canReattest: x.can_reattest,
      agentVersion: x.agent_version, banned: x.banned, ...(withSelectors ? { selectors: this.selectors(x.selectors, method) } : {}),
    };
  }

  protected bundle(b: v1.Bundle__Output | null | undefined, method: string, trustDomain?: string): Bundle {
    const x = this.need(b, method, 'bundle');
    this.check(x.trust_domain !== '', method, 'a bundle without trust_domain');
    const td = bareTrustDomain(x.trust_domain);
    if (trustDomain !== undefined) this.check(td === bareTrustDomain(trustDomain), method, `the bundle of "${td}" for "${trustDomain}"`);
    const x509Authorities = x.x509_authorities.map((a, i) => {
      const der = new Uint8Array(a.asn1);
      try {
        parseCertificate(der);
      } catch (err) {
        throw this.fail(Status.INTERNAL, `${method} returned an unparsable X.509 authority #${i}`, err);
      }
      return der;
    });
    const jwtAuthorities = x.jwt_authorities.map((a) => {
      this.check(a.key_id !== '' && a.public_key.length > 0, method, 'a JWT authority without key_id or public_key');
      return { keyId: a.key_id, publicKeyDer: new Uint8Array(a.public_key), expiresAt: a.expires_at };
    });
    return { trustDomain: td, x509Authorities, jwtAuthorities, refreshHint: x.refresh_hint, sequenceNumber: x.sequence_number };
  }

  protected journal(j: v1.CAJournal__Output | null | undefined, method: string): CAJournalRecord {
    const x = this.need(j, method, 'CA journal');
    this.check(x.id > 0 && x.data.length > 0, method, `a CA journal without id or data (id ${x.id})`);
    return {
      id: x.id, data: new Uint8Array(x.data), activeX509AuthorityId: x.active_x509_authority_id,
      activeJwtAuthorityId: x.active_jwt_authority_id, expiresAt: x.expires_at,
    };
  }

  protected joinToken(t: v1.JoinToken__Output, method: string, token?: string): JoinToken {
    this.check(t.token !== '' && (token === undefined || t.token === token), method, `join token ${JSON.stringify(t.token)}${token === undefined ? '' : ' for another token'}`);
    return { token: t.token, expiresAt: t.expires_at };
  }

  protected events<E extends { event_id: number; created_at: number }>(
    evs: E[], subject: (e: E) => string, method: string, afterId: number, limit: number,
  ): ChangeEvent[] {
    this.check(limit <= 0 || evs.length <= limit, method, `${evs.length} events for a limit of ${limit}`);
    let last = afterId;
    return evs.map((e) => {
      this.check(e.event_id > last, method, `event ${e.event_id} out of order (after ${last})`);
      last = e.event_id;
      const s = subject(e);
      this.check(s !== '', method, `event ${e.event_id} without a subject`);
      return { eventId: e.event_id, subject: s, createdAt: e.created_at };
    });
  }

  /**
   * A batch fetch's answer: each item one of the `ids` asked, none twice
   * (the plugin omits absent ids).
   */
  protected subsetOf<T>(items: T[], ids: readonly string[], key: (t: T) => string, method: string): T[] {
    const asked = new Set(ids);
    const seen = new Set<string>();
    for (const it of items) {
      const k = key(it);
      this.check(asked.has(k) && !seen.has(k), method, `${seen.has(k) ? 'twice' : 'unrequested'} ${JSON.stringify(k)}`);
      seen.add(k);
    }
    return items;
  }

  // ---- to the plugin ------------------------------------------------------------

  protected static entryToProto(e: NewEntry | RegistrationEntry): v1.Entry {
    const a = e.additionalAttributes;
    return {
      id: e.id ?? '', spiffe_id: e.spiffeId, parent_id: e.parentId, selectors: selectorsToProto(e.selectors),
      x509_svid_ttl: e.x509SvidTtl ?? 0, jwt_svid_ttl: e.jwtSvidTtl ?? 0, federates_with: e.federatesWith ?? [], admin: e.admin ?? false,
      downstream: e.downstream ?? false, expires_at: e.expiresAt ?? 0, dns_names: e.dnsNames ?? [], store_svid: e.storeSvid ?? false, hint: e.hint ?? '',
      // Absent stays absent (with the update mask set, absent clears them).
      ...(a ? { additional_attributes: { disable_x509_svid_prefetch: a.disableX509SvidPrefetch, jwt_svid_include_jti: a.jwtSvidIncludeJti } } : {}),
    };
  }

  protected static nodeToProto(n: NewNode | Omit<AttestedNode, 'banned' | 'selectors'>): v1.Node {
    return {
      spiffe_id: n.spiffeId, attestation_data_type: n.attestationDataType, cert_serial_number: n.certSerialNumber, cert_not_after: n.certNotAfter,
      new_cert_serial_number: n.newCertSerialNumber, new_cert_not_after: n.newCertNotAfter, can_reattest: n.canReattest, agent_version: n.agentVersion,
      ...('selectors' in n && n.selectors ? { selectors: selectorsToProto(n.selectors) } : {}),
    };
  }

  protected static bundleToProto(b: Bundle): v1.Bundle {
    return {
      trust_domain: b.trustDomain,
      x509_authorities: b.x509Authorities.map((asn1) => ({ asn1 })),
      jwt_authorities: b.jwtAuthorities.map((a) => ({ key_id: a.keyId, public_key: a.publicKeyDer, expires_at: a.expiresAt })),
      refresh_hint: b.refreshHint,
      sequence_number: b.sequenceNumber,
    };
  }

  protected static entryFiltersToProto(f: EntryFilters = {}): v1.EntryFilters {
    return {
      by_parent_id: f.byParentId ?? '', by_spiffe_id: f.bySpiffeId ?? '',
      by_selectors: f.bySelectors ? { selectors: selectorsToProto(f.bySelectors.selectors), match: MATCH[f.bySelectors.match] } : null,
      by_federates_with: f.byFederatesWith ? { trust_domains: [...f.byFederatesWith.trustDomains], match: MATCH[f.byFederatesWith.match] } : null,
      ...(f.byHint !== undefined ? { by_hint: f.byHint } : {}),
      ...(f.byDownstream !== undefined ? { by_downstream: f.byDownstream } : {}),
    };
  }

  protected static nodeFiltersToProto(f: NodeFilters = {}): v1.NodeFilters {
    return {
      by_attestation_type: f.byAttestationType ?? '', by_expires_before: f.byExpiresBefore ?? 0,
      by_selector_match: f.bySelectorMatch ? { selectors: selectorsToProto(f.bySelectorMatch.selectors), match: MATCH[f.bySelectorMatch.match] } : null,
      ...(f.byBanned !== undefined ? { by_banned: f.byBanned } : {}),
      ...(f.byCanReattest !== undefined ? { by_can_reattest: f.byCanReattest } : {}),
    };
  }

  protected static deleteMode(mode: BundleDeleteMode): v1.BundleDeleteMode__Output {
    return DELETE_MODE[mode];
  }
}
