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
