/**
 * The DataStore gRPC service over a {@link DataStore}: every request decoded
 * with the convert modules, every failure returned with its DataStoreError
 * code and message. Requests are hostile: submessages the call needs are
 * checked here, everything else by the store's own validation.
 */
import type { PluginError, ServiceImpl } from '@spire-ts/plugin-sdk';
import { invalidArgument } from '../errors.js';
import type { DataStore, ListEventsRequest } from '../types.js';
import {
  consistencyFromProto, entryFiltersFromProto, entryFromProto, entryMaskFromProto, entryToProto, newEntryFromProto, newNodeFromProto,
  nodeFiltersFromProto, nodeFromProto, nodeMaskFromProto, nodeToProto, paginationFromProto, selectorsFromProto, selectorsToProto,
} from './convert.js';
import {
  bundleFromProto, bundleMaskFromProto, bundleToProto, deleteModeFromProto, entryEventToProto, joinTokenFromProto, joinTokenToProto,
  journalFromProto, journalToProto, jwtAuthorityToProto, nodeEventToProto, relationshipFromProto, relationshipMaskFromProto,
  relationshipToProto,
} from './convert-bundles.js';
import type { DecodedRelationship } from './convert-bundles.js';
import { toPluginError } from './errors.js';
import { TEST_NOW_METADATA } from './service.js';
import type { DataStoreService } from './service.js';

type Metadata = NonNullable<PluginError['metadata']>;

export interface HandlerDeps {
  /**
   * Runs `fn` with the configured store (FAILED_PRECONDITION "not configured"
   * before Configure); `now`, when set, is the clock for this call.
   */
  use<T>(fn: (ds: DataStore) => Promise<T>, now: number | undefined): Promise<T>;
  /** Whether {@link TEST_NOW_METADATA} is honoured (tests only). */
  testClock: boolean;
}

function required<T>(v: T | null | undefined, field: string): T {
  if (v === null || v === undefined) throw invalidArgument(`${field}: is required`);
  return v;
}

function testNow(md: Metadata): number | undefined {
  const raw = md.get(TEST_NOW_METADATA)[0];
  if (typeof raw !== 'string' || !/^[0-9]{1,15}$/.test(raw)) return undefined;
  return Number(raw);
}

/** A relationship's profile must be given unless the mask leaves it out. */
function relationshipInput(r: DecodedRelationship, profileNeeded: boolean): Parameters<DataStore['createFederationRelationship']>[0] {
  const { bundleEndpointProfile, ...rest } = r;
  if (bundleEndpointProfile) return { ...rest, bundleEndpointProfile };
  if (profileNeeded) throw invalidArgument('federation_relationship.bundle_endpoint_profile: is required');
  return { ...rest, bundleEndpointProfile: { type: 'https_web' } };
}

function eventsRequest(req: { after_id: number; before_id: number; limit: number; consistency: Parameters<typeof consistencyFromProto>[0] }): ListEventsRequest {
  const out: ListEventsRequest = { consistency: consistencyFromProto(req.consistency) };
  if (req.after_id !== 0) out.afterId = req.after_id;
  if (req.before_id !== 0) out.beforeId = req.before_id;
  if (req.limit !== 0) out.limit = req.limit;
  return out;
}

/** The handler map for `serve()`. */
export function datastoreHandlers(deps: HandlerDeps): ServiceImpl<DataStoreService> {
  const rpc = <Req, Res>(fn: (req: Req, ds: DataStore) => Promise<Res>) =>
    async (req: Req, call: { metadata: Metadata }): Promise<Res> => {
      try {
        return await deps.use((ds) => fn(req, ds), deps.testClock ? testNow(call.metadata) : undefined);
      } catch (err) {
        throw toPluginError(err, call.metadata);
      }
    };
  const pagination = paginationFromProto;
  return {
    // Registration entries
    CreateEntries: rpc(async (req, ds) => ({ entries: (await ds.createEntries(req.entries.map(newEntryFromProto))).map((e) => entryToProto(e)) })),
    FetchEntry: rpc(async (req, ds) => {
      const e = await ds.fetchEntry(req.id, consistencyFromProto(req.consistency));
      return { entry: e ? entryToProto(e) : null };
    }),
    FetchEntries: rpc(async (req, ds) => ({ entries: (await ds.fetchEntries(req.ids, consistencyFromProto(req.consistency))).map((e) => entryToProto(e)) })),
    ListEntries: rpc(async (req, ds) => {
      const p = pagination(req.pagination);
      const res = await ds.listEntries({ ...entryFiltersFromProto(req.filters), ...(p ? { pagination: p } : {}), consistency: consistencyFromProto(req.consistency) });
      return { entries: res.entries.map((e) => entryToProto(e)), next_page_token: res.nextPageToken };
    }),
    CountEntries: rpc(async (req, ds) => ({ count: await ds.countEntries(entryFiltersFromProto(req.filters)) })),
    UpdateEntry: rpc(async (req, ds) => {
      const entry = entryFromProto(required(req.entry, 'entry'));
      const opts = req.expected_revision !== undefined ? { expectedRevision: req.expected_revision } : undefined;
      return { entry: entryToProto(await ds.updateEntry(entry, entryMaskFromProto(req.mask), opts)) };
    }),
    DeleteEntry: rpc(async (req, ds) => ({ entry: entryToProto(await ds.deleteEntry(req.id)) })),
    PruneEntries: rpc(async (req, ds) => ({ pruned: await ds.pruneEntries(req.expires_before) })),
    ListAuthorizedEntries: rpc(async (req, ds) => {
      const opts = { consistency: consistencyFromProto(req.consistency), ...(req.use_selectors ? { selectors: selectorsFromProto(req.selectors) } : {}) };
      return { entries: (await ds.listAuthorizedEntries(req.agent_id, opts)).map((e) => entryToProto(e)) };
    }),

    // Attested nodes
    CreateNode: rpc(async (req, ds) => ({ node: nodeToProto(await ds.createNode(newNodeFromProto(required(req.node, 'node')))) })),
    FetchNode: rpc(async (req, ds) => {
      const n = await ds.fetchNode(req.spiffe_id, { fetchSelectors: req.fetch_selectors, consistency: consistencyFromProto(req.consistency) });
      return { node: n ? nodeToProto(n) : null };
    }),
    FetchNodes: rpc(async (req, ds) => ({ nodes: (await ds.fetchNodes(req.spiffe_ids, consistencyFromProto(req.consistency))).map((n) => nodeToProto(n)) })),
    ListNodes: rpc(async (req, ds) => {
      const p = pagination(req.pagination);
      const res = await ds.listNodes({
        ...nodeFiltersFromProto(req.filters), fetchSelectors: req.fetch_selectors, ...(p ? { pagination: p } : {}), consistency: consistencyFromProto(req.consistency),
      });
      return { nodes: res.nodes.map((n) => nodeToProto(n)), next_page_token: res.nextPageToken };
    }),
    CountNodes: rpc(async (req, ds) => ({ count: await ds.countNodes(nodeFiltersFromProto(req.filters)) })),
    UpdateNode: rpc(async (req, ds) => ({ node: nodeToProto(await ds.updateNode(nodeFromProto(required(req.node, 'node'), false), nodeMaskFromProto(req.mask))) })),
    DeleteNode: rpc(async (req, ds) => ({ node: nodeToProto(await ds.deleteNode(req.spiffe_id)) })),
    SetNodeSelectors: rpc(async (req, ds) => {
      await ds.setNodeSelectors(req.spiffe_id, selectorsFromProto(req.selectors));
      return {};
    }),
    GetNodeSelectors: rpc(async (req, ds) => ({ selectors: selectorsToProto(await ds.getNodeSelectors(req.spiffe_id, consistencyFromProto(req.consistency))) })),
    PruneNodes: rpc(async (req, ds) => ({
      pruned: await ds.pruneNodes(req.expired_before, { includeNonReattestable: req.include_non_reattestable, ...(req.batch_size !== 0 ? { batchSize: req.batch_size } : {}) }),
    })),

    // Join tokens
    CreateJoinToken: rpc(async (req, ds) => ({ join_token: joinTokenToProto(await ds.createJoinToken(joinTokenFromProto(required(req.join_token, 'join_token')))) })),
    FetchJoinToken: rpc(async (req, ds) => {
      const t = await ds.fetchJoinToken(req.token);
      return { join_token: t ? joinTokenToProto(t) : null };
    }),
    DeleteJoinToken: rpc(async (req, ds) => {
      await ds.deleteJoinToken(req.token);
      return {};
    }),
    ConsumeJoinToken: rpc(async (req, ds) => {
      const t = await ds.consumeJoinToken(req.token);
      return { join_token: t ? joinTokenToProto(t) : null };
    }),
    PruneJoinTokens: rpc(async (req, ds) => ({ pruned: await ds.pruneJoinTokens(req.expires_before) })),

    // Bundles
    CreateBundle: rpc(async (req, ds) => ({ bundle: bundleToProto(await ds.createBundle(bundleFromProto(required(req.bundle, 'bundle')))) })),
    FetchBundle: rpc(async (req, ds) => {
      const b = await ds.fetchBundle(req.trust_domain);
      return { bundle: b ? bundleToProto(b) : null };
    }),
    ListBundles: rpc(async (req, ds) => {
      const res = await ds.listBundles(pagination(req.pagination));
      return { bundles: res.bundles.map((b) => bundleToProto(b)), next_page_token: res.nextPageToken };
    }),
    CountBundles: rpc(async (_req, ds) => ({ count: await ds.countBundles() })),
    UpdateBundle: rpc(async (req, ds) => ({ bundle: bundleToProto(await ds.updateBundle(bundleFromProto(required(req.bundle, 'bundle')), bundleMaskFromProto(req.mask))) })),
    AppendBundle: rpc(async (req, ds) => ({ bundle: bundleToProto(await ds.appendBundle(bundleFromProto(required(req.bundle, 'bundle')))) })),
    SetBundle: rpc(async (req, ds) => ({ bundle: bundleToProto(await ds.setBundle(bundleFromProto(required(req.bundle, 'bundle')))) })),
    DeleteBundle: rpc(async (req, ds) => {
      await ds.deleteBundle(req.trust_domain, deleteModeFromProto(req.mode));
      return {};
    }),
    PruneBundle: rpc(async (req, ds) => ({ changed: await ds.pruneBundle(req.trust_domain, req.expires_before) })),
    TaintX509Authority: rpc(async (req, ds) => {
      await ds.taintX509Authority(req.trust_domain, req.subject_key_id);
      return {};
    }),
    RevokeX509Authority: rpc(async (req, ds) => {
      await ds.revokeX509Authority(req.trust_domain, req.subject_key_id);
      return {};
    }),
    TaintJWTAuthority: rpc(async (req, ds) => ({ jwt_authority: jwtAuthorityToProto(await ds.taintJwtAuthority(req.trust_domain, req.key_id)) })),
    RevokeJWTAuthority: rpc(async (req, ds) => ({ jwt_authority: jwtAuthorityToProto(await ds.revokeJwtAuthority(req.trust_domain, req.key_id)) })),

    // Federation relationships
    CreateFederationRelationship: rpc(async (req, ds) => {
      const fr = relationshipInput(relationshipFromProto(required(req.federation_relationship, 'federation_relationship')), true);
      return { federation_relationship: relationshipToProto(await ds.createFederationRelationship(fr)) };
    }),
    FetchFederationRelationship: rpc(async (req, ds) => {
      const fr = await ds.fetchFederationRelationship(req.trust_domain);
      return { federation_relationship: fr ? relationshipToProto(fr) : null };
    }),
    ListFederationRelationships: rpc(async (req, ds) => {
      const res = await ds.listFederationRelationships(pagination(req.pagination));
      return { federation_relationships: res.relationships.map(relationshipToProto), next_page_token: res.nextPageToken };
    }),
    UpdateFederationRelationship: rpc(async (req, ds) => {
      const mask = relationshipMaskFromProto(req.mask);
      const fr = relationshipInput(relationshipFromProto(required(req.federation_relationship, 'federation_relationship')), !mask || mask.bundleEndpointProfile === true);
      return { federation_relationship: relationshipToProto(await ds.updateFederationRelationship(fr, mask)) };
    }),
    DeleteFederationRelationship: rpc(async (req, ds) => {
      await ds.deleteFederationRelationship(req.trust_domain);
      return {};
    }),

    // CA journal
    SetCAJournal: rpc(async (req, ds) => ({ ca_journal: journalToProto(await ds.setCAJournal(journalFromProto(required(req.ca_journal, 'ca_journal')))) })),
    FetchCAJournal: rpc(async (req, ds) => {
      const j = await ds.fetchCAJournal(req.active_x509_authority_id);
      return { ca_journal: j ? journalToProto(j) : null };
    }),
    FetchLatestCAJournal: rpc(async (_req, ds) => {
      const j = await ds.fetchLatestCAJournal();
      return { ca_journal: j ? journalToProto(j) : null };
    }),
    ListCAJournals: rpc(async (_req, ds) => ({ ca_journals: (await ds.listCAJournals()).map(journalToProto) })),
    DeleteCAJournal: rpc(async (req, ds) => {
      await ds.deleteCAJournal(req.id);
      return {};
    }),
    PruneCAJournals: rpc(async (req, ds) => ({ pruned: await ds.pruneCAJournals(req.all_expire_before) })),

    // Change events
    ListEntryEvents: rpc(async (req, ds) => ({ events: (await ds.listEntryEvents(eventsRequest(req))).map(entryEventToProto) })),
    FetchEntryEvent: rpc(async (req, ds) => {
      const e = await ds.fetchEntryEvent(req.event_id);
      return { event: e ? entryEventToProto(e) : null };
    }),
    PruneEntryEvents: rpc(async (req, ds) => ({ pruned: await ds.pruneEntryEvents(req.older_than) })),
    ListNodeEvents: rpc(async (req, ds) => ({ events: (await ds.listNodeEvents(eventsRequest(req))).map(nodeEventToProto) })),
    FetchNodeEvent: rpc(async (req, ds) => {
      const e = await ds.fetchNodeEvent(req.event_id);
      return { event: e ? nodeEventToProto(e) : null };
    }),
    PruneNodeEvents: rpc(async (req, ds) => ({ pruned: await ds.pruneNodeEvents(req.older_than) })),
  };
}
