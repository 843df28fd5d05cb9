/**
 * `@spire-ts/server-datastore-sql/wire`: what a host-side DataStore client
 * needs to speak the plugin's gRPC service — the model types, the message
 * conversions and the error mapping — without loading any database driver.
 */
export { DATASTORE_SERVICE, TEST_CLOCK_ENV, TEST_NOW_METADATA } from './service.js';
export type { DataStoreService } from './service.js';
export { ERROR_DETAILS_TRAILER, fromGrpcError, toPluginError } from './errors.js';
export type { GrpcFailure } from './errors.js';
export {
  bytes, consistencyFromProto, consistencyToProto, entryFiltersFromProto, entryFiltersToProto, entryFromProto, entryMaskFromProto,
  entryMaskToProto, entryToProto, int32, int64, matchFromProto, matchToProto, newEntryFromProto, newNodeFromProto, nodeFiltersFromProto,
  nodeFiltersToProto, nodeFromProto, nodeMaskFromProto, nodeMaskToProto, nodeToProto, paginationFromProto, paginationToProto,
  selectorMatchFromProto, selectorMatchToProto, selectorsFromProto, selectorsToProto, uint64,
} from './convert.js';
export {
  bundleFromProto, bundleMaskFromProto, bundleMaskToProto, bundleToProto, deleteModeFromProto, deleteModeToProto, entryEventFromProto,
  entryEventToProto, joinTokenFromProto, joinTokenToProto, journalFromProto, journalToProto, jwtAuthorityFromProto, jwtAuthorityToProto,
  nodeEventFromProto, nodeEventToProto, relationshipFromProto, relationshipMaskFromProto, relationshipMaskToProto, relationshipToProto,
} from './convert-bundles.js';
export type { DecodedRelationship } from './convert-bundles.js';
export { DataStoreError, Code, hasCode } from '../errors.js';
export type { CodeName, CodeValue, ErrorDetails } from '../errors.js';
export type {
  AttestedNode, AuthorizedEntriesOptions, Bundle, BundleDeleteMode, BundleEndpointProfile, BundleMask, CAJournal, CAJournalInput,
  Consistency, DataStore, EntryAttributes, EntryEvent, EntryField, EntryFilters, EntryMask, FederatesWithMatch, FederationRelationship,
  FederationRelationshipInput, FederationRelationshipMask, JoinToken, JwtAuthority, ListBundlesResponse, ListEntriesRequest, ListEntriesResponse,
  ListEventsRequest, ListFederationRelationshipsResponse, ListNodesRequest, ListNodesResponse, MatchBehavior, NewBundle, NewEntry, NewNode,
  NodeEvent, NodeField, NodeFilters, NodeMask, Pagination, PruneNodesOptions, RegistrationEntry, Selector, SelectorMatch, X509Authority,
} from '../types.js';
