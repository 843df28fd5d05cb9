import { parseCertificate, type Bundle, type ManagedPlugin, type PluginHostError } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { FacadeErrors } from '../facade.js';
import type { datastoreV1 as v1 } from '@spire-ts/proto';
import type {
  AttestedNode, CAJournalInput, CAJournalRecord, ChangeEvent, DataStore, JoinToken, NewEntry, NewNode, Page, RegistrationEntry, Selector,
} from './datastore.js';

type Service = 'spire_ts.plugin.server.datastore.v1.DataStore';

const TD_PREFIX = 'spiffe://';
const bareTrustDomain = (td: string): string => (td.startsWith(TD_PREFIX) ? td.slice(TD_PREFIX.length) : td);

const ALL_ENTRY_FIELDS: v1.EntryMask = {
  spiffe_id: true, parent_id: true, selectors: true, x509_svid_ttl: true, federates_with: true, admin: true, downstream: true,
  expires_at: true, dns_names: true, store_svid: true, jwt_svid_ttl: true, hint: true, additional_attributes: false,
};
const ALL_NODE_FIELDS: v1.NodeMask = {
  attestation_data_type: true, cert_serial_number: true, cert_not_after: true, new_cert_serial_number: true, new_cert_not_after: true,
  can_reattest: true, agent_version: true,
};

/**
 * DataStore facade over a DataStore plugin: every plugin response is hostile
 * input (missing required fields or mismatched ids are INTERNAL naming the
 * plugin), and errors are prefixed `datastore(<name>): ` once, keeping their
 * gRPC code. The only file that touches the generated DataStore types.
 */
export class DataStoreV1 implements DataStore {
  constructor(private readonly plugin: ManagedPlugin<Service>) {
    this.errors = new FacadeErrors(plugin.label);
  }

  private readonly errors: FacadeErrors;

  private fail(code: Status, msg: string, cause?: unknown): PluginHostError {
    return this.errors.fail(code, msg, cause);
  }

  private wrap(err: unknown, what: string): PluginHostError {
    return this.errors.wrap(err, what);
  }

  private async call<R>(what: string, fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (err) {
      throw this.wrap(err, what);
    }
  }

  private need<T>(value: T | null | undefined, method: string, field: string): T {
    if (value === null || value === undefined) throw this.fail(Status.INTERNAL, `${method} returned no ${field}`);
    return value;
  }

  private check(cond: boolean, method: string, msg: string): void {
    if (!cond) throw this.fail(Status.INTERNAL, `${method} returned ${msg}`);
  }

  // ---- conversions ----------------------------------------------------------

  private selectors(s: v1.Selector__Output[], method: string): Selector[] {
    return s.map((x) => {
      this.check(x.type !== '' && x.value !== '', method, 'a selector without type or value');
      return { type: x.type, value: x.value };
    });
  }

  private entry(e: v1.Entry__Output | null | undefined, method: string): RegistrationEntry {
    const x = this.need(e, method, 'entry');
    this.check(x.id !== '' && x.spiffe_id !== '' && x.parent_id !== '', method, `an entry without id, spiffe_id or parent_id (id ${JSON.stringify(x.id)})`);
    return {
      id: x.id, spiffeId: x.spiffe_id, parentId: x.parent_id, selectors: this.selectors(x.selectors, method),
      x509SvidTtl: x.x509_svid_ttl, jwtSvidTtl: x.jwt_svid_ttl, federatesWith: [...x.federates_with].map(bareTrustDomain),
      admin: x.admin, downstream: x.downstream, expiresAt: x.expires_at, dnsNames: [...x.dns_names],
      revisionNumber: x.revision_number, storeSvid: x.store_svid, hint: x.hint, createdAt: x.created_at,
    };
  }

  private static entryToProto(e: NewEntry | RegistrationEntry): v1.Entry {
    return {
      id: e.id ?? '', spiffe_id: e.spiffeId, parent_id: e.parentId, selectors: e.selectors.map((s) => ({ type: s.type, value: s.value })),
      x509_svid_ttl: e.x509SvidTtl ?? 0, jwt_svid_ttl: e.jwtSvidTtl ?? 0, federates_with: e.federatesWith ?? [], admin: e.admin ?? false,
      downstream: e.downstream ?? false, expires_at: e.expiresAt ?? 0, dns_names: e.dnsNames ?? [], store_svid: e.storeSvid ?? false, hint: e.hint ?? '',
    };
  }

  private node(n: v1.Node__Output | null | undefined, method: string, withSelectors: boolean): AttestedNode {
    const x = this.need(n, method, 'node');
    this.check(x.spiffe_id !== '', method, 'a node without spiffe_id');
    return {
      spiffeId: x.spiffe_id, attestationDataType: x.attestation_data_type, certSerialNumber: x.cert_serial_number, certNotAfter: x.cert_not_after,
      newCertSerialNumber: x.new_cert_serial_number, newCertNotAfter: x.new_cert_not_after, canReattest: x.can_reattest,
      agentVersion: x.agent_version, banned: x.banned, ...(withSelectors ? { selectors: this.selectors(x.selectors, method) } : {}),
    };
  }

  private static nodeToProto(n: NewNode | Omit<AttestedNode, 'banned' | 'selectors'>): v1.Node {
    return {
      spiffe_id: n.spiffeId, attestation_data_type: n.attestationDataType, cert_serial_number: n.certSerialNumber, cert_not_after: n.certNotAfter,
      new_cert_serial_number: n.newCertSerialNumber, new_cert_not_after: n.newCertNotAfter, can_reattest: n.canReattest, agent_version: n.agentVersion,
      ...('selectors' in n && n.selectors ? { selectors: n.selectors.map((s) => ({ type: s.type, value: s.value })) } : {}),
    };
  }

  private bundle(b: v1.Bundle__Output | null | undefined, method: string): Bundle {
    const x = this.need(b, method, 'bundle');
    this.check(x.trust_domain !== '', method, 'a bundle without trust_domain');
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
    return { trustDomain: bareTrustDomain(x.trust_domain), x509Authorities, jwtAuthorities, refreshHint: x.refresh_hint, sequenceNumber: x.sequence_number };
  }

  private static bundleToProto(b: Bundle): v1.Bundle {
    return {
      trust_domain: b.trustDomain,
      x509_authorities: b.x509Authorities.map((asn1) => ({ asn1 })),
      jwt_authorities: b.jwtAuthorities.map((a) => ({ key_id: a.keyId, public_key: a.publicKeyDer, expires_at: a.expiresAt })),
      refresh_hint: b.refreshHint,
      sequence_number: b.sequenceNumber,
    };
  }

  private journal(j: v1.CAJournal__Output | null | undefined, method: string): CAJournalRecord {
    const x = this.need(j, method, 'CA journal');
    this.check(x.id > 0 && x.data.length > 0, method, `a CA journal without id or data (id ${x.id})`);
    return {
      id: x.id, data: new Uint8Array(x.data), activeX509AuthorityId: x.active_x509_authority_id,
      activeJwtAuthorityId: x.active_jwt_authority_id, expiresAt: x.expires_at,
    };
  }

  private joinToken(t: v1.JoinToken__Output, method: string, token?: string): JoinToken {
    this.check(t.token !== '' && (token === undefined || t.token === token), method, `join token ${JSON.stringify(t.token)}${token === undefined ? '' : ' for another token'}`);
    return { token: t.token, expiresAt: t.expires_at };
  }

  private events<E extends { event_id: number; created_at: number }>(
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

  // ---- CA journal -------------------------------------------------------------

  async setCAJournal(j: CAJournalInput): Promise<CAJournalRecord> {
    const res = await this.call('failed to set CA journal', () =>
      this.plugin.call('SetCAJournal', {
        ca_journal: {
          id: j.id ?? 0, data: j.data, active_x509_authority_id: j.activeX509AuthorityId,
          active_jwt_authority_id: j.activeJwtAuthorityId, expires_at: j.expiresAt,
        },
      }),
    );
    const rec = this.journal(res.ca_journal, 'SetCAJournal');
    this.check(!j.id || rec.id === j.id, 'SetCAJournal', `CA journal ${rec.id} for ${j.id ?? 0}`);
    return rec;
  }

  async fetchLatestCAJournal(): Promise<CAJournalRecord | undefined> {
    const res = await this.call('failed to fetch the latest CA journal', () => this.plugin.call('FetchLatestCAJournal', {}));
    return res.ca_journal ? this.journal(res.ca_journal, 'FetchLatestCAJournal') : undefined;
  }

  async pruneCAJournals(allExpireBefore: number): Promise<number> {
    return (await this.call('failed to prune CA journals', () => this.plugin.call('PruneCAJournals', { all_expire_before: allExpireBefore }))).pruned;
  }

  // ---- Bundles ----------------------------------------------------------------

  async fetchBundle(trustDomain: string): Promise<Bundle | undefined> {
    const res = await this.call(`failed to fetch bundle "${trustDomain}"`, () => this.plugin.call('FetchBundle', { trust_domain: trustDomain }));
    if (!res.bundle) return undefined;
    const b = this.bundle(res.bundle, 'FetchBundle');
    this.check(b.trustDomain === bareTrustDomain(trustDomain), 'FetchBundle', `the bundle of "${b.trustDomain}" for "${trustDomain}"`);
    return b;
  }

  async setBundle(bundle: Bundle): Promise<Bundle> {
    const res = await this.call(`failed to set bundle "${bundle.trustDomain}"`, () => this.plugin.call('SetBundle', { bundle: DataStoreV1.bundleToProto(bundle) }));
    return this.bundle(res.bundle, 'SetBundle');
  }

  async appendBundle(bundle: Bundle): Promise<Bundle> {
    const res = await this.call(`failed to append bundle "${bundle.trustDomain}"`, () =>
      this.plugin.call('AppendBundle', { bundle: DataStoreV1.bundleToProto(bundle) }),
    );
    return this.bundle(res.bundle, 'AppendBundle');
  }

  // ---- Registration entries ---------------------------------------------------

  async createEntry(entry: NewEntry): Promise<RegistrationEntry> {
    const res = await this.call(`failed to create entry for "${entry.spiffeId}"`, () =>
      this.plugin.call('CreateEntries', { entries: [DataStoreV1.entryToProto(entry)] }),
    );
    this.check(res.entries.length === 1, 'CreateEntries', `${res.entries.length} entries for 1`);
    return this.entry(res.entries[0], 'CreateEntries');
  }

  async fetchEntry(id: string): Promise<RegistrationEntry | undefined> {
    const res = await this.call(`failed to fetch entry "${id}"`, () => this.plugin.call('FetchEntry', { id }));
    if (!res.entry) return undefined;
    const e = this.entry(res.entry, 'FetchEntry');
    this.check(e.id === id, 'FetchEntry', `entry "${e.id}" for "${id}"`);
    return e;
  }

  async listEntries(page: { pageSize: number; pageToken?: string }): Promise<Page<RegistrationEntry>> {
    const res = await this.call('failed to list entries', () =>
      this.plugin.call('ListEntries', { pagination: { page_size: page.pageSize, token: page.pageToken ?? '' } }),
    );
    this.check(res.entries.length <= page.pageSize, 'ListEntries', `${res.entries.length} entries for a page of ${page.pageSize}`);
    return { items: res.entries.map((e) => this.entry(e, 'ListEntries')), nextPageToken: res.next_page_token };
  }

  async updateEntry(entry: RegistrationEntry, opts: { expectedRevision?: number } = {}): Promise<RegistrationEntry> {
    const res = await this.call(`failed to update entry "${entry.id}"`, () =>
      this.plugin.call('UpdateEntry', {
        entry: DataStoreV1.entryToProto(entry), mask: ALL_ENTRY_FIELDS,
        ...(opts.expectedRevision !== undefined ? { expected_revision: opts.expectedRevision } : {}),
      }),
    );
    const e = this.entry(res.entry, 'UpdateEntry');
    this.check(e.id === entry.id, 'UpdateEntry', `entry "${e.id}" for "${entry.id}"`);
    return e;
  }

  async deleteEntry(id: string): Promise<RegistrationEntry> {
    const res = await this.call(`failed to delete entry "${id}"`, () => this.plugin.call('DeleteEntry', { id }));
    const e = this.entry(res.entry, 'DeleteEntry');
    this.check(e.id === id, 'DeleteEntry', `entry "${e.id}" for "${id}"`);
    return e;
  }

  // ---- Attested nodes ---------------------------------------------------------

  async createNode(node: NewNode): Promise<AttestedNode> {
    const res = await this.call(`failed to create node "${node.spiffeId}"`, () => this.plugin.call('CreateNode', { node: DataStoreV1.nodeToProto(node) }));
    const n = this.node(res.node, 'CreateNode', node.selectors !== undefined);
    this.check(n.spiffeId === node.spiffeId, 'CreateNode', `node "${n.spiffeId}" for "${node.spiffeId}"`);
    return n;
  }

  async fetchNode(spiffeId: string, opts: { selectors?: boolean } = {}): Promise<AttestedNode | undefined> {
    const res = await this.call(`failed to fetch node "${spiffeId}"`, () =>
      this.plugin.call('FetchNode', { spiffe_id: spiffeId, fetch_selectors: opts.selectors === true }),
    );
    if (!res.node) return undefined;
    const n = this.node(res.node, 'FetchNode', opts.selectors === true);
    this.check(n.spiffeId === spiffeId, 'FetchNode', `node "${n.spiffeId}" for "${spiffeId}"`);
    return n;
  }

  async updateNode(node: Omit<AttestedNode, 'banned' | 'selectors'>): Promise<AttestedNode> {
    const res = await this.call(`failed to update node "${node.spiffeId}"`, () =>
      this.plugin.call('UpdateNode', { node: DataStoreV1.nodeToProto(node), mask: ALL_NODE_FIELDS }),
    );
    const n = this.node(res.node, 'UpdateNode', false);
    this.check(n.spiffeId === node.spiffeId, 'UpdateNode', `node "${n.spiffeId}" for "${node.spiffeId}"`);
    return n;
  }

  async deleteNode(spiffeId: string): Promise<AttestedNode> {
    const res = await this.call(`failed to delete node "${spiffeId}"`, () => this.plugin.call('DeleteNode', { spiffe_id: spiffeId }));
    const n = this.node(res.node, 'DeleteNode', false);
    this.check(n.spiffeId === spiffeId, 'DeleteNode', `node "${n.spiffeId}" for "${spiffeId}"`);
    return n;
  }

  // ---- Join tokens ------------------------------------------------------------

  async createJoinToken(token: JoinToken): Promise<JoinToken> {
    // The token itself is a credential: never put it in an error message.
    const res = await this.call('failed to create join token', () =>
      this.plugin.call('CreateJoinToken', { join_token: { token: token.token, expires_at: token.expiresAt } }),
    );
    return this.joinToken(this.need(res.join_token, 'CreateJoinToken', 'join token'), 'CreateJoinToken', token.token);
  }

  async consumeJoinToken(token: string): Promise<JoinToken | undefined> {
    const res = await this.call('failed to consume join token', () => this.plugin.call('ConsumeJoinToken', { token }));
    return res.join_token ? this.joinToken(res.join_token, 'ConsumeJoinToken', token) : undefined;
  }

  // ---- Change events ----------------------------------------------------------

  async listEntryEvents(afterId: number, limit = 0): Promise<ChangeEvent[]> {
    const res = await this.call('failed to list entry events', () => this.plugin.call('ListEntryEvents', { after_id: afterId, limit }));
    return this.events(res.events, (e) => e.entry_id, 'ListEntryEvents', afterId, limit);
  }

  async listNodeEvents(afterId: number, limit = 0): Promise<ChangeEvent[]> {
    const res = await this.call('failed to list node events', () => this.plugin.call('ListNodeEvents', { after_id: afterId, limit }));
    return this.events(res.events, (e) => e.spiffe_id, 'ListNodeEvents', afterId, limit);
  }
}
