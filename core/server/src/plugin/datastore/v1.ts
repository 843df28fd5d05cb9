import type { Bundle } from '@spire-ts/common';
import { ALL_BUNDLE_FIELDS, ALL_ENTRY_FIELDS, ALL_NODE_FIELDS, DataStoreV1Base, bareTrustDomain } from './v1-base.js';
import type {
  AttestedNode, BundleDeleteMode, CAJournalInput, CAJournalRecord, ChangeEvent, DataStore, EntryFilters, FederationRelationship,
  FederationRelationshipMask, JoinToken, NewEntry, NewNode, NodeFilters, Page, RegistrationEntry, Selector,
} from './datastore.js';
import type { datastoreV1 as pb } from '@spire-ts/proto';

/**
 * DataStore facade over a DataStore plugin: every plugin response is hostile
 * input (missing required fields or mismatched ids are INTERNAL naming the
 * plugin), and errors are prefixed `datastore(<name>): ` once, keeping their
 * gRPC code. With v1-base.ts, the only code that touches the generated
 * DataStore types.
 */
export class DataStoreV1 extends DataStoreV1Base implements DataStore {
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
    const res = await this.call(`failed to set bundle "${bundle.trustDomain}"`, () => this.plugin.call('SetBundle', { bundle: DataStoreV1Base.bundleToProto(bundle) }));
    return this.bundle(res.bundle, 'SetBundle', bundle.trustDomain);
  }

  async appendBundle(bundle: Bundle): Promise<Bundle> {
    const res = await this.call(`failed to append bundle "${bundle.trustDomain}"`, () =>
      this.plugin.call('AppendBundle', { bundle: DataStoreV1Base.bundleToProto(bundle) }),
    );
    return this.bundle(res.bundle, 'AppendBundle', bundle.trustDomain);
  }

  async createBundle(bundle: Bundle): Promise<Bundle> {
    const res = await this.call(`failed to create bundle "${bundle.trustDomain}"`, () =>
      this.plugin.call('CreateBundle', { bundle: DataStoreV1Base.bundleToProto(bundle) }),
    );
    return this.bundle(res.bundle, 'CreateBundle', bundle.trustDomain);
  }

  async updateBundle(bundle: Bundle): Promise<Bundle> {
    const res = await this.call(`failed to update bundle "${bundle.trustDomain}"`, () =>
      this.plugin.call('UpdateBundle', { bundle: DataStoreV1Base.bundleToProto(bundle), mask: ALL_BUNDLE_FIELDS }),
    );
    return this.bundle(res.bundle, 'UpdateBundle', bundle.trustDomain);
  }

  async listBundles(page: { pageSize: number; pageToken?: string }): Promise<Page<Bundle>> {
    const res = await this.call('failed to list bundles', () =>
      this.plugin.call('ListBundles', { pagination: { page_size: page.pageSize, token: page.pageToken ?? '' } }),
    );
    this.checkPage(res.bundles.length, page.pageSize, 'ListBundles', 'bundles');
    return { items: res.bundles.map((b) => this.bundle(b, 'ListBundles')), nextPageToken: res.next_page_token };
  }

  async countBundles(): Promise<number> {
    const res = await this.call('failed to count bundles', () => this.plugin.call('CountBundles', {}));
    return this.count(res.count, 'CountBundles');
  }

  async deleteBundle(trustDomain: string, mode: BundleDeleteMode): Promise<void> {
    await this.call(`failed to delete bundle "${trustDomain}"`, () =>
      this.plugin.call('DeleteBundle', { trust_domain: trustDomain, mode: DataStoreV1Base.deleteMode(mode) }),
    );
  }

  async pruneBundle(trustDomain: string, expiresBefore: number): Promise<boolean> {
    const res = await this.call(`failed to prune bundle "${trustDomain}"`, () =>
      this.plugin.call('PruneBundle', { trust_domain: trustDomain, expires_before: expiresBefore }),
    );
    return res.changed;
  }

  // ---- Federation relationships -----------------------------------------------

  private static relationshipToProto(fr: FederationRelationship): pb.FederationRelationship {
    const p = fr.bundleEndpointProfile;
    return {
      trust_domain: fr.trustDomain,
      bundle_endpoint_url: fr.bundleEndpointUrl,
      ...(p.type === 'https_spiffe' ? { https_spiffe: { endpoint_spiffe_id: p.endpointSpiffeId } } : { https_web: {} }),
      trust_domain_bundle: fr.trustDomainBundle ? DataStoreV1Base.bundleToProto(fr.trustDomainBundle) : null,
    };
  }

  private relationship(x: pb.FederationRelationship__Output | null | undefined, method: string, trustDomain?: string): FederationRelationship {
    const r = this.need(x, method, 'federation relationship');
    const td = bareTrustDomain(r.trust_domain);
    this.check(td !== '' && r.bundle_endpoint_url !== '', method, 'a federation relationship without trust_domain or bundle_endpoint_url');
    if (trustDomain !== undefined) this.check(td === bareTrustDomain(trustDomain), method, `the federation relationship of "${td}" for "${trustDomain}"`);
    let profile: FederationRelationship['bundleEndpointProfile'];
    if (r.bundle_endpoint_profile === 'https_spiffe') {
      const id = r.https_spiffe?.endpoint_spiffe_id ?? '';
      this.check(id !== '', method, `a https_spiffe federation relationship with "${td}" without endpoint_spiffe_id`);
      profile = { type: 'https_spiffe', endpointSpiffeId: id };
    } else {
      this.check(r.bundle_endpoint_profile === 'https_web', method, `a federation relationship with "${td}" without a bundle endpoint profile`);
      profile = { type: 'https_web' };
    }
    const out: FederationRelationship = { trustDomain: td, bundleEndpointUrl: r.bundle_endpoint_url, bundleEndpointProfile: profile };
    if (r.trust_domain_bundle) out.trustDomainBundle = this.bundle(r.trust_domain_bundle, method, td);
    return out;
  }

  async createFederationRelationship(fr: FederationRelationship): Promise<FederationRelationship> {
    const res = await this.call(`failed to create federation relationship with "${fr.trustDomain}"`, () =>
      this.plugin.call('CreateFederationRelationship', { federation_relationship: DataStoreV1.relationshipToProto(fr) }),
    );
    return this.relationship(res.federation_relationship, 'CreateFederationRelationship', fr.trustDomain);
  }

  async fetchFederationRelationship(trustDomain: string): Promise<FederationRelationship | undefined> {
    const res = await this.call(`failed to fetch federation relationship with "${trustDomain}"`, () =>
      this.plugin.call('FetchFederationRelationship', { trust_domain: trustDomain }),
    );
    return res.federation_relationship ? this.relationship(res.federation_relationship, 'FetchFederationRelationship', trustDomain) : undefined;
  }

  async listFederationRelationships(page: { pageSize: number; pageToken?: string }): Promise<Page<FederationRelationship>> {
    const res = await this.call('failed to list federation relationships', () =>
      this.plugin.call('ListFederationRelationships', { pagination: { page_size: page.pageSize, token: page.pageToken ?? '' } }),
    );
    this.checkPage(res.federation_relationships.length, page.pageSize, 'ListFederationRelationships', 'federation relationships');
    return { items: res.federation_relationships.map((r) => this.relationship(r, 'ListFederationRelationships')), nextPageToken: res.next_page_token };
  }

  async updateFederationRelationship(fr: FederationRelationship, mask?: FederationRelationshipMask): Promise<FederationRelationship> {
    const m = mask ?? { bundleEndpointUrl: true, bundleEndpointProfile: true, trustDomainBundle: true };
    const res = await this.call(`failed to update federation relationship with "${fr.trustDomain}"`, () =>
      this.plugin.call('UpdateFederationRelationship', {
        federation_relationship: DataStoreV1.relationshipToProto(fr),
        mask: { bundle_endpoint_url: m.bundleEndpointUrl, bundle_endpoint_profile: m.bundleEndpointProfile, trust_domain_bundle: m.trustDomainBundle },
      }),
    );
    return this.relationship(res.federation_relationship, 'UpdateFederationRelationship', fr.trustDomain);
  }

  async deleteFederationRelationship(trustDomain: string): Promise<void> {
    await this.call(`failed to delete federation relationship with "${trustDomain}"`, () =>
      this.plugin.call('DeleteFederationRelationship', { trust_domain: trustDomain }),
    );
  }

  // ---- Registration entries ---------------------------------------------------

  async createEntry(entry: NewEntry): Promise<RegistrationEntry> {
    const res = await this.call(`failed to create entry for "${entry.spiffeId}"`, () =>
      this.plugin.call('CreateEntries', { entries: [DataStoreV1Base.entryToProto(entry)] }),
    );
    this.check(res.entries.length === 1, 'CreateEntries', `${res.entries.length} entries for 1`);
    return this.entry(res.entries[0], 'CreateEntries');
  }

  async createEntries(entries: readonly NewEntry[]): Promise<RegistrationEntry[]> {
    if (entries.length === 0) return [];
    const res = await this.call(`failed to create ${entries.length} entries`, () =>
      this.plugin.call('CreateEntries', { entries: entries.map((e) => DataStoreV1Base.entryToProto(e)) }),
    );
    this.check(res.entries.length === entries.length, 'CreateEntries', `${res.entries.length} entries for ${entries.length}`);
    const ids = new Set<string>();
    return res.entries.map((x, i) => {
      const e = this.entry(x, 'CreateEntries');
      const want = entries[i] as NewEntry;
      const same = e.spiffeId === want.spiffeId && e.parentId === want.parentId && (!want.id || e.id === want.id);
      this.check(same, 'CreateEntries', `entry "${e.id}" (${e.spiffeId}) for entry ${i} (${want.spiffeId})`);
      this.check(!ids.has(e.id), 'CreateEntries', `entry id "${e.id}" twice`);
      ids.add(e.id);
      return e;
    });
  }

  async fetchEntry(id: string): Promise<RegistrationEntry | undefined> {
    const res = await this.call(`failed to fetch entry "${id}"`, () => this.plugin.call('FetchEntry', { id }));
    if (!res.entry) return undefined;
    const e = this.entry(res.entry, 'FetchEntry');
    this.check(e.id === id, 'FetchEntry', `entry "${e.id}" for "${id}"`);
    return e;
  }

  async listEntries(page: { pageSize: number; pageToken?: string }, filters?: EntryFilters): Promise<Page<RegistrationEntry>> {
    const res = await this.call('failed to list entries', () =>
      this.plugin.call('ListEntries', {
        pagination: { page_size: page.pageSize, token: page.pageToken ?? '' }, filters: DataStoreV1Base.entryFiltersToProto(filters),
      }),
    );
    this.checkPage(res.entries.length, page.pageSize, 'ListEntries', 'entries');
    return { items: res.entries.map((e) => this.entry(e, 'ListEntries')), nextPageToken: res.next_page_token };
  }

  async countEntries(filters?: EntryFilters): Promise<number> {
    const res = await this.call('failed to count entries', () =>
      this.plugin.call('CountEntries', { filters: DataStoreV1Base.entryFiltersToProto(filters) }),
    );
    return this.count(res.count, 'CountEntries');
  }

  async fetchEntries(ids: readonly string[]): Promise<RegistrationEntry[]> {
    if (ids.length === 0) return [];
    const res = await this.call(`failed to fetch ${ids.length} entries`, () => this.plugin.call('FetchEntries', { ids: [...ids] }));
    const entries = res.entries.map((e) => this.entry(e, 'FetchEntries'));
    return this.subsetOf(entries, ids, (e) => e.id, 'FetchEntries');
  }

  async pruneEntries(expiresBefore: number): Promise<number> {
    const res = await this.call('failed to prune entries', () => this.plugin.call('PruneEntries', { expires_before: expiresBefore }));
    return this.count(res.pruned, 'PruneEntries');
  }

  async updateEntry(entry: RegistrationEntry, opts: { expectedRevision?: number } = {}): Promise<RegistrationEntry> {
    const res = await this.call(`failed to update entry "${entry.id}"`, () =>
      this.plugin.call('UpdateEntry', {
        entry: DataStoreV1Base.entryToProto(entry), mask: ALL_ENTRY_FIELDS,
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
    const res = await this.call(`failed to create node "${node.spiffeId}"`, () => this.plugin.call('CreateNode', { node: DataStoreV1Base.nodeToProto(node) }));
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
      this.plugin.call('UpdateNode', { node: DataStoreV1Base.nodeToProto(node), mask: ALL_NODE_FIELDS }),
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

  async listNodes(
    page: { pageSize: number; pageToken?: string }, filters?: NodeFilters, opts: { selectors?: boolean } = {},
  ): Promise<Page<AttestedNode>> {
    const withSelectors = opts.selectors === true;
    const res = await this.call('failed to list nodes', () =>
      this.plugin.call('ListNodes', {
        pagination: { page_size: page.pageSize, token: page.pageToken ?? '' }, filters: DataStoreV1Base.nodeFiltersToProto(filters),
        fetch_selectors: withSelectors,
      }),
    );
    this.checkPage(res.nodes.length, page.pageSize, 'ListNodes', 'nodes');
    return { items: res.nodes.map((n) => this.node(n, 'ListNodes', withSelectors)), nextPageToken: res.next_page_token };
  }

  async countNodes(filters?: NodeFilters): Promise<number> {
    const res = await this.call('failed to count nodes', () => this.plugin.call('CountNodes', { filters: DataStoreV1Base.nodeFiltersToProto(filters) }));
    return this.count(res.count, 'CountNodes');
  }

  async fetchNodes(spiffeIds: readonly string[]): Promise<AttestedNode[]> {
    if (spiffeIds.length === 0) return [];
    const res = await this.call(`failed to fetch ${spiffeIds.length} nodes`, () => this.plugin.call('FetchNodes', { spiffe_ids: [...spiffeIds] }));
    const nodes = res.nodes.map((n) => this.node(n, 'FetchNodes', true));
    return this.subsetOf(nodes, spiffeIds, (n) => n.spiffeId, 'FetchNodes');
  }

  async setNodeSelectors(spiffeId: string, selectors: readonly Selector[]): Promise<void> {
    await this.call(`failed to set selectors of node "${spiffeId}"`, () =>
      this.plugin.call('SetNodeSelectors', { spiffe_id: spiffeId, selectors: selectors.map((x) => ({ type: x.type, value: x.value })) }),
    );
  }

  async getNodeSelectors(spiffeId: string): Promise<Selector[]> {
    const res = await this.call(`failed to get selectors of node "${spiffeId}"`, () => this.plugin.call('GetNodeSelectors', { spiffe_id: spiffeId }));
    return this.selectors(res.selectors, 'GetNodeSelectors');
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

  async fetchJoinToken(token: string): Promise<JoinToken | undefined> {
    const res = await this.call('failed to fetch join token', () => this.plugin.call('FetchJoinToken', { token }));
    return res.join_token ? this.joinToken(res.join_token, 'FetchJoinToken', token) : undefined;
  }

  async pruneJoinTokens(expiresBefore: number): Promise<number> {
    const res = await this.call('failed to prune join tokens', () => this.plugin.call('PruneJoinTokens', { expires_before: expiresBefore }));
    return this.count(res.pruned, 'PruneJoinTokens');
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
