/**
 * The schema of a spire-server configuration file: every key SPIRE's server
 * accepts, in SPIRE's shape (HCL, or the same structure in JSON). It checks
 * structure, types and single values; defaults of keys that a flag can also
 * set are applied later, by {@link mergeConfig}, so that "unset" stays
 * visible until flags and file are merged.
 *
 * @module
 */

import { FEATURE_FLAGS, healthChecksSchema, pluginsSchema, telemetrySchema } from '@spire-ts/common';
import { s } from '@spire-ts/plugin-sdk';
import type { Infer } from '@spire-ts/plugin-sdk';
import { checkCidr, checkHttpsUrl, checkKeyType, checkLogFormat, checkLogLevel, checkSpiffeId, checkTrustDomain } from './values.js';

export { FEATURE_FLAGS } from '@spire-ts/common';

/** Profiles SPIRE can dump (`profiling_names`). */
export const PROFILING_NAMES = ['goroutine', 'threadcreate', 'heap', 'block', 'mutex', 'trace', 'cpu'] as const;

const positive = (ms: number): string | undefined => (ms > 0 ? undefined : 'must be greater than zero');
const nonNegative = (ms: number): string | undefined => (ms >= 0 ? undefined : 'must not be negative');

const featureFlag = s.string({
  check: (f) => ((FEATURE_FLAGS as readonly string[]).includes(f) ? undefined : `unknown feature flag ${JSON.stringify(f)} (known: ${FEATURE_FLAGS.join(', ')})`),
});

/** `profile "<name>" { ... }` and `bundle_endpoint_profile "<name>" { ... }`: exactly one profile. */
function oneProfile<T extends object>(value: T): string | undefined {
  const n = Object.keys(value).length;
  return n === 1 ? undefined : `exactly one profile is expected ("https_spiffe" or "https_web"), got ${n}`;
}

const acmeShape = {
  directory_url: s.string(),
  domain_name: s.string({ required: true, nonEmpty: true }),
  email: s.string({ required: true, nonEmpty: true }),
  tos_accepted: s.bool({ default: false }),
};
const acmeSchema = s.object(acmeShape);

const servingCertFileSchema = s.object({
  cert_file_path: s.string({ required: true, nonEmpty: true }),
  key_file_path: s.string({ required: true, nonEmpty: true }),
  file_sync_interval: s.duration({ check: positive }),
});

const bundleEndpointSchema = s.object({
  address: s.string(),
  port: s.int({ min: 0, max: 65535 }),
  refresh_hint: s.duration({ check: positive }),
  acme: s.object(acmeShape, { deprecated: 'configure acme inside profile "https_web" instead' }),
  profile: s.object(
    {
      https_spiffe: s.object({}),
      https_web: s.object(
        { acme: acmeSchema, serving_cert_file: servingCertFileSchema },
        {
          check: (v) => {
            const n = (v.acme ? 1 : 0) + (v.serving_cert_file ? 1 : 0);
            return n === 1 ? undefined : 'the https_web profile needs exactly one of "acme" or "serving_cert_file"';
          },
        },
      ),
    },
    { check: oneProfile },
  ),
}, { check: (v) => (v.acme && v.profile ? 'set either "acme" or "profile", not both' : undefined) });

const federatesWithSchema = s.object({
  bundle_endpoint_url: s.string({ required: true, check: checkHttpsUrl }),
  bundle_endpoint_profile: s.object(
    {
      https_spiffe: s.object({ endpoint_spiffe_id: s.string({ required: true, check: checkSpiffeId }) }),
      https_web: s.object({}),
    },
    { required: true, check: oneProfile },
  ),
});

const experimentalSchema = s.object({
  agent_spiffe_id_as_selector: s.bool(),
  auth_opa_policy_engine: s.object({
    local: s.object({ rego_path: s.string({ required: true, nonEmpty: true }), policy_data_path: s.string() }),
  }),
  cache_reload_interval: s.duration({ check: positive }),
  full_cache_reload_interval: s.duration({ check: positive }),
  events_based_cache: s.bool(),
  prune_events_older_than: s.duration({ check: positive }),
  event_timeout: s.duration({ check: positive }),
  sql_transaction_timeout: s.duration({ check: positive, deprecated: 'use experimental.event_timeout instead' }),
  require_pq_kem: s.bool(),
  wit_key_type: s.string({ check: checkKeyType }),
  wit_issuer: s.string(),
  feature_flags: s.list(featureFlag),
  named_pipe_name: s.string(),
});

/** The `server { ... }` block. */
export const serverSchema = s.object({
  admin_ids: s.list(s.string({ check: checkSpiffeId })),
  agent_ttl: s.duration({ check: positive }),
  audit_log_enabled: s.bool(),
  bind_address: s.string(),
  bind_port: s.int({ min: 0, max: 65535 }),
  ca_key_type: s.string({ check: checkKeyType }),
  ca_subject: s.object({ country: s.list(s.string()), organization: s.list(s.string()), common_name: s.string() }),
  ca_ttl: s.duration({ check: positive }),
  data_dir: s.string(),
  default_x509_svid_ttl: s.duration({ check: positive }),
  default_jwt_svid_ttl: s.duration({ check: positive }),
  disable_jwt_svids: s.bool(),
  experimental: experimentalSchema,
  federation: s.object({
    bundle_endpoint: bundleEndpointSchema,
    federates_with: s.entries(federatesWithSchema, { unique: true }),
  }),
  jwt_issuer: s.string(),
  jwt_key_type: s.string({ check: checkKeyType }),
  log_file: s.string(),
  log_format: s.string({ check: checkLogFormat }),
  log_level: s.string({ check: checkLogLevel }),
  log_source_location: s.bool(),
  max_attested_node_info_staleness: s.duration({ check: nonNegative }),
  profiling_enabled: s.bool(),
  profiling_freq: s.int({ min: 0 }),
  profiling_names: s.list(s.enum(PROFILING_NAMES)),
  profiling_port: s.int({ min: 0, max: 65535 }),
  proxy_protocol_trusted_cidrs: s.list(s.string({ check: checkCidr })),
  prune_attested_nodes_batch_size: s.int({ min: 0 }),
  prune_attested_nodes_expired_for: s.duration({ check: positive }),
  prune_tofu_nodes: s.bool(),
  ratelimit: s.object({ attestation: s.bool(), signing: s.bool() }),
  socket_path: s.string(),
  trust_domain: s.string({ check: checkTrustDomain }),
});

export { healthChecksSchema, telemetrySchema } from '@spire-ts/common';

/** A whole spire-server configuration file. */
export const serverFileSchema = s.object({
  server: serverSchema,
  plugins: pluginsSchema,
  telemetry: telemetrySchema,
  health_checks: healthChecksSchema,
});

/** What a configuration file holds, typed (see {@link serverFileSchema}). */
export type FileConfig = Infer<typeof serverFileSchema>;

/** The `server` block, typed. */
export type ServerFileConfig = Infer<typeof serverSchema>;

/** The `health_checks` block with its defaults. */
export type HealthChecksConfig = Infer<typeof healthChecksSchema>;
