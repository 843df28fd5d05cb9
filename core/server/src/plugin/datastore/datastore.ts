/**
 * The DataStore as the server core needs it first (STYLE §8: the consumer
 * declares the narrow interface): the CA journal, the bundles, registration
 * entries, attested nodes, join tokens and change events. Core types only:
 * camelCase, Unix seconds, DER as Uint8Array, bare trust domain names.
 * `v1.ts` adapts it over the DataStore plugin service.
 */
import type { Bundle } from '@spire-ts/common';

/** A stored CA journal (opaque bytes keyed by the active authorities). */
export interface CAJournalRecord {
  /** > 0 once stored. */
  id: number;
  data: Uint8Array;
  /** The active X.509 CA's subject key id, lowercase hex ('' before activation). */
  activeX509AuthorityId: string;
  /** The active JWT key's kid ('' before activation). */
  activeJwtAuthorityId: string;
  /** Unix seconds: the latest expiry of any authority in the journal; 0 = unknown. */
  expiresAt: number;
}

/** `id` 0 (or absent) creates a journal; otherwise replaces that one. */
export type CAJournalInput = Omit<CAJournalRecord, 'id'> & { id?: number };

export interface Selector {
  type: string;
  value: string;
}

export interface RegistrationEntry {
  id: string;
  spiffeId: string;
  parentId: string;
  selectors: Selector[];
  /** Seconds; 0 = the server default. */
  x509SvidTtl: number;
  jwtSvidTtl: number;
  federatesWith: string[];
  admin: boolean;
  downstream: boolean;
  /** Unix seconds; 0 = never. */
  expiresAt: number;
  dnsNames: string[];
  revisionNumber: number;
  storeSvid: boolean;
  hint: string;
  /** Unix seconds. */
  createdAt: number;
  /** SPIRE's `additional_attributes`; absent = both false. */
  additionalAttributes?: EntryAttributes;
}

export interface EntryAttributes {
  disableX509SvidPrefetch: boolean;
  jwtSvidIncludeJti: boolean;
}

/** SPIRE's MatchBehavior: EXACT (same set), SUBSET (stored ⊆ given), SUPERSET (stored ⊇ given), ANY (any in common). */
export type MatchBehavior = 'EXACT' | 'SUBSET' | 'SUPERSET' | 'ANY';

export interface EntryFilters {
  byParentId?: string;
  bySpiffeId?: string;
  bySelectors?: { selectors: Selector[]; match: MatchBehavior };
  byFederatesWith?: { trustDomains: string[]; match: MatchBehavior };
  byHint?: string;
  byDownstream?: boolean;
}

export interface NodeFilters {
  byAttestationType?: string;
  byBanned?: boolean;
  /** Unix seconds: the current certificate expires strictly before. */
  byExpiresBefore?: number;
  bySelectorMatch?: { selectors: Selector[]; match: MatchBehavior };
  byCanReattest?: boolean;
}

/** What happens to entries federating with a deleted bundle (SPIRE's BundleDeleteMode). */
export type BundleDeleteMode = 'RESTRICT' | 'DELETE' | 'DISSOCIATE';

/** What a caller gives to create an entry (the store fills in the rest). */
export type NewEntry = Pick<RegistrationEntry, 'spiffeId' | 'parentId' | 'selectors'> &
  Partial<Omit<RegistrationEntry, 'spiffeId' | 'parentId' | 'selectors' | 'revisionNumber' | 'createdAt'>>;

export interface AttestedNode {
  spiffeId: string;
  attestationDataType: string;
  certSerialNumber: string;
  /** Unix seconds. */
  certNotAfter: number;
  newCertSerialNumber: string;
  newCertNotAfter: number;
  canReattest: boolean;
  agentVersion: string;
  /** Read-only: no current certificate serial. */
  banned: boolean;
  /** Present when asked for (fetch with selectors, or given on create). */
  selectors?: Selector[];
}

export type NewNode = Omit<AttestedNode, 'banned'>;

export interface JoinToken {
  token: string;
  /** Unix seconds. */
  expiresAt: number;
}

export interface ChangeEvent {
  eventId: number;
  /** The entry id (entry events) or the agent SPIFFE ID (node events). */
  subject: string;
  /** Unix seconds. */
  createdAt: number;
}

export interface Page<T> {
  items: T[];
  /** '' ends the listing. */
  nextPageToken: string;
}

/** How a federated trust domain's bundle endpoint is authenticated. */
export type BundleEndpointProfile = { type: 'https_web' } | { type: 'https_spiffe'; endpointSpiffeId: string };

/** A federation relationship with another trust domain (SPIRE's datastore.FederationRelationship). */
export interface FederationRelationship {
  /** Bare trust domain name. */
  trustDomain: string;
  /** An https URL. */
  bundleEndpointUrl: string;
  bundleEndpointProfile: BundleEndpointProfile;
  /** On input: stored as the trust domain's bundle. On output: its current bundle, if any. */
  trustDomainBundle?: Bundle;
}

/** Which fields of a relationship an update writes (all when omitted). */
export interface FederationRelationshipMask {
  bundleEndpointUrl: boolean;
  bundleEndpointProfile: boolean;
  trustDomainBundle: boolean;
}

/**
 * The server's DataStore. Failures carry gRPC codes (NOT_FOUND,
 * ALREADY_EXISTS, ABORTED for a revision conflict, …); fetches answer
 * `undefined` when there is nothing.
 */
export interface DataStore {
  // CA journal
  setCAJournal(journal: CAJournalInput): Promise<CAJournalRecord>;
  fetchLatestCAJournal(): Promise<CAJournalRecord | undefined>;
  /** Deletes journals all of whose authorities expired before `allExpireBefore` (Unix seconds); returns how many. */
  pruneCAJournals(allExpireBefore: number): Promise<number>;

  // Bundles
  fetchBundle(trustDomain: string): Promise<Bundle | undefined>;
  /** Creates or replaces. */
  setBundle(bundle: Bundle): Promise<Bundle>;
  /** Adds the authorities the stored bundle lacks (creating it if needed). */
  appendBundle(bundle: Bundle): Promise<Bundle>;
  /** ALREADY_EXISTS when the trust domain has one. */
  createBundle(bundle: Bundle): Promise<Bundle>;
  /** Replaces an existing bundle (NOT_FOUND when absent). */
  updateBundle(bundle: Bundle): Promise<Bundle>;
  listBundles(page: { pageSize: number; pageToken?: string }): Promise<Page<Bundle>>;
  countBundles(): Promise<number>;
  /** NOT_FOUND when absent; with RESTRICT, FAILED_PRECONDITION while entries federate with it. */
  deleteBundle(trustDomain: string, mode: BundleDeleteMode): Promise<void>;
  /** Drops authorities that expired before `expiresBefore` (Unix seconds); true if the bundle changed. */
  pruneBundle(trustDomain: string, expiresBefore: number): Promise<boolean>;

  // Federation relationships
  /** ALREADY_EXISTS when the trust domain has one; a `trustDomainBundle` replaces the stored bundle. */
  createFederationRelationship(fr: FederationRelationship): Promise<FederationRelationship>;
  fetchFederationRelationship(trustDomain: string): Promise<FederationRelationship | undefined>;
  listFederationRelationships(page: { pageSize: number; pageToken?: string }): Promise<Page<FederationRelationship>>;
  /** NOT_FOUND when absent. */
  updateFederationRelationship(fr: FederationRelationship, mask?: FederationRelationshipMask): Promise<FederationRelationship>;
  /** NOT_FOUND when absent. */
  deleteFederationRelationship(trustDomain: string): Promise<void>;

  // Registration entries
  createEntry(entry: NewEntry): Promise<RegistrationEntry>;
  /**
   * Creates all of `entries` or none (one write), answering them in request
   * order. ALREADY_EXISTS when one is similar (same parent ID, SPIFFE ID and
   * selector set) to a stored entry or to another one of the list, or reuses
   * a taken id.
   */
  createEntries(entries: readonly NewEntry[]): Promise<RegistrationEntry[]>;
  fetchEntry(id: string): Promise<RegistrationEntry | undefined>;
  listEntries(page: { pageSize: number; pageToken?: string }, filters?: EntryFilters): Promise<Page<RegistrationEntry>>;
  countEntries(filters?: EntryFilters): Promise<number>;
  /** The entries that exist among `ids` (absent ids are omitted). */
  fetchEntries(ids: readonly string[]): Promise<RegistrationEntry[]>;
  /** Deletes entries that expired before `expiresBefore` (Unix seconds); returns how many. */
  pruneEntries(expiresBefore: number): Promise<number>;
  /** Replaces every field; with `expectedRevision` and a different stored revision: ABORTED. */
  updateEntry(entry: RegistrationEntry, opts?: { expectedRevision?: number }): Promise<RegistrationEntry>;
  deleteEntry(id: string): Promise<RegistrationEntry>;

  // Attested nodes
  createNode(node: NewNode): Promise<AttestedNode>;
  fetchNode(spiffeId: string, opts?: { selectors?: boolean }): Promise<AttestedNode | undefined>;
  /** Replaces every field but the selectors. */
  updateNode(node: Omit<AttestedNode, 'banned' | 'selectors'>): Promise<AttestedNode>;
  deleteNode(spiffeId: string): Promise<AttestedNode>;
  listNodes(page: { pageSize: number; pageToken?: string }, filters?: NodeFilters, opts?: { selectors?: boolean }): Promise<Page<AttestedNode>>;
  countNodes(filters?: NodeFilters): Promise<number>;
  /** With selectors; absent ids are omitted. */
  fetchNodes(spiffeIds: readonly string[]): Promise<AttestedNode[]>;
  setNodeSelectors(spiffeId: string, selectors: readonly Selector[]): Promise<void>;
  getNodeSelectors(spiffeId: string): Promise<Selector[]>;

  // Join tokens
  createJoinToken(token: JoinToken): Promise<JoinToken>;
  /** Fetches and deletes atomically; `undefined` when absent or already consumed. Expiry is the caller's check. */
  consumeJoinToken(token: string): Promise<JoinToken | undefined>;
  fetchJoinToken(token: string): Promise<JoinToken | undefined>;
  /** Deletes tokens that expired before `expiresBefore` (Unix seconds); returns how many. */
  pruneJoinTokens(expiresBefore: number): Promise<number>;

  // Change events
  listEntryEvents(afterId: number, limit?: number): Promise<ChangeEvent[]>;
  listNodeEvents(afterId: number, limit?: number): Promise<ChangeEvent[]>;
}
