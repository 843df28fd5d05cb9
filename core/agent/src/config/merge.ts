/**
 * Stage 3 of the configuration pipeline: flags over file over defaults, as
 * SPIRE merges them (an empty string, zero or `false` counts as "not set", so
 * it never overrides and is filled by the next source).
 *
 * @module
 */

import { mergeBlock } from '@spire-ts/common';
import type { ConfigOrigin, MergedSideConfig } from '@spire-ts/common';
import type { FlagValues } from './flags.js';
import type { AgentFileConfig, FileConfig } from './schema.js';

/** The default of `agent.socket_path` (the Workload API socket). */
export const DEFAULT_SOCKET_PATH = '/tmp/spire-agent/public/api.sock';

/**
 * Defaults of the `agent` keys that have one (durations in milliseconds).
 *
 * @example
 * ```ts
 * AGENT_DEFAULTS.data_dir; // '.'
 * ```
 */
export const AGENT_DEFAULTS = {
  data_dir: '.',
  socket_path: DEFAULT_SOCKET_PATH,
  log_level: 'INFO',
  log_format: 'text',
  trust_bundle_format: 'pem',
  rebootstrap_mode: 'never',
  rebootstrap_delay: 10 * 60_000,
  x509_svid_cache_max_size: 1000,
  jwt_svid_cache_max_size: 1000,
} as const;

type Defaulted = keyof typeof AGENT_DEFAULTS;

/** The `agent` block after merging: the defaulted keys are always present. */
export type MergedAgent = Omit<AgentFileConfig, Defaulted> & { -readonly [K in Defaulted]: (typeof AGENT_DEFAULTS)[K] extends number ? number : string };

/** Which agent keys a flag can set. */
export const FLAG_KEYS = {
  allowUnauthenticatedVerifiers: 'allow_unauthenticated_verifiers',
  dataDir: 'data_dir',
  disableSDSAPI: 'disable_sds_api',
  disableWorkloadAPI: 'disable_workload_api',
  insecureBootstrap: 'insecure_bootstrap',
  joinToken: 'join_token',
  joinTokenFile: 'join_token_file',
  logFile: 'log_file',
  logFormat: 'log_format',
  logLevel: 'log_level',
  logSourceLocation: 'log_source_location',
  rebootstrapDelay: 'rebootstrap_delay',
  rebootstrapMode: 'rebootstrap_mode',
  serverAddress: 'server_address',
  serverPort: 'server_port',
  socketPath: 'socket_path',
  trustBundle: 'trust_bundle_path',
  trustBundleFormat: 'trust_bundle_format',
  trustBundleUrl: 'trust_bundle_url',
  trustDomain: 'trust_domain',
} as const satisfies Partial<Record<keyof FlagValues, keyof AgentFileConfig>>;

/** Where a merged agent value came from. */
export type Origin = ConfigOrigin;

/**
 * The merged configuration: the agent block with flags and defaults applied,
 * the other blocks as the file had them, and where each agent value came from.
 *
 * @example
 * ```ts
 * const m: MergedConfig = mergeConfig(file, { serverPort: 9081 }, 'agent.conf');
 * m.agent.server_port;     // 9081
 * m.origins.server_port;   // { kind: 'flag', flag: '-serverPort' }
 * ```
 */
export interface MergedConfig extends MergedSideConfig<FileConfig, keyof AgentFileConfig> {
  readonly agent: MergedAgent;
}

/** Go's time.ParseDuration for a flag value that the flag parser already checked. */
function flagDuration(text: string): number {
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * unit[m[2]!]!;
  return Math.round(ms);
}

/**
 * Merges flags over the file over the defaults. Pure.
 *
 * @example
 * ```ts
 * const m = mergeConfig({ agent: { server_port: 8081 }, health_checks: hc }, { joinToken: 't' }, 'agent.conf');
 * m.agent.join_token;  // 't'
 * m.agent.socket_path; // '/tmp/spire-agent/public/api.sock'
 * ```
 */
export function mergeConfig(file: FileConfig, flags: FlagValues, configPath: string): MergedConfig {
  const { values, origins } = mergeBlock(file.agent, flags, FLAG_KEYS, AGENT_DEFAULTS, (flag, raw) => (flag === 'rebootstrapDelay' && typeof raw === 'string' && raw !== '' ? flagDuration(raw) : raw));
  return {
    configPath,
    agent: values as MergedAgent,
    plugins: file.plugins,
    telemetry: file.telemetry,
    healthChecks: file.health_checks,
    origins,
  };
}
