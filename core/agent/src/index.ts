/**
 * @spire-ts/agent: spire-agent. For now its configuration pipeline
 * (parseFile → parseFlags → mergeConfig → validateConfig → toRuntimeConfig),
 * validate-only plugin loading and the `run` / `validate` commands.
 *
 * @module
 */
export { parseFile, expandConfigEnv } from './config/file.js';
export type { FileResult, ParseFileOptions } from './config/file.js';
export { parseFlags, flagsUsage, AGENT_FLAGS, DEFAULT_CONFIG_PATH } from './config/flags.js';
export type { FlagValues, FlagSpec, FlagsResult } from './config/flags.js';
export { mergeConfig, AGENT_DEFAULTS, DEFAULT_SOCKET_PATH, FLAG_KEYS } from './config/merge.js';
export type { MergedConfig, MergedAgent, Origin } from './config/merge.js';
export { validateConfig, MIN_AVAILABILITY_TARGET_MS, JWT_CACHE_HIT_TIMEOUT_RANGE_MS } from './config/validate.js';
export type { Validation, ValidateOptions } from './config/validate.js';
export { toRuntimeConfig, DEFAULT_SYNC_INTERVAL_MS } from './config/runtime.js';
export type { RuntimeConfig, TrustBundleSource } from './config/runtime.js';
export { loadConfig, byPosition } from './config/load.js';
export type { LoadIO, LoadResult } from './config/load.js';
export {
  agentFileSchema,
  agentSchema,
  experimentalSchema,
  sdsSchema,
  checkTrustBundleFormat,
  checkRebootstrapMode,
  PROFILING_NAMES,
  TRUST_BUNDLE_FORMATS,
  REBOOTSTRAP_MODES,
} from './config/schema.js';
export type { FileConfig, AgentFileConfig } from './config/schema.js';
export { validatePlugins, isBuiltIntoAgent } from './catalog/validate.js';
export type { PluginValidation, ValidatePluginsOptions } from './catalog/validate.js';
export { main, validateCommand, runCommand, NOT_BUILT_YET, EXIT_NO_COMMAND } from './cli/commands.js';
export type { CliIO } from './cli/commands.js';
export {
  entryMatches,
  selectorKey,
  compareEntries,
  filterDuplicateHints,
  StaticWorkloadCache,
  WorkloadAttestorV1,
  WorkloadAttestation,
  WorkloadAttestationError,
  verifyCaller,
  WorkloadApiServer,
  prepareSocketPath,
  checkDirectoryChain,
  SocketPathError,
  MAX_SOCKET_PATH_BYTES,
  SOCKET_DIR_MODE,
  workloadApiHandlers,
  addSdsService,
  sdsHandlers,
  buildSdsResponse,
  SECRET_TYPE_URL,
  claimsToStruct,
  ComposeError,
} from './workload/index.js';
export type {
  Selector,
  WorkloadEntry,
  WorkloadIdentity,
  WorkloadUpdate,
  WorkloadUpdateListener,
  JwtSvid,
  WorkloadCache,
  StaticWorkloadCacheOptions,
  JwtSvidMinter,
  X509SvidMaterial,
  WorkloadAttestor,
  CallerProcess,
  WorkloadAttestationOptions,
  WorkloadAttestationErrorReason,
  WorkloadApiServerOptions,
  WorkloadHandlerDeps,
  SdsOptions,
  SdsHandlerDeps,
} from './workload/index.js';
export type { AgentServerApi, AgentEntry, X509SvidResult, JwtSvidResult } from './node/server-api.js';
export {
  AgentManager,
  DEFAULT_MANAGER_SYNC_INTERVAL_MS,
  DEFAULT_X509_SVID_CACHE_MAX_SIZE,
  DEFAULT_JWT_SVID_CACHE_MAX_SIZE,
  MAX_SYNC_BACKOFF_MULTIPLE,
  DEGRADED_MESSAGE,
  RECOVERED_MESSAGE,
  Backoff,
  MAX_X509_BATCH,
} from './manager/index.js';
export type { AgentManagerOptions, ManagerTimers } from './manager/index.js';
export {
  NodeIdentity,
  nodeIdentityOptions,
  NodeIdentityError,
  ServerConnection,
  ServerApiClient,
  NodeAttestorV1,
  JoinTokenAttestor,
  loadBootstrapBundle,
  decodeDeniedReason,
} from './node/index.js';
export type { NodeIdentityOptions, AgentSvid, AgentNodeAttestor } from './node/index.js';
export { startAgent } from './run/agent.js';
export type { StartAgentOptions, RunningAgent } from './run/agent.js';
export { AdminApiServer, checkAdminSocketPath, agentDebugService } from './admin/index.js';
export type { AdminApiServerOptions, AgentDebugSource } from './admin/index.js';
export { serveAgent } from './run/command.js';
