/**
 * SqlDataStore: the DataStore over one SQL database. Every method maps
 * failures to a DataStoreError (gRPC code, no stack trace in the message).
 */
import { aborted, alreadyExists, DataStoreError, internal } from './errors.js';
import { SqlError } from './dialect/types.js';
import type { Database } from './dialect/types.js';
import * as bundles from './bundles.js';
import * as entries from './entries.js';
import * as q from './entry-query.js';
import * as events from './events.js';
import * as federation from './federation.js';
import * as journal from './journal.js';
import * as nodes from './nodes.js';
import * as tokens from './tokens.js';
import type { Ctx } from './context.js';
import type { Logger } from './logger.js';
import type {
  AttestedNode, AuthorizedEntriesOptions, Bundle, BundleDeleteMode, BundleMask, CAJournal, CAJournalInput, Consistency, DataStore,
  EntryEvent, EntryFilters, EntryMask, FederationRelationship, FederationRelationshipInput, FederationRelationshipMask, JoinToken, JwtAuthority, ListBundlesResponse,
  ListEntriesRequest, ListEntriesResponse, ListEventsRequest, ListFederationRelationshipsResponse, ListNodesRequest, ListNodesResponse,
  NewBundle, NewEntry, NewNode, NodeEvent, NodeFilters, NodeMask, Pagination, PruneNodesOptions, RegistrationEntry, Selector,
} from './types.js';
import { checkEntryId, checkInt, checkSelectors, checkSpiffeId, normalizeTrustDomain } from './validation.js';

function toDataStoreError(err: unknown, op: string): DataStoreError {
  if (err instanceof DataStoreError) return err;
  if (err instanceof SqlError) {
    if (err.kind === 'unique') return alreadyExists(`${op}: already exists`);
    if (err.kind === 'retry') return aborted(`${op}: conflicting concurrent transaction; retry`);
    return internal(`${op}: ${err.message}`, err);
  }
  return internal(`${op}: ${err instanceof Error ? err.message : String(err)}`, err);
}

export class SqlDataStore implements DataStore {
  private readonly ctx: Ctx;

  constructor(private readonly db: Database, log: Logger, now: () => number) {
    this.ctx = { db, log, now };
  }

  /** The dialect and target, without secrets (for logs). */
  get target(): string {
    return this.db.target;
  }

  private async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toDataStoreError(err, op);
    }
  }

  private read(consistency?: Consistency): ReturnType<Database['reader']> {
    return this.db.reader(consistency);
  }

  createEntries(list: NewEntry[]): Promise<RegistrationEntry[]> {
    return this.run('create entries', () => entries.createEntries(this.ctx, list));
  }
  async createEntry(entry: NewEntry): Promise<RegistrationEntry> {
    const [created] = await this.createEntries([entry]);
    return created as RegistrationEntry;
  }
  fetchEntry(id: string, consistency?: Consistency): Promise<RegistrationEntry | null> {
    return this.run('fetch entry', async () => (await q.fetchEntryRow(this.read(consistency), checkEntryId(id)))?.entry ?? null);
  }
  fetchEntries(ids: string[], consistency?: Consistency): Promise<RegistrationEntry[]> {
    return this.run('fetch entries', () => q.fetchEntries(this.read(consistency), ids.map((id, i) => checkEntryId(id, `ids[${i}]`))));
  }
  listEntries(req: ListEntriesRequest = {}): Promise<ListEntriesResponse> {
    return this.run('list entries', () => q.listEntries(this.read(req.consistency), req));
  }
  countEntries(filters: EntryFilters = {}): Promise<number> {
    return this.run('count entries', () => q.countEntries(this.db, filters));
  }
  updateEntry(entry: Partial<RegistrationEntry> & { id: string }, mask?: EntryMask, opts?: { expectedRevision?: number }): Promise<RegistrationEntry> {
    return this.run('update entry', () => entries.updateEntry(this.ctx, entry, mask, opts?.expectedRevision));
  }
  deleteEntry(id: string): Promise<RegistrationEntry> {
    return this.run('delete entry', () => entries.deleteEntry(this.ctx, id));
  }
  pruneEntries(expiresBefore: number): Promise<number> {
    return this.run('prune entries', () => entries.pruneEntries(this.ctx, expiresBefore));
  }
  listAuthorizedEntries(agentId: string, opts: AuthorizedEntriesOptions = {}): Promise<RegistrationEntry[]> {
    return this.run('list authorized entries', async () => {
      checkSpiffeId(agentId, 'agentId');
      const sql = this.read(opts.consistency);
      const selectors: Selector[] = opts.selectors
        ? checkSelectors(opts.selectors, 'selectors', { required: false })
        : await nodes.getNodeSelectors(sql, agentId);
      return q.listAuthorizedEntries(sql, this.db.dialect, agentId, selectors);
    });
  }

  createNode(node: NewNode): Promise<AttestedNode> {
    return this.run('create node', () => nodes.createNode(this.ctx, node));
  }
  fetchNode(spiffeId: string, opts: { fetchSelectors?: boolean; consistency?: Consistency } = {}): Promise<AttestedNode | null> {
    return this.run('fetch node', () => nodes.fetchNode(this.read(opts.consistency), spiffeId, opts.fetchSelectors === true));
  }
  fetchNodes(spiffeIds: string[], consistency?: Consistency): Promise<AttestedNode[]> {
    return this.run('fetch nodes', () => nodes.fetchNodes(this.read(consistency), spiffeIds));
  }
  listNodes(req: ListNodesRequest = {}): Promise<ListNodesResponse> {
    return this.run('list nodes', () => nodes.listNodes(this.read(req.consistency), req));
  }
  countNodes(filters: NodeFilters = {}): Promise<number> {
    return this.run('count nodes', () => nodes.countNodes(this.db, filters));
  }
  updateNode(node: Partial<AttestedNode> & { spiffeId: string }, mask?: NodeMask): Promise<AttestedNode> {
    return this.run('update node', () => nodes.updateNode(this.ctx, node, mask));
  }
  deleteNode(spiffeId: string): Promise<AttestedNode> {
    return this.run('delete node', () => nodes.deleteNode(this.ctx, spiffeId));
  }
  setNodeSelectors(spiffeId: string, selectors: Selector[]): Promise<void> {
    return this.run('set node selectors', () => nodes.setNodeSelectors(this.ctx, spiffeId, selectors));
  }
  getNodeSelectors(spiffeId: string, consistency?: Consistency): Promise<Selector[]> {
    return this.run('get node selectors', () => nodes.getNodeSelectors(this.read(consistency), spiffeId));
  }
  pruneNodes(expiredBefore: number, opts: PruneNodesOptions = {}): Promise<number> {
    return this.run('prune nodes', () => nodes.pruneNodes(this.ctx, expiredBefore, opts));
  }

  createJoinToken(token: JoinToken): Promise<JoinToken> {
    return this.run('create join token', () => tokens.createJoinToken(this.ctx, token));
  }
  fetchJoinToken(token: string): Promise<JoinToken | null> {
    return this.run('fetch join token', () => tokens.fetchJoinToken(this.db, token));
  }
  deleteJoinToken(token: string): Promise<void> {
    return this.run('delete join token', () => tokens.deleteJoinToken(this.ctx, token));
  }
  consumeJoinToken(token: string): Promise<JoinToken | null> {
    return this.run('consume join token', () => tokens.consumeJoinToken(this.ctx, token));
  }
  pruneJoinTokens(expiresBefore: number): Promise<number> {
    return this.run('prune join tokens', () => tokens.pruneJoinTokens(this.ctx, expiresBefore));
  }

  createBundle(bundle: NewBundle): Promise<Bundle> {
    return this.run('create bundle', () => bundles.createBundle(this.ctx, bundle));
  }
  fetchBundle(trustDomain: string): Promise<Bundle | null> {
    return this.run('fetch bundle', () => bundles.readBundle(this.db, normalizeTrustDomain(trustDomain, 'trustDomain')));
  }
  listBundles(pagination?: Pagination): Promise<ListBundlesResponse> {
    return this.run('list bundles', () => bundles.listBundles(this.db, pagination));
  }
  countBundles(): Promise<number> {
    return this.run('count bundles', () => bundles.countBundles(this.db));
  }
  updateBundle(bundle: NewBundle, mask?: BundleMask): Promise<Bundle> {
    return this.run('update bundle', () => bundles.updateBundle(this.ctx, bundle, mask));
  }
  appendBundle(bundle: NewBundle): Promise<Bundle> {
    return this.run('append bundle', () => bundles.appendBundle(this.ctx, bundle));
  }
  setBundle(bundle: NewBundle): Promise<Bundle> {
    return this.run('set bundle', () => bundles.setBundle(this.ctx, bundle));
  }
  deleteBundle(trustDomain: string, mode?: BundleDeleteMode): Promise<void> {
    return this.run('delete bundle', () => bundles.deleteBundle(this.ctx, trustDomain, mode));
  }
  pruneBundle(trustDomain: string, expiresBefore: number): Promise<boolean> {
    return this.run('prune bundle', () => bundles.pruneBundle(this.ctx, trustDomain, expiresBefore));
  }
  taintX509Authority(trustDomain: string, subjectKeyId: string): Promise<void> {
    return this.run('taint X.509 authority', () => bundles.taintX509Authority(this.ctx, trustDomain, subjectKeyId));
  }
  revokeX509Authority(trustDomain: string, subjectKeyId: string): Promise<void> {
    return this.run('revoke X.509 authority', () => bundles.revokeX509Authority(this.ctx, trustDomain, subjectKeyId));
  }
  taintJwtAuthority(trustDomain: string, keyId: string): Promise<JwtAuthority> {
    return this.run('taint JWT authority', () => bundles.taintJwtAuthority(this.ctx, trustDomain, keyId));
  }
  revokeJwtAuthority(trustDomain: string, keyId: string): Promise<JwtAuthority> {
    return this.run('revoke JWT authority', () => bundles.revokeJwtAuthority(this.ctx, trustDomain, keyId));
  }

  createFederationRelationship(fr: FederationRelationshipInput): Promise<FederationRelationship> {
    return this.run('create federation relationship', () => federation.createFederationRelationship(this.ctx, fr));
  }
  fetchFederationRelationship(trustDomain: string): Promise<FederationRelationship | null> {
    return this.run('fetch federation relationship', () => federation.fetchFederationRelationship(this.db, trustDomain));
  }
  listFederationRelationships(pagination?: Pagination): Promise<ListFederationRelationshipsResponse> {
    return this.run('list federation relationships', () => federation.listFederationRelationships(this.db, pagination));
  }
  updateFederationRelationship(fr: FederationRelationshipInput, mask?: FederationRelationshipMask): Promise<FederationRelationship> {
    return this.run('update federation relationship', () => federation.updateFederationRelationship(this.ctx, fr, mask));
  }
  deleteFederationRelationship(trustDomain: string): Promise<void> {
    return this.run('delete federation relationship', () => federation.deleteFederationRelationship(this.ctx, trustDomain));
  }

  setCAJournal(j: CAJournalInput): Promise<CAJournal> {
    return this.run('set CA journal', () => journal.setCAJournal(this.ctx, j));
  }
  fetchCAJournal(activeX509AuthorityId: string): Promise<CAJournal | null> {
    return this.run('fetch CA journal', () => journal.fetchCAJournal(this.db, activeX509AuthorityId));
  }
  fetchLatestCAJournal(): Promise<CAJournal | null> {
    return this.run('fetch latest CA journal', () => journal.fetchLatestCAJournal(this.db));
  }
  listCAJournals(): Promise<CAJournal[]> {
    return this.run('list CA journals', () => journal.listCAJournals(this.db));
  }
  deleteCAJournal(id: number): Promise<void> {
    return this.run('delete CA journal', () => journal.deleteCAJournal(this.ctx, id));
  }
  pruneCAJournals(allExpireBefore: number): Promise<number> {
    return this.run('prune CA journals', () => journal.pruneCAJournals(this.ctx, allExpireBefore));
  }

  listEntryEvents(req: ListEventsRequest = {}): Promise<EntryEvent[]> {
    return this.run('list entry events', () => events.listEntryEvents(this.read(req.consistency), req));
  }
  fetchEntryEvent(eventId: number): Promise<EntryEvent | null> {
    return this.run('fetch entry event', () => events.fetchEntryEvent(this.db, checkInt(eventId, 'eventId', 1, Number.MAX_SAFE_INTEGER)));
  }
  pruneEntryEvents(olderThan: number): Promise<number> {
    return this.run('prune entry events', () => events.pruneEvents(this.db, events.ENTRY_EVENTS, olderThan));
  }
  listNodeEvents(req: ListEventsRequest = {}): Promise<NodeEvent[]> {
    return this.run('list node events', () => events.listNodeEvents(this.read(req.consistency), req));
  }
  fetchNodeEvent(eventId: number): Promise<NodeEvent | null> {
    return this.run('fetch node event', () => events.fetchNodeEvent(this.db, checkInt(eventId, 'eventId', 1, Number.MAX_SAFE_INTEGER)));
  }
  pruneNodeEvents(olderThan: number): Promise<number> {
    return this.run('prune node events', () => events.pruneEvents(this.db, events.NODE_EVENTS, olderThan));
  }

  close(): Promise<void> {
    return this.run('close', () => this.db.close());
  }
}
