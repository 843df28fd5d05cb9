/**
 * The DataStore interface over the wire: every method is one unary call to a
 * DataStore plugin (`ManagedPlugin.call`), converted with the plugin
 * package's convert modules. Failures come back as DataStoreErrors with the
 * plugin's gRPC code, message and details. Responses are hostile input: a
 * missing required message or a short batch is INTERNAL, naming the plugin.
 */
import { Metadata } from '@grpc/grpc-js';
import type { ManagedPlugin, RequestOf, ResponseOf, UnaryMethodOf } from '@spire-ts/common';
import type { ServiceClientOf } from '@spire-ts/proto';
import * as w from '@spire-ts/server-datastore-sql/wire';
import type {
  AttestedNode, AuthorizedEntriesOptions, Bundle, BundleDeleteMode, BundleMask, CAJournal, CAJournalInput, Consistency, DataStore,
  DecodedRelationship, EntryEvent, EntryFilters, EntryMask, FederationRelationship, FederationRelationshipInput, FederationRelationshipMask,
  JoinToken, JwtAuthority, ListBundlesResponse, ListEntriesRequest, ListEntriesResponse, ListEventsRequest, ListFederationRelationshipsResponse,
  ListNodesRequest, ListNodesResponse, NewBundle, NewEntry, NewNode, NodeEvent, NodeFilters, NodeMask, Pagination, PruneNodesOptions,
  RegistrationEntry, Selector,
} from '@spire-ts/server-datastore-sql/wire';

type Service = w.DataStoreService;
type Client = ServiceClientOf<Service>;
type Method = UnaryMethodOf<Client>;

export interface WireDataStoreOptions {
  /** Sent with every call as the store's clock (honoured by plugins started with SPIRE_TS_DATASTORE_TEST_CLOCK=1). */
  now?: () => number;
  /** Per-call deadline (default 30 s). */
  deadlineMs?: number;
  /** Runs on close(); the plugin process itself is the caller's to stop. */
  onClose?: () => Promise<void>;
}

function eventsToProto(req: ListEventsRequest): RequestOf<Client['ListEntryEvents']> {
  return {
    after_id: w.uint64(req.afterId, 'afterId'),
    before_id: w.uint64(req.beforeId, 'beforeId'),
    limit: w.int32(req.limit, 'limit'),
    consistency: w.consistencyToProto(req.consistency),
  };
}

/** A DataStore whose every method is a call to a DataStore plugin. */
export class WireDataStore implements DataStore {
  constructor(
    private readonly plugin: ManagedPlugin<Service>,
    private readonly opts: WireDataStoreOptions = {},
  ) {}

  private async call<M extends Method>(method: M, request: RequestOf<Client[M]>): Promise<ResponseOf<Client[M]>> {
    let metadata: Metadata | undefined;
    if (this.opts.now) {
      metadata = new Metadata();
      metadata.set(w.TEST_NOW_METADATA, String(this.opts.now()));
    }
    try {
      return await this.plugin.call(method, request, { deadlineMs: this.opts.deadlineMs ?? 30_000, ...(metadata ? { metadata } : {}) });
    } catch (err) {
      throw w.fromGrpcError(err, this.plugin.label);
    }
  }

  private need<T>(value: T | null | undefined, method: string, field: string): T {
    if (value === null || value === undefined) throw new w.DataStoreError('INTERNAL', `${this.plugin.label}: ${method} returned no ${field}`);
    return value;
  }

  private entry = (e: Parameters<typeof w.entryFromProto>[0] | null, method: string): RegistrationEntry => w.entryFromProto(this.need(e, method, 'entry'));

  // Registration entries
  async createEntries(entries: NewEntry[]): Promise<RegistrationEntry[]> {
    const res = await this.call('CreateEntries', { entries: entries.map((e, i) => w.entryToProto(e, `entries[${i}]`)) });
    if (res.entries.length !== entries.length) {
      throw new w.DataStoreError('INTERNAL', `${this.plugin.label}: CreateEntries returned ${res.entries.length} entries for ${entries.length}`);
    }
    return res.entries.map(w.entryFromProto);
  }
  async createEntry(entry: NewEntry): Promise<RegistrationEntry> {
    return (await this.createEntries([entry]))[0] as RegistrationEntry;
  }
  async fetchEntry(id: string, consistency?: Consistency): Promise<RegistrationEntry | null> {
    const res = await this.call('FetchEntry', { id, consistency: w.consistencyToProto(consistency) });
    return res.entry ? w.entryFromProto(res.entry) : null;
  }
  async fetchEntries(ids: string[], consistency?: Consistency): Promise<RegistrationEntry[]> {
    return (await this.call('FetchEntries', { ids, consistency: w.consistencyToProto(consistency) })).entries.map(w.entryFromProto);
  }
  async listEntries(req: ListEntriesRequest = {}): Promise<ListEntriesResponse> {
    const res = await this.call('ListEntries', {
      filters: w.entryFiltersToProto(req), pagination: w.paginationToProto(req.pagination), consistency: w.consistencyToProto(req.consistency),
    });
    return { entries: res.entries.map(w.entryFromProto), nextPageToken: res.next_page_token };
  }
  async countEntries(filters: EntryFilters = {}): Promise<number> {
    return (await this.call('CountEntries', { filters: w.entryFiltersToProto(filters) })).count;
  }
  async updateEntry(entry: Partial<RegistrationEntry> & { id: string }, mask?: EntryMask, opts?: { expectedRevision?: number }): Promise<RegistrationEntry> {
    const res = await this.call('UpdateEntry', {
      entry: w.entryToProto(entry), mask: w.entryMaskToProto(mask), expected_revision: w.int64(opts?.expectedRevision, 'expectedRevision'),
    });
    return this.entry(res.entry, 'UpdateEntry');
  }
  async deleteEntry(id: string): Promise<RegistrationEntry> {
    return this.entry((await this.call('DeleteEntry', { id })).entry, 'DeleteEntry');
  }
  async pruneEntries(expiresBefore: number): Promise<number> {
    return (await this.call('PruneEntries', { expires_before: w.int64(expiresBefore, 'expiresBefore') })).pruned;
  }
  async listAuthorizedEntries(agentId: string, opts: AuthorizedEntriesOptions = {}): Promise<RegistrationEntry[]> {
    const res = await this.call('ListAuthorizedEntries', {
      agent_id: agentId, use_selectors: opts.selectors !== undefined, selectors: w.selectorsToProto(opts.selectors), consistency: w.consistencyToProto(opts.consistency),
    });
    return res.entries.map(w.entryFromProto);
  }

  // Attested nodes (the wire cannot tell "no selectors" from "not asked": each call knows which it is)
  async createNode(node: NewNode): Promise<AttestedNode> {
    const res = await this.call('CreateNode', { node: w.nodeToProto(node) });
    return w.nodeFromProto(this.need(res.node, 'CreateNode', 'node'), node.selectors !== undefined);
  }
  async fetchNode(spiffeId: string, opts: { fetchSelectors?: boolean; consistency?: Consistency } = {}): Promise<AttestedNode | null> {
    const res = await this.call('FetchNode', { spiffe_id: spiffeId, fetch_selectors: opts.fetchSelectors, consistency: w.consistencyToProto(opts.consistency) });
    return res.node ? w.nodeFromProto(res.node, opts.fetchSelectors === true) : null;
  }
  async fetchNodes(spiffeIds: string[], consistency?: Consistency): Promise<AttestedNode[]> {
    const res = await this.call('FetchNodes', { spiffe_ids: spiffeIds, consistency: w.consistencyToProto(consistency) });
    return res.nodes.map((n) => w.nodeFromProto(n, true));
  }
  async listNodes(req: ListNodesRequest = {}): Promise<ListNodesResponse> {
    const res = await this.call('ListNodes', {
      filters: w.nodeFiltersToProto(req), fetch_selectors: req.fetchSelectors, pagination: w.paginationToProto(req.pagination),
      consistency: w.consistencyToProto(req.consistency),
    });
    return { nodes: res.nodes.map((n) => w.nodeFromProto(n, req.fetchSelectors === true)), nextPageToken: res.next_page_token };
  }
  async countNodes(filters: NodeFilters = {}): Promise<number> {
    return (await this.call('CountNodes', { filters: w.nodeFiltersToProto(filters) })).count;
  }
  async updateNode(node: Partial<AttestedNode> & { spiffeId: string }, mask?: NodeMask): Promise<AttestedNode> {
    const res = await this.call('UpdateNode', { node: w.nodeToProto({ ...node, selectors: undefined }), mask: w.nodeMaskToProto(mask) });
    return w.nodeFromProto(this.need(res.node, 'UpdateNode', 'node'), false);
  }
  async deleteNode(spiffeId: string): Promise<AttestedNode> {
    return w.nodeFromProto(this.need((await this.call('DeleteNode', { spiffe_id: spiffeId })).node, 'DeleteNode', 'node'), false);
  }
  async setNodeSelectors(spiffeId: string, selectors: Selector[]): Promise<void> {
    await this.call('SetNodeSelectors', { spiffe_id: spiffeId, selectors: w.selectorsToProto(selectors) });
  }
  async getNodeSelectors(spiffeId: string, consistency?: Consistency): Promise<Selector[]> {
    return w.selectorsFromProto((await this.call('GetNodeSelectors', { spiffe_id: spiffeId, consistency: w.consistencyToProto(consistency) })).selectors);
  }
  async pruneNodes(expiredBefore: number, opts: PruneNodesOptions = {}): Promise<number> {
    const res = await this.call('PruneNodes', {
      expired_before: w.int64(expiredBefore, 'expiredBefore'), include_non_reattestable: opts.includeNonReattestable, batch_size: w.int32(opts.batchSize, 'batchSize'),
    });
    return res.pruned;
  }

  // Join tokens
  async createJoinToken(token: JoinToken): Promise<JoinToken> {
    return w.joinTokenFromProto(this.need((await this.call('CreateJoinToken', { join_token: w.joinTokenToProto(token) })).join_token, 'CreateJoinToken', 'join_token'));
  }
  async fetchJoinToken(token: string): Promise<JoinToken | null> {
    const res = await this.call('FetchJoinToken', { token });
    return res.join_token ? w.joinTokenFromProto(res.join_token) : null;
  }
  async deleteJoinToken(token: string): Promise<void> {
    await this.call('DeleteJoinToken', { token });
  }
  async consumeJoinToken(token: string): Promise<JoinToken | null> {
    const res = await this.call('ConsumeJoinToken', { token });
    return res.join_token ? w.joinTokenFromProto(res.join_token) : null;
  }
  async pruneJoinTokens(expiresBefore: number): Promise<number> {
    return (await this.call('PruneJoinTokens', { expires_before: w.int64(expiresBefore, 'expiresBefore') })).pruned;
  }

  // Bundles
  private bundle = (b: Parameters<typeof w.bundleFromProto>[0] | null, method: string): Bundle => w.bundleFromProto(this.need(b, method, 'bundle'));
  async createBundle(bundle: NewBundle): Promise<Bundle> {
    return this.bundle((await this.call('CreateBundle', { bundle: w.bundleToProto(bundle) })).bundle, 'CreateBundle');
  }
  async fetchBundle(trustDomain: string): Promise<Bundle | null> {
    const res = await this.call('FetchBundle', { trust_domain: trustDomain });
    return res.bundle ? w.bundleFromProto(res.bundle) : null;
  }
  async listBundles(pagination?: Pagination): Promise<ListBundlesResponse> {
    const res = await this.call('ListBundles', { pagination: w.paginationToProto(pagination) });
    return { bundles: res.bundles.map(w.bundleFromProto), nextPageToken: res.next_page_token };
  }
  async countBundles(): Promise<number> {
    return (await this.call('CountBundles', {})).count;
  }
  async updateBundle(bundle: NewBundle, mask?: BundleMask): Promise<Bundle> {
    return this.bundle((await this.call('UpdateBundle', { bundle: w.bundleToProto(bundle), mask: w.bundleMaskToProto(mask) })).bundle, 'UpdateBundle');
  }
  async appendBundle(bundle: NewBundle): Promise<Bundle> {
    return this.bundle((await this.call('AppendBundle', { bundle: w.bundleToProto(bundle) })).bundle, 'AppendBundle');
  }
  async setBundle(bundle: NewBundle): Promise<Bundle> {
    return this.bundle((await this.call('SetBundle', { bundle: w.bundleToProto(bundle) })).bundle, 'SetBundle');
  }
  async deleteBundle(trustDomain: string, mode?: BundleDeleteMode): Promise<void> {
    await this.call('DeleteBundle', { trust_domain: trustDomain, mode: w.deleteModeToProto(mode) });
  }
  async pruneBundle(trustDomain: string, expiresBefore: number): Promise<boolean> {
    return (await this.call('PruneBundle', { trust_domain: trustDomain, expires_before: w.int64(expiresBefore, 'expiresBefore') })).changed;
  }
  async taintX509Authority(trustDomain: string, subjectKeyId: string): Promise<void> {
    await this.call('TaintX509Authority', { trust_domain: trustDomain, subject_key_id: subjectKeyId });
  }
  async revokeX509Authority(trustDomain: string, subjectKeyId: string): Promise<void> {
    await this.call('RevokeX509Authority', { trust_domain: trustDomain, subject_key_id: subjectKeyId });
  }
  async taintJwtAuthority(trustDomain: string, keyId: string): Promise<JwtAuthority> {
    const res = await this.call('TaintJWTAuthority', { trust_domain: trustDomain, key_id: keyId });
    return w.jwtAuthorityFromProto(this.need(res.jwt_authority, 'TaintJWTAuthority', 'jwt_authority'));
  }
  async revokeJwtAuthority(trustDomain: string, keyId: string): Promise<JwtAuthority> {
    const res = await this.call('RevokeJWTAuthority', { trust_domain: trustDomain, key_id: keyId });
    return w.jwtAuthorityFromProto(this.need(res.jwt_authority, 'RevokeJWTAuthority', 'jwt_authority'));
  }

  // Federation relationships
  private relationship(r: DecodedRelationship, method: string): FederationRelationship {
    const { bundleEndpointProfile, ...rest } = r;
    return { ...rest, bundleEndpointProfile: this.need(bundleEndpointProfile, method, 'bundle_endpoint_profile') };
  }
  async createFederationRelationship(fr: FederationRelationshipInput): Promise<FederationRelationship> {
    const res = await this.call('CreateFederationRelationship', { federation_relationship: w.relationshipToProto(fr) });
    return this.relationship(w.relationshipFromProto(this.need(res.federation_relationship, 'CreateFederationRelationship', 'federation_relationship')), 'CreateFederationRelationship');
  }
  async fetchFederationRelationship(trustDomain: string): Promise<FederationRelationship | null> {
    const res = await this.call('FetchFederationRelationship', { trust_domain: trustDomain });
    return res.federation_relationship ? this.relationship(w.relationshipFromProto(res.federation_relationship), 'FetchFederationRelationship') : null;
  }
  async listFederationRelationships(pagination?: Pagination): Promise<ListFederationRelationshipsResponse> {
    const res = await this.call('ListFederationRelationships', { pagination: w.paginationToProto(pagination) });
    return {
      relationships: res.federation_relationships.map((r) => this.relationship(w.relationshipFromProto(r), 'ListFederationRelationships')),
      nextPageToken: res.next_page_token,
    };
  }
  async updateFederationRelationship(fr: FederationRelationshipInput, mask?: FederationRelationshipMask): Promise<FederationRelationship> {
    const res = await this.call('UpdateFederationRelationship', { federation_relationship: w.relationshipToProto(fr), mask: w.relationshipMaskToProto(mask) });
    return this.relationship(w.relationshipFromProto(this.need(res.federation_relationship, 'UpdateFederationRelationship', 'federation_relationship')), 'UpdateFederationRelationship');
  }
  async deleteFederationRelationship(trustDomain: string): Promise<void> {
    await this.call('DeleteFederationRelationship', { trust_domain: trustDomain });
  }

  // CA journal
  async setCAJournal(journal: CAJournalInput): Promise<CAJournal> {
    return w.journalFromProto(this.need((await this.call('SetCAJournal', { ca_journal: w.journalToProto(journal) })).ca_journal, 'SetCAJournal', 'ca_journal'));
  }
  async fetchCAJournal(activeX509AuthorityId: string): Promise<CAJournal | null> {
    const res = await this.call('FetchCAJournal', { active_x509_authority_id: activeX509AuthorityId });
    return res.ca_journal ? w.journalFromProto(res.ca_journal) : null;
  }
  async fetchLatestCAJournal(): Promise<CAJournal | null> {
    const res = await this.call('FetchLatestCAJournal', {});
    return res.ca_journal ? w.journalFromProto(res.ca_journal) : null;
  }
  async listCAJournals(): Promise<CAJournal[]> {
    return (await this.call('ListCAJournals', {})).ca_journals.map(w.journalFromProto);
  }
  async deleteCAJournal(id: number): Promise<void> {
    await this.call('DeleteCAJournal', { id: w.uint64(id, 'id') });
  }
  async pruneCAJournals(allExpireBefore: number): Promise<number> {
    return (await this.call('PruneCAJournals', { all_expire_before: w.int64(allExpireBefore, 'allExpireBefore') })).pruned;
  }

  // Change events
  async listEntryEvents(req: ListEventsRequest = {}): Promise<EntryEvent[]> {
    return (await this.call('ListEntryEvents', eventsToProto(req))).events.map(w.entryEventFromProto);
  }
  async fetchEntryEvent(eventId: number): Promise<EntryEvent | null> {
    const res = await this.call('FetchEntryEvent', { event_id: w.uint64(eventId, 'eventId') });
    return res.event ? w.entryEventFromProto(res.event) : null;
  }
  async pruneEntryEvents(olderThan: number): Promise<number> {
    return (await this.call('PruneEntryEvents', { older_than: w.int64(olderThan, 'olderThan') })).pruned;
  }
  async listNodeEvents(req: ListEventsRequest = {}): Promise<NodeEvent[]> {
    return (await this.call('ListNodeEvents', eventsToProto(req))).events.map(w.nodeEventFromProto);
  }
  async fetchNodeEvent(eventId: number): Promise<NodeEvent | null> {
    const res = await this.call('FetchNodeEvent', { event_id: w.uint64(eventId, 'eventId') });
    return res.event ? w.nodeEventFromProto(res.event) : null;
  }
  async pruneNodeEvents(olderThan: number): Promise<number> {
    return (await this.call('PruneNodeEvents', { older_than: w.int64(olderThan, 'olderThan') })).pruned;
  }

  async close(): Promise<void> {
    await this.opts.onClose?.();
  }
}
