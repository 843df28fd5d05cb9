/**
 * The schema of a spire-agent configuration file: every key SPIRE's agent
 * accepts, in SPIRE's shape (HCL, or the same structure in JSON). It checks
 * structure, types and single values; defaults of keys a flag can also set
 * are applied later, by {@link mergeConfig}, so "unset" stays visible until
 * flags and file are merged. Rules involving several keys are in
 * {@link validateConfig}.
 *
 * @module
 */

import {
  FEATURE_FLAGS,
  checkKeyType,
  checkLogFormat,
  checkLogLevel,
  checkSpiffeId,
  checkTrustDomain,
  healthChecksSchema,
  pluginsSchema,
  telemetrySchema,
} from '@spire-ts/common';
import { s } from '@spire-ts/plugin-sdk';
import type { Infer } from '@spire-ts/plugin-sdk';

/** Profiles SPIRE can dump (`profiling_names`). */
export const PROFILING_NAMES = ['goroutine', 'threadcreate', 'heap', 'block', 'mutex', 'trace', 'cpu'] as const;

/** Formats of the bootstrap trust bundle (`trust_bundle_format`). */
export const TRUST_BUNDLE_FORMATS = ['pem', 'spiffe'] as const;

/** `rebootstrap_mode` values. */
export const REBOOTSTRAP_MODES = ['never', 'auto', 'always'] as const;

const positive = (ms: number): string | undefined => (ms > 0 ? undefined : 'must be greater than zero');

const featureFlag = s.string({
  check: (f) => ((FEATURE_FLAGS as readonly string[]).includes(f) ? undefined : `unknown feature flag ${JSON.stringify(f)} (known: ${FEATURE_FLAGS.join(', ')})`),
});

const rateLimit = s.int({ min: 0 });

const brokerSchema = s.object({
  socket_path: s.string(),
  bind_address: s.string(),
  brokers: s.list(
    s.object({
      id: s.string({ required: true, nonEmpty: true }),
      allowed_reference_types: s.list(
        s.object({ type_url: s.string({ required: true, nonEmpty: true }), allow_over_tcp: s.bool() }),
      ),
    }),
  ),
});

/** `agent { experimental { ... } }`. */
export const experimentalSchema = s.object({
  sync_interval: s.duration({ check: positive }),
  jwt_svid_cache_hit_timeout: s.duration(),
  named_pipe_name: s.string(),
  admin_named_pipe_name: s.string(),
  use_sync_authorized_entries: s.bool({ deprecated: 'entries are always synced with SyncAuthorizedEntries; remove use_sync_authorized_entries' }),
  require_pq_kem: s.bool(),
  ratelimit: s.object({
    fetch_x509_svid: rateLimit,
    fetch_jwt_svid: rateLimit,
    fetch_x509_bundles: rateLimit,
    fetch_jwt_bundles: rateLimit,
    stream_secrets: rateLimit,
    fetch_secrets: rateLimit,
  }),
  broker: brokerSchema,
  feature_flags: s.list(featureFlag),
});

/** `agent { sds { ... } }`: names of the Envoy SDS resources. */
export const sdsSchema = s.object({
  default_svid_name: s.string(),
  default_bundle_name: s.string(),
  default_all_bundles_name: s.string(),
  disable_spiffe_cert_validation: s.bool(),
});

/** The `agent { ... }` block. */
export const agentSchema = s.object({
  admin_socket_path: s.string(),
  allow_unauthenticated_verifiers: s.bool(),
  allowed_foreign_jwt_claims: s.list(s.string()),
  authorized_delegates: s.list(s.string({ check: checkSpiffeId })),
  availability_target: s.duration(),
  data_dir: s.string(),
  disable_sds_api: s.bool(),
  disable_workload_api: s.bool(),
  experimental: experimentalSchema,
  insecure_bootstrap: s.bool(),
  join_token: s.string(),
  join_token_file: s.string(),
  jwt_svid_cache_max_size: s.int({ min: 0 }),
  log_file: s.string(),
  log_format: s.string({ check: checkLogFormat }),
  log_level: s.string({ check: checkLogLevel }),
  log_selectors: s.list(s.string()),
  log_source_location: s.bool(),
  profiling_enabled: s.bool(),
  profiling_freq: s.int({ min: 0 }),
  profiling_names: s.list(s.enum(PROFILING_NAMES)),
  profiling_port: s.int({ min: 0, max: 65535 }),
  rebootstrap_delay: s.duration({ check: positive }),
  rebootstrap_mode: s.string({ check: checkRebootstrapMode }),
  sds: sdsSchema,
  server_address: s.string(),
  server_port: s.int({ min: 0, max: 65535 }),
  socket_path: s.string(),
  trust_bundle_format: s.string({ check: checkTrustBundleFormat }),
  trust_bundle_path: s.string(),
  trust_bundle_spiffe_workload_api: s.string(),
  trust_bundle_unix_socket: s.string(),
  trust_bundle_url: s.string(),
  trust_domain: s.string({ check: checkTrustDomain }),
  workload_x509_svid_key_type: s.string({ check: checkKeyType }),
  x509_svid_cache_max_size: s.int({ min: 0 }),
});

/**
 * Checks a `trust_bundle_format` (`pem` or `spiffe`; empty means pem).
 *
 * @example
 * ```ts
 * checkTrustBundleFormat('jwks'); // 'invalid trust bundle format "jwks" (expected "pem" or "spiffe")'
 * ```
 */
export function checkTrustBundleFormat(value: string): string | undefined {
  return value === '' || (TRUST_BUNDLE_FORMATS as readonly string[]).includes(value)
    ? undefined
    : `invalid trust bundle format ${JSON.stringify(value)} (expected "pem" or "spiffe")`;
}

/** Checks a `rebootstrap_mode` (`never`, `auto` or `always`; empty means never). */
export function checkRebootstrapMode(value: string): string | undefined {
  return value === '' || (REBOOTSTRAP_MODES as readonly string[]).includes(value)
    ? undefined
    : `unknown rebootstrap mode ${JSON.stringify(value)} (expected "never", "auto" or "always")`;
}

/** A whole spire-agent configuration file. */
export const agentFileSchema = s.object({
  agent: agentSchema,
  plugins: pluginsSchema,
  telemetry: telemetrySchema,
  health_checks: healthChecksSchema,
});

/** What a configuration file holds, typed (see {@link agentFileSchema}). */
export type FileConfig = Infer<typeof agentFileSchema>;

/** The `agent` block, typed. */
export type AgentFileConfig = Infer<typeof agentSchema>;
