/**
 * @spire-ts/server: spire-server. For now its configuration pipeline
 * (parseFile → parseFlags → mergeConfig → validateConfig → toRuntimeConfig),
 * validate-only plugin loading and the `run` / `validate` commands.
 *
 * @module
 */
export { parseFile, expandConfigEnv } from './config/file.js';
export type { FileResult, ParseFileOptions } from './config/file.js';
export { parseFlags, flagsUsage, SERVER_FLAGS, DEFAULT_CONFIG_PATH } from './config/flags.js';
export type { FlagValues, FlagSpec, FlagsResult } from './config/flags.js';
export { mergeConfig, SERVER_DEFAULTS, DEFAULT_SOCKET_PATH, FLAG_KEYS } from './config/merge.js';
export type { MergedConfig, MergedServer, Origin } from './config/merge.js';
export { validateConfig, maxSvidTtlFor, minCaTtlFor, shortDuration, MAX_SVID_TTL_MS } from './config/validate.js';
export type { Validation, ValidateOptions } from './config/validate.js';
export { toRuntimeConfig, DEFAULT_ACME_DIRECTORY } from './config/runtime.js';
export type { RuntimeConfig, AcmeConfig, BundleEndpointProfile, FederatedProfile } from './config/runtime.js';
export { loadConfig, byPosition } from './config/load.js';
export type { LoadIO, LoadResult } from './config/load.js';
export { PositionIndex } from './config/positions.js';
export type { KeyPlace } from './config/positions.js';
export { serverFileSchema, serverSchema, healthChecksSchema, telemetrySchema, FEATURE_FLAGS, PROFILING_NAMES } from './config/schema.js';
export type { FileConfig, ServerFileConfig, HealthChecksConfig } from './config/schema.js';
export {
  checkTrustDomain,
  checkSpiffeId,
  checkLogLevel,
  checkLogFormat,
  checkKeyType,
  checkCidr,
  checkHttpsUrl,
  parseLogLevel,
  parseLogFormat,
  parseKeyType,
  KEY_TYPES,
  MAX_TRUST_DOMAIN_LENGTH,
} from './config/values.js';
export type { KeyType } from './config/values.js';
export { validatePlugins } from './catalog/validate.js';
export type { PluginValidation, ValidatePluginsOptions } from './catalog/validate.js';
export { main, runCommand, validateCommand, NOT_BUILT_YET, EXIT_NO_COMMAND } from './cli/commands.js';
export type { CliIO } from './cli/commands.js';
export { KeyManagerV1 } from './plugin/keymanager/v1.js';
export type { Key, KeyManager, KeyType as KeyManagerKeyType, HashAlgorithm, SignOptions } from './plugin/keymanager/keymanager.js';
export {
  ServerCA,
  DEFAULT_X509_SVID_TTL_MS,
  DEFAULT_JWT_SVID_TTL_MS,
  systemClock,
  nextAction,
  preparationThreshold,
  activationThreshold,
  isPrunable,
  PREPARATION_THRESHOLD_CAP_MS,
  PREPARATION_THRESHOLD_DIVISOR,
  ACTIVATION_THRESHOLD_CAP_MS,
  ACTIVATION_THRESHOLD_DIVISOR,
  BUNDLE_PRUNE_GRACE_MS,
  ROTATE_INTERVAL_MS,
  startRotationLoop,
  certificateSigner,
  jwtAlgorithmFor,
  jwtSigner,
  CAManager,
  DEFAULT_CA_TTL_MS,
  loadJournal,
  encodeJournal,
  JournalError,
  JOURNAL_VERSION,
  x509CAKeyId,
  jwtKeyId,
  otherSlot,
  SLOT_IDS,
} from './ca/index.js';
export type {
  ServerCAConfig,
  X509CA,
  JwtKey,
  X509SvidRequest,
  IssuedX509Svid,
  JwtSvidRequest,
  IssuedJwtSvid,
  Clock,
  AuthorityKind,
  SlotStatus,
  SlotTimes,
  KindState,
  RotationState,
  RotationAction,
  Rotatable,
  Timers,
  RotationLoopOptions,
  CAManagerConfig,
  SlotView,
  Journal,
  X509CAJournalEntry,
  JwtKeyJournalEntry,
  JournalBundle,
  SlotId,
  X509CASlot,
  JwtKeySlot,
} from './ca/index.js';
export { DataStoreV1 } from './plugin/datastore/v1.js';
export type {
  DataStore,
  CAJournalRecord,
  CAJournalInput,
  RegistrationEntry,
  NewEntry,
  AttestedNode,
  NewNode,
  JoinToken,
  ChangeEvent,
  Page,
  Selector as DataStoreSelector,
} from './plugin/datastore/datastore.js';
export { CAJournalStore, createPersistentCAManager, journalKeys } from './ca/persistence.js';
export type { CAJournalDataStore, CAJournalStoreConfig, JournalKeys } from './ca/persistence.js';
export { Endpoints, service, serialOf } from './api/endpoints.js';
export type { EndpointsOptions, ServiceRegistration, TlsIdentity } from './api/endpoints.js';
export { authorize, authorizeAgent, isAdmin, isDownstream, DEFAULT_POLICY } from './api/authz.js';
export type { Rule } from './api/authz.js';
export { setCaller, callerOf, callerId } from './api/caller.js';
export type { Caller } from './api/caller.js';
export type { ApiDeps, EntryIndex, CachedAgent, NodeAttestor, AttestationResult } from './api/deps.js';
export { apiError, deniedWithReason, encodeDeniedStatus, decodeDeniedReason, DENIED_REASONS } from './api/errors.js';
export type { DeniedReason } from './api/errors.js';
export { healthService } from './api/health.js';
export { debugService } from './api/debug.js';
export type { DebugSources } from './api/debug.js';
export { ServerSvidRotator } from './svid/server-svid.js';
export type { ServerSvid, ServerSvidRotatorOptions } from './svid/server-svid.js';
export { startServer, PRUNE_INTERVAL_MS, BUNDLE_REFRESH_MS } from './run/server.js';
export type { StartServerOptions, RunningServer } from './run/server.js';
export { serveServer } from './run/command.js';
export { createEntryCache, EntryCache, MemoryEntryIndex } from './entrycache/index.js';
export type { EntryCacheOptions, EntryCacheStats, EntryIndexReader } from './entrycache/index.js';
export { entryService, DEFAULT_ENTRY_PAGE_SIZE } from './api/entry.js';
export type { EntryServiceOptions } from './api/entry.js';
export { bundleService } from './api/bundle.js';
export { agentService } from './api/agent.js';
export { svidService } from './api/svid.js';
export { NodeAttestorV1 } from './plugin/nodeattestor/v1.js';
export { attestJoinToken, JOIN_TOKEN_TYPE, joinTokenAgentId } from './attestor/join-token.js';
export { AgentStoreHostService, ServerHostServices, AGENT_STORE_SERVICE } from './hostservice/agentstore.js';
export type { AgentLookup } from './hostservice/agentstore.js';
export { trustDomainService, relationshipFromProto, relationshipToProto } from './api/trustdomain.js';
export type { BundleRefresher } from './api/trustdomain.js';
export { BundleEndpointServer, BundleFetchError, BundleRefreshManager, bundlesEqual, checkBundleTrustDomain, fetchFederatedBundle, loadServingCert } from './federation/index.js';
export type { BundleEndpointAuth, BundleEndpointOptions, BundleManagerOptions, EndpointIdentity, FetchBundleOptions, TrustDomainConfig, UpdateResult } from './federation/index.js';
