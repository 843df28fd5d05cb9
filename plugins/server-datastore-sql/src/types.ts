/**
 * The DataStore's data model and interface, independent of SQL and of
 * protobuf. Times are Unix seconds; trust domains are trust domain IDs
 * (`spiffe://example.org`; bare names are accepted on input and normalised).
 */

export interface Selector {
  type: string;
  value: string;
}

/**
 * How a selector (or trust domain) set in a filter matches the stored set:
 * `exact` = same set; `subset` = the stored set is a non-empty subset of the
 * filter; `superset` = the stored set contains the whole filter; `any` = the
 * sets intersect. These are SPIRE's MatchBehavior EXACT/SUBSET/SUPERSET/ANY.
 */
export type MatchBehavior = 'exact' | 'subset' | 'superset' | 'any';

export interface SelectorMatch {
  selectors: Selector[];
  match: MatchBehavior;
}

export interface FederatesWithMatch {
  trustDomains: string[];
  match: MatchBehavior;
}

/** Keyset pagination. `token` is opaque; an empty next token means "no more". */
export interface Pagination {
  pageSize: number;
  token?: string;
}

/** `stale` allows a read from `ro_connection_string` when one is configured. */
export type Consistency = 'current' | 'stale';

export interface EntryAttributes {
  disableX509SvidPrefetch: boolean;
  jwtSvidIncludeJti: boolean;
}

export interface RegistrationEntry {
  id: string;
  spiffeId: string;
  parentId: string;
  selectors: Selector[];
  x509SvidTtl: number;
  jwtSvidTtl: number;
  federatesWith: string[];
  admin: boolean;
  downstream: boolean;
  dnsNames: string[];
  /** Unix seconds; 0 = never. */
  expiresAt: number;
  hint: string;
  storeSvid: boolean;
  revisionNumber: number;
  createdAt: number;
  additionalAttributes?: EntryAttributes;
}

/** Input to create an entry: `id` is generated when absent. */
export type NewEntry = Pick<RegistrationEntry, 'spiffeId' | 'parentId' | 'selectors'> &
  Partial<Omit<RegistrationEntry, 'spiffeId' | 'parentId' | 'selectors' | 'revisionNumber' | 'createdAt'>>;

export type EntryField =
  | 'spiffeId' | 'parentId' | 'selectors' | 'x509SvidTtl' | 'jwtSvidTtl' | 'federatesWith' | 'admin'
  | 'downstream' | 'dnsNames' | 'expiresAt' | 'hint' | 'storeSvid' | 'additionalAttributes';

/** Which fields an update writes; absent mask = every field. */
export type EntryMask = Partial<Record<EntryField, boolean>>;

export interface EntryFilters {
  byParentId?: string;
  bySpiffeId?: string;
  bySelectors?: SelectorMatch;
  byFederatesWith?: FederatesWithMatch;
  byHint?: string;
  byDownstream?: boolean;
}

export interface ListEntriesRequest extends EntryFilters {
  pagination?: Pagination;
  consistency?: Consistency;
}

export interface ListEntriesResponse {
  entries: RegistrationEntry[];
  nextPageToken: string;
}

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
  /** As in SPIRE, a node is banned when its cert serial numbers are cleared. Derived, read-only. */
  banned: boolean;
  /** Present when selectors were asked for. */
  selectors?: Selector[];
}

export type NewNode = Pick<AttestedNode, 'spiffeId'> & Partial<Omit<AttestedNode, 'spiffeId' | 'banned'>>;

export type NodeField =
  | 'attestationDataType' | 'certSerialNumber' | 'certNotAfter' | 'newCertSerialNumber' | 'newCertNotAfter'
  | 'canReattest' | 'agentVersion';

export type NodeMask = Partial<Record<NodeField, boolean>>;

export interface NodeFilters {
  byAttestationType?: string;
  byBanned?: boolean;
  /** Nodes whose certificate expires strictly before this time. */
  byExpiresBefore?: number;
  bySelectorMatch?: SelectorMatch;
  byCanReattest?: boolean;
}

export interface ListNodesRequest extends NodeFilters {
  fetchSelectors?: boolean;
  pagination?: Pagination;
  consistency?: Consistency;
}

export interface ListNodesResponse {
  nodes: AttestedNode[];
  nextPageToken: string;
}

export interface PruneNodesOptions {
  /** Also prune nodes that cannot re-attest (default false, as SPIRE). */
  includeNonReattestable?: boolean;
  /** Upper bound on nodes deleted by one call (default 1000). */
  batchSize?: number;
}

export interface JoinToken {
  token: string;
  expiresAt: number;
}

export interface X509Authority {
  /** One DER certificate. */
  asn1: Uint8Array;
  tainted: boolean;
}

export interface JwtAuthority {
  keyId: string;
  /** PKIX (SubjectPublicKeyInfo) DER. */
  publicKey: Uint8Array;
  /** Unix seconds; 0 = no expiry. */
  expiresAt: number;
  tainted: boolean;
}

export interface Bundle {
  trustDomain: string;
  x509Authorities: X509Authority[];
  jwtAuthorities: JwtAuthority[];
  refreshHint: number;
  sequenceNumber: number;
}

export type NewBundle = Pick<Bundle, 'trustDomain'> & Partial<Omit<Bundle, 'trustDomain'>>;

export interface BundleMask {
  x509Authorities?: boolean;
  jwtAuthorities?: boolean;
  refreshHint?: boolean;
  sequenceNumber?: boolean;
}

/** SPIRE's bundle delete modes for bundles that entries federate with. */
export type BundleDeleteMode = 'restrict' | 'delete' | 'dissociate';

export interface ListBundlesResponse {
  bundles: Bundle[];
  nextPageToken: string;
}

export type BundleEndpointProfile =
  | { type: 'https_web' }
  | { type: 'https_spiffe'; endpointSpiffeId: string };

export interface FederationRelationship {
  trustDomain: string;
  bundleEndpointUrl: string;
  bundleEndpointProfile: BundleEndpointProfile;
  /** On input: set as the trust domain's bundle. On output: its current bundle, if any. */
  trustDomainBundle?: Bundle;
}

/** Input form: the bundle may be partial (defaults as in {@link NewBundle}). */
export type FederationRelationshipInput = Omit<FederationRelationship, 'trustDomainBundle'> & { trustDomainBundle?: NewBundle };

export interface FederationRelationshipMask {
  bundleEndpointUrl?: boolean;
  bundleEndpointProfile?: boolean;
  trustDomainBundle?: boolean;
}

export interface ListFederationRelationshipsResponse {
  relationships: FederationRelationship[];
  nextPageToken: string;
}

export interface CAJournal {
  /** 0 (or absent) on input creates a new journal. */
  id: number;
  data: Uint8Array;
  activeX509AuthorityId: string;
  activeJwtAuthorityId: string;
  /** The latest expiry (Unix seconds) of any authority in the journal; 0 = unknown, never pruned. */
  expiresAt: number;
}

export type CAJournalInput = Partial<Pick<CAJournal, 'id' | 'activeJwtAuthorityId' | 'expiresAt'>> &
  Pick<CAJournal, 'data' | 'activeX509AuthorityId'>;

export interface EntryEvent {
  eventId: number;
  entryId: string;
  createdAt: number;
}

export interface NodeEvent {
  eventId: number;
  spiffeId: string;
  createdAt: number;
}

export interface ListEventsRequest {
  /** Events with id strictly greater than this. */
  afterId?: number;
  /** Events with id strictly less than this. */
  beforeId?: number;
  limit?: number;
  consistency?: Consistency;
}

export interface AuthorizedEntriesOptions {
  /** The agent's selectors; when absent they are read from the stored node selectors. */
  selectors?: Selector[];
  consistency?: Consistency;
}

/**
 * Everything the server keeps. Errors are {@link DataStoreError}s with gRPC
 * codes: INVALID_ARGUMENT (nothing written), NOT_FOUND, ALREADY_EXISTS,
 * FAILED_PRECONDITION, ABORTED (revision conflict), UNAVAILABLE (database
 * unreachable), INTERNAL.
 */
export interface DataStore {
  // Registration entries
  /** Creates all entries or none. */
  createEntries(entries: NewEntry[]): Promise<RegistrationEntry[]>;
  createEntry(entry: NewEntry): Promise<RegistrationEntry>;
  fetchEntry(id: string, consistency?: Consistency): Promise<RegistrationEntry | null>;
  /** The entries that exist among `ids`, in `ids` order. */
  fetchEntries(ids: string[], consistency?: Consistency): Promise<RegistrationEntry[]>;
  listEntries(req?: ListEntriesRequest): Promise<ListEntriesResponse>;
  countEntries(filters?: EntryFilters): Promise<number>;
  /** `expectedRevision`, when given, must equal the stored revision (else ABORTED). */
  updateEntry(entry: Partial<RegistrationEntry> & { id: string }, mask?: EntryMask, opts?: { expectedRevision?: number }): Promise<RegistrationEntry>;
  deleteEntry(id: string): Promise<RegistrationEntry>;
  /** Deletes entries with 0 < expiresAt < `expiresBefore`; returns how many. */
  pruneEntries(expiresBefore: number): Promise<number>;
  /** Entries parented by the agent or by its node aliases, and their descendants. */
  listAuthorizedEntries(agentId: string, opts?: AuthorizedEntriesOptions): Promise<RegistrationEntry[]>;

  // Attested nodes
  createNode(node: NewNode): Promise<AttestedNode>;
  fetchNode(spiffeId: string, opts?: { fetchSelectors?: boolean; consistency?: Consistency }): Promise<AttestedNode | null>;
  fetchNodes(spiffeIds: string[], consistency?: Consistency): Promise<AttestedNode[]>;
  listNodes(req?: ListNodesRequest): Promise<ListNodesResponse>;
  countNodes(filters?: NodeFilters): Promise<number>;
  updateNode(node: Partial<AttestedNode> & { spiffeId: string }, mask?: NodeMask): Promise<AttestedNode>;
  deleteNode(spiffeId: string): Promise<AttestedNode>;
  setNodeSelectors(spiffeId: string, selectors: Selector[]): Promise<void>;
  getNodeSelectors(spiffeId: string, consistency?: Consistency): Promise<Selector[]>;
  pruneNodes(expiredBefore: number, opts?: PruneNodesOptions): Promise<number>;

  // Join tokens
  createJoinToken(token: JoinToken): Promise<JoinToken>;
  fetchJoinToken(token: string): Promise<JoinToken | null>;
  deleteJoinToken(token: string): Promise<void>;
  /** Fetches and deletes atomically: of concurrent callers exactly one gets the token. */
  consumeJoinToken(token: string): Promise<JoinToken | null>;
  pruneJoinTokens(expiresBefore: number): Promise<number>;

  // Bundles
  createBundle(bundle: NewBundle): Promise<Bundle>;
  fetchBundle(trustDomain: string): Promise<Bundle | null>;
  listBundles(pagination?: Pagination): Promise<ListBundlesResponse>;
  countBundles(): Promise<number>;
  updateBundle(bundle: NewBundle, mask?: BundleMask): Promise<Bundle>;
  /** Adds authorities not yet present (creating the bundle if needed); bumps the sequence number on change. */
  appendBundle(bundle: NewBundle): Promise<Bundle>;
  /** Creates or replaces. */
  setBundle(bundle: NewBundle): Promise<Bundle>;
  deleteBundle(trustDomain: string, mode?: BundleDeleteMode): Promise<void>;
  /** Drops X.509 and JWT authorities expired at `expiresBefore`; returns whether the bundle changed. */
  pruneBundle(trustDomain: string, expiresBefore: number): Promise<boolean>;
  taintX509Authority(trustDomain: string, subjectKeyId: string): Promise<void>;
  revokeX509Authority(trustDomain: string, subjectKeyId: string): Promise<void>;
  taintJwtAuthority(trustDomain: string, keyId: string): Promise<JwtAuthority>;
  revokeJwtAuthority(trustDomain: string, keyId: string): Promise<JwtAuthority>;

  // Federation relationships
  createFederationRelationship(fr: FederationRelationshipInput): Promise<FederationRelationship>;
  fetchFederationRelationship(trustDomain: string): Promise<FederationRelationship | null>;
  listFederationRelationships(pagination?: Pagination): Promise<ListFederationRelationshipsResponse>;
  updateFederationRelationship(fr: FederationRelationshipInput, mask?: FederationRelationshipMask): Promise<FederationRelationship>;
  deleteFederationRelationship(trustDomain: string): Promise<void>;

  // CA journal
  setCAJournal(journal: CAJournalInput): Promise<CAJournal>;
  fetchCAJournal(activeX509AuthorityId: string): Promise<CAJournal | null>;
  fetchLatestCAJournal(): Promise<CAJournal | null>;
  listCAJournals(): Promise<CAJournal[]>;
  deleteCAJournal(id: number): Promise<void>;
  /** Deletes journals whose every authority expired before the given time (expiresAt != 0). */
  pruneCAJournals(allExpireBefore: number): Promise<number>;

  // Change events
  listEntryEvents(req?: ListEventsRequest): Promise<EntryEvent[]>;
  fetchEntryEvent(eventId: number): Promise<EntryEvent | null>;
  pruneEntryEvents(olderThan: number): Promise<number>;
  listNodeEvents(req?: ListEventsRequest): Promise<NodeEvent[]>;
  fetchNodeEvent(eventId: number): Promise<NodeEvent | null>;
  pruneNodeEvents(olderThan: number): Promise<number>;

  close(): Promise<void>;
}
