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
import type { FileConfig, ServerFileConfig } from './schema.js';

/** The default of `server.socket_path` (the admin API socket). */
export const DEFAULT_SOCKET_PATH = '/tmp/spire-server/private/api.sock';

/**
 * Defaults of the `server` keys that have one (durations in milliseconds).
 *
 * @example
 * ```ts
 * SERVER_DEFAULTS.bind_port; // 8081
 * ```
 */
export const SERVER_DEFAULTS = {
  bind_address: '0.0.0.0',
  bind_port: 8081,
  socket_path: DEFAULT_SOCKET_PATH,
  ca_ttl: 24 * 3_600_000,
  default_x509_svid_ttl: 3_600_000,
  default_jwt_svid_ttl: 5 * 60_000,
  log_level: 'INFO',
  log_format: 'text',
  prune_attested_nodes_batch_size: 1000,
} as const;

type Defaulted = keyof typeof SERVER_DEFAULTS;

/** The `server` block after merging: the defaulted keys are always present. */
export type MergedServer = Omit<ServerFileConfig, Defaulted> & { -readonly [K in Defaulted]: (typeof SERVER_DEFAULTS)[K] extends number ? number : string };

/** Which server keys a flag can set, and the flag's name. */
export const FLAG_KEYS = {
  bindAddress: 'bind_address',
  serverPort: 'bind_port',
  socketPath: 'socket_path',
  trustDomain: 'trust_domain',
  dataDir: 'data_dir',
  logFile: 'log_file',
  logFormat: 'log_format',
  logLevel: 'log_level',
  logSourceLocation: 'log_source_location',
} as const satisfies Partial<Record<keyof FlagValues, keyof ServerFileConfig>>;

/** Where a merged server value came from. */
export type Origin = ConfigOrigin;

/**
 * The merged configuration: the server block with flags and defaults
 * applied, the other blocks as the file had them, and where each server
 * value came from.
 *
 * @example
 * ```ts
 * const m: MergedConfig = mergeConfig(file, { trustDomain: 'example.org' }, 'server.conf');
 * m.server.trust_domain;          // 'example.org'
 * m.origins.trust_domain;        // { kind: 'flag', flag: '-trustDomain' }
 * ```
 */
export interface MergedConfig extends MergedSideConfig<FileConfig, keyof ServerFileConfig> {
  readonly server: MergedServer;
}

/**
 * Merges flags over the file over the defaults. Pure.
 *
 * @example
 * ```ts
 * const m = mergeConfig({ server: { bind_port: 9000 } , health_checks: hc }, { serverPort: 9999 }, 'server.conf');
 * m.server.bind_port;   // 9999
 * m.server.bind_address; // '0.0.0.0'
 * ```
 */
export function mergeConfig(file: FileConfig, flags: FlagValues, configPath: string): MergedConfig {
  const { values, origins } = mergeBlock(file.server, flags, FLAG_KEYS, SERVER_DEFAULTS);
  return {
    configPath,
    server: values as MergedServer,
    plugins: file.plugins,
    telemetry: file.telemetry,
    healthChecks: file.health_checks,
    origins,
  };
}
