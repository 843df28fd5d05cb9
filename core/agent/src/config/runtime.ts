/**
 * Stage 5 of the configuration pipeline: the validated, merged configuration
 * as the typed {@link RuntimeConfig} the agent runs with (durations in
 * milliseconds, enums normalised, defaults resolved, paths absolute).
 *
 * @module
 */

import { isAbsolute, resolve } from 'node:path';
import { parseKeyType, parseLogFormat, parseLogLevel } from '@spire-ts/common';
import type { KeyType, LogFormat, LogLevel, PluginDeclaration } from '@spire-ts/common';
import type { PlainValue } from '@spire-ts/plugin-sdk';
import type { MergedConfig } from './merge.js';

/** Default `experimental.sync_interval`. */
export const DEFAULT_SYNC_INTERVAL_MS = 5_000;

/** How the agent obtains the bundle it trusts the server with before its first SVID. */
export type TrustBundleSource =
  | { kind: 'insecure' }
  | { kind: 'path'; path: string; format: 'pem' | 'spiffe' }
  | { kind: 'url'; url: string; unixSocket: string | undefined; format: 'pem' | 'spiffe' }
  | { kind: 'workload_api'; address: string };

/**
 * Everything spire-agent runs with.
 *
 * @example
 * ```ts
 * const cfg: RuntimeConfig = toRuntimeConfig(merged, decls, { cwd: process.cwd() });
 * cfg.socketPath; // '/tmp/spire-agent/public/api.sock'
 * ```
 */
export interface RuntimeConfig {
  configPath: string;
  trustDomain: string;
  serverAddress: string;
  serverPort: number;
  /** Absolute path of the Workload API socket. */
  socketPath: string;
  /** Absolute path of the admin API socket; undefined when off. */
  adminSocketPath: string | undefined;
  dataDir: string;
  trustBundle: TrustBundleSource;
  /** The join token, or the path of a file holding it (read at start-up). */
  joinToken: { kind: 'value'; token: string } | { kind: 'file'; path: string } | undefined;
  log: { level: LogLevel; format: LogFormat; file: string | undefined; sourceLocation: boolean; selectors: string[] };
  rebootstrap: { mode: 'never' | 'auto' | 'always'; delayMs: number };
  workloadApi: { disabled: boolean; allowUnauthenticatedVerifiers: boolean; allowedForeignJwtClaims: string[] };
  sds: { disabled: boolean; defaultSvidName: string; defaultBundleName: string; defaultAllBundlesName: string; disableSpiffeCertValidation: boolean };
  authorizedDelegates: string[];
  workloadX509SvidKeyType: KeyType;
  availabilityTargetMs: number | undefined;
  x509SvidCacheMaxSize: number;
  jwtSvidCacheMaxSize: number;
  syncIntervalMs: number;
  profiling: { enabled: boolean; port: number; freq: number; names: string[] };
  experimental: {
    jwtSvidCacheHitTimeoutMs: number | undefined;
    requirePqKem: boolean;
    /** Workload API rate limits per method (calls per second); absent = unlimited. */
    rateLimit: Partial<Record<'fetchX509Svid' | 'fetchJwtSvid' | 'fetchX509Bundles' | 'fetchJwtBundles' | 'streamSecrets' | 'fetchSecrets', number>>;
    featureFlags: string[];
  };
  healthChecks: { listenerEnabled: boolean; bindAddress: string; bindPort: number; livePath: string; readyPath: string };
  /** The telemetry block as written (not implemented yet). */
  telemetry: PlainValue | undefined;
  plugins: PluginDeclaration[];
}

function must<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new TypeError(`toRuntimeConfig: invalid ${what}; validate the configuration first`);
  return v;
}

/**
 * Converts a merged configuration that {@link validateConfig} accepted into
 * the runtime configuration. Pure: relative paths are resolved against
 * `opts.cwd`. Throws a `TypeError` on values validation would have refused.
 *
 * @example
 * ```ts
 * const cfg = toRuntimeConfig(merged, pluginDeclarations(merged.plugins ?? [], { side: 'agent' }), { cwd: '/opt/spire' });
 * ```
 */
export function toRuntimeConfig(merged: MergedConfig, plugins: PluginDeclaration[], opts: { cwd: string }): RuntimeConfig {
  const a = merged.agent;
  const exp = a.experimental ?? {};
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(opts.cwd, p));
  const format = must(a.trust_bundle_format === 'pem' || a.trust_bundle_format === 'spiffe' ? a.trust_bundle_format : undefined, 'trust_bundle_format');
  let trustBundle: TrustBundleSource;
  if (a.trust_bundle_spiffe_workload_api) trustBundle = { kind: 'workload_api', address: a.trust_bundle_spiffe_workload_api };
  else if (a.trust_bundle_path) trustBundle = { kind: 'path', path: abs(a.trust_bundle_path), format };
  else if (a.trust_bundle_url) trustBundle = { kind: 'url', url: a.trust_bundle_url, unixSocket: a.trust_bundle_unix_socket || undefined, format };
  else trustBundle = { kind: must(a.insecure_bootstrap ? 'insecure' : undefined, 'trust bundle source') };
  const mode = a.rebootstrap_mode;
  const rl = exp.ratelimit ?? {};
  const rateLimit: RuntimeConfig['experimental']['rateLimit'] = {};
  if (rl.fetch_x509_svid !== undefined) rateLimit.fetchX509Svid = rl.fetch_x509_svid;
  if (rl.fetch_jwt_svid !== undefined) rateLimit.fetchJwtSvid = rl.fetch_jwt_svid;
  if (rl.fetch_x509_bundles !== undefined) rateLimit.fetchX509Bundles = rl.fetch_x509_bundles;
  if (rl.fetch_jwt_bundles !== undefined) rateLimit.fetchJwtBundles = rl.fetch_jwt_bundles;
  if (rl.stream_secrets !== undefined) rateLimit.streamSecrets = rl.stream_secrets;
  if (rl.fetch_secrets !== undefined) rateLimit.fetchSecrets = rl.fetch_secrets;
  const hc = merged.healthChecks;
  return {
    configPath: merged.configPath,
    trustDomain: must(a.trust_domain, 'trust_domain'),
    serverAddress: must(a.server_address, 'server_address'),
    serverPort: must(a.server_port, 'server_port'),
    socketPath: abs(a.socket_path),
    adminSocketPath: a.admin_socket_path ? abs(a.admin_socket_path) : undefined,
    dataDir: abs(a.data_dir),
    trustBundle,
    joinToken: a.join_token ? { kind: 'value', token: a.join_token } : a.join_token_file ? { kind: 'file', path: abs(a.join_token_file) } : undefined,
    log: {
      level: must(parseLogLevel(a.log_level), 'log_level'),
      format: must(parseLogFormat(a.log_format), 'log_format'),
      file: a.log_file ? abs(a.log_file) : undefined,
      sourceLocation: a.log_source_location ?? false,
      selectors: a.log_selectors ?? [],
    },
    rebootstrap: { mode: must(mode === 'never' || mode === 'auto' || mode === 'always' ? mode : undefined, 'rebootstrap_mode'), delayMs: a.rebootstrap_delay },
    workloadApi: {
      disabled: a.disable_workload_api ?? false,
      allowUnauthenticatedVerifiers: a.allow_unauthenticated_verifiers ?? false,
      allowedForeignJwtClaims: a.allowed_foreign_jwt_claims ?? [],
    },
    sds: {
      disabled: a.disable_sds_api ?? false,
      defaultSvidName: a.sds?.default_svid_name || 'default',
      defaultBundleName: a.sds?.default_bundle_name || 'ROOTCA',
      defaultAllBundlesName: a.sds?.default_all_bundles_name || 'ALL',
      disableSpiffeCertValidation: a.sds?.disable_spiffe_cert_validation ?? false,
    },
    authorizedDelegates: a.authorized_delegates ?? [],
    workloadX509SvidKeyType: a.workload_x509_svid_key_type ? must(parseKeyType(a.workload_x509_svid_key_type), 'workload_x509_svid_key_type') : 'ec-p256',
    availabilityTargetMs: a.availability_target,
    x509SvidCacheMaxSize: a.x509_svid_cache_max_size,
    jwtSvidCacheMaxSize: a.jwt_svid_cache_max_size,
    syncIntervalMs: exp.sync_interval ?? DEFAULT_SYNC_INTERVAL_MS,
    profiling: { enabled: a.profiling_enabled ?? false, port: a.profiling_port ?? 0, freq: a.profiling_freq ?? 0, names: [...(a.profiling_names ?? [])] },
    experimental: {
      jwtSvidCacheHitTimeoutMs: exp.jwt_svid_cache_hit_timeout,
      requirePqKem: exp.require_pq_kem ?? false,
      rateLimit,
      featureFlags: exp.feature_flags ?? [],
    },
    healthChecks: { listenerEnabled: hc.listener_enabled, bindAddress: hc.bind_address, bindPort: hc.bind_port, livePath: hc.live_path, readyPath: hc.ready_path },
    telemetry: merged.telemetry as PlainValue | undefined,
    plugins,
  };
}
