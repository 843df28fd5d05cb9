/**
 * Stage 5 of the configuration pipeline: the validated, merged
 * configuration as the typed {@link RuntimeConfig} the server runs with
 * (durations in milliseconds, enums normalised, defaults resolved).
 *
 * @module
 */

import { isAbsolute, resolve } from 'node:path';
import type { LogFormat, LogLevel, PluginDeclaration } from '@spire-ts/common';
import type { PlainValue } from '@spire-ts/plugin-sdk';
import type { MergedConfig } from './merge.js';
import { parseKeyType, parseLogFormat, parseLogLevel } from './values.js';
import type { KeyType } from './values.js';

/** An https_web ACME configuration. */
export interface AcmeConfig {
  directoryUrl: string;
  domainName: string;
  email: string;
  tosAccepted: boolean;
  /** Where certificates are cached: `<data_dir>/bundle-acme`. */
  cacheDir: string;
}

/** The profile of this server's bundle endpoint. */
export type BundleEndpointProfile =
  | { kind: 'https_spiffe' }
  | { kind: 'https_web'; acme: AcmeConfig }
  | { kind: 'https_web'; servingCertFile: { certFilePath: string; keyFilePath: string; fileSyncIntervalMs: number } };

/** How a federated trust domain's bundle endpoint is authenticated. */
export type FederatedProfile = { kind: 'https_web' } | { kind: 'https_spiffe'; endpointSpiffeId: string };

/**
 * Everything spire-server runs with.
 *
 * @example
 * ```ts
 * const cfg: RuntimeConfig = toRuntimeConfig(merged, decls, { cwd: process.cwd() });
 * cfg.ca.ttlMs; // 86_400_000
 * ```
 */
export interface RuntimeConfig {
  /** The config file this came from. */
  configPath: string;
  trustDomain: string;
  bindAddress: string;
  bindPort: number;
  /** Absolute path of the admin API socket. */
  socketPath: string;
  dataDir: string;
  log: { level: LogLevel; format: LogFormat; file: string | undefined; sourceLocation: boolean };
  ca: {
    keyType: KeyType;
    ttlMs: number;
    subject: { country: string[]; organization: string[]; commonName: string | undefined };
  };
  jwt: { keyType: KeyType; issuer: string | undefined; disabled: boolean };
  wit: { keyType: KeyType; issuer: string | undefined };
  x509SvidTtlMs: number;
  jwtSvidTtlMs: number;
  /** Agent SVID TTL; defaults to the X.509-SVID TTL. */
  agentTtlMs: number;
  adminIds: string[];
  auditLogEnabled: boolean;
  rateLimit: { attestation: boolean; signing: boolean };
  federation: {
    bundleEndpoint: { address: string; port: number; refreshHintMs: number; profile: BundleEndpointProfile } | undefined;
    federatesWith: { trustDomain: string; bundleEndpointUrl: string; profile: FederatedProfile }[];
  };
  /** Pruning of expired attested nodes; undefined when off. */
  pruneAttestedNodes: { expiredForMs: number; batchSize: number; includeNonReattestable: boolean } | undefined;
  proxyProtocolTrustedCidrs: string[];
  maxAttestedNodeInfoStalenessMs: number;
  profiling: { enabled: boolean; port: number; freq: number; names: string[] };
  experimental: {
    agentSpiffeIdAsSelector: boolean;
    cacheReloadIntervalMs: number | undefined;
    fullCacheReloadIntervalMs: number | undefined;
    eventsBasedCache: boolean;
    pruneEventsOlderThanMs: number | undefined;
    eventTimeoutMs: number | undefined;
    requirePqKem: boolean;
    authOpaPolicyEngine: { regoPath: string; policyDataPath: string | undefined } | undefined;
    featureFlags: string[];
  };
  healthChecks: { listenerEnabled: boolean; bindAddress: string; bindPort: number; livePath: string; readyPath: string };
  /** The telemetry block as written (not implemented yet). */
  telemetry: PlainValue | undefined;
  plugins: PluginDeclaration[];
}

/** The default ACME directory (Let's Encrypt). */
export const DEFAULT_ACME_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

const DEFAULT_REFRESH_HINT_MS = 5 * 60_000;
const DEFAULT_FILE_SYNC_MS = 3_600_000;

function acme(a: { directory_url?: string; domain_name: string; email: string; tos_accepted: boolean }, dataDir: string): AcmeConfig {
  return {
    directoryUrl: a.directory_url || DEFAULT_ACME_DIRECTORY,
    domainName: a.domain_name,
    email: a.email,
    tosAccepted: a.tos_accepted,
    cacheDir: resolve(dataDir, 'bundle-acme'),
  };
}

/** A value that validation guarantees. */
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
 * const cfg = toRuntimeConfig(merged, pluginDeclarations(merged.plugins ?? [], { side: 'server' }), { cwd: '/opt/spire' });
 * ```
 */
export function toRuntimeConfig(merged: MergedConfig, plugins: PluginDeclaration[], opts: { cwd: string }): RuntimeConfig {
  const s = merged.server;
  const exp = s.experimental ?? {};
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(opts.cwd, p));
  const trustDomain = must(s.trust_domain, 'trust_domain');
  const dataDir = abs(must(s.data_dir, 'data_dir'));
  const caKeyType = s.ca_key_type ? must(parseKeyType(s.ca_key_type), 'ca_key_type') : 'ec-p256';
  const be = s.federation?.bundle_endpoint;
  let profile: BundleEndpointProfile = { kind: 'https_spiffe' };
  if (be?.acme) profile = { kind: 'https_web', acme: acme(be.acme, dataDir) };
  else if (be?.profile?.https_web?.acme) profile = { kind: 'https_web', acme: acme(be.profile.https_web.acme, dataDir) };
  else if (be?.profile?.https_web?.serving_cert_file) {
    const f = be.profile.https_web.serving_cert_file;
    profile = { kind: 'https_web', servingCertFile: { certFilePath: f.cert_file_path, keyFilePath: f.key_file_path, fileSyncIntervalMs: f.file_sync_interval ?? DEFAULT_FILE_SYNC_MS } };
  }
  const subject = s.ca_subject;
  const subjectEmpty = !subject || (!subject.country?.length && !subject.organization?.length && !subject.common_name);
  const opa = exp.auth_opa_policy_engine?.local;
  return {
    configPath: merged.configPath,
    trustDomain,
    bindAddress: s.bind_address.replace(/^\[(.*)\]$/, '$1'),
    bindPort: s.bind_port,
    socketPath: abs(s.socket_path),
    dataDir,
    log: {
      level: must(parseLogLevel(s.log_level), 'log_level'),
      format: must(parseLogFormat(s.log_format), 'log_format'),
      file: s.log_file ? abs(s.log_file) : undefined,
      sourceLocation: s.log_source_location ?? false,
    },
    ca: {
      keyType: caKeyType,
      ttlMs: s.ca_ttl,
      subject: subjectEmpty
        ? { country: ['US'], organization: ['SPIFFE'], commonName: undefined }
        : { country: subject.country ?? [], organization: subject.organization ?? [], commonName: subject.common_name || undefined },
    },
    jwt: {
      keyType: s.jwt_key_type ? must(parseKeyType(s.jwt_key_type), 'jwt_key_type') : caKeyType,
      issuer: s.jwt_issuer || undefined,
      disabled: s.disable_jwt_svids ?? false,
    },
    wit: {
      keyType: exp.wit_key_type ? must(parseKeyType(exp.wit_key_type), 'wit_key_type') : caKeyType,
      issuer: exp.wit_issuer || undefined,
    },
    x509SvidTtlMs: s.default_x509_svid_ttl,
    jwtSvidTtlMs: s.default_jwt_svid_ttl,
    agentTtlMs: s.agent_ttl ?? s.default_x509_svid_ttl,
    adminIds: s.admin_ids ?? [],
    auditLogEnabled: s.audit_log_enabled ?? false,
    rateLimit: { attestation: s.ratelimit?.attestation ?? true, signing: s.ratelimit?.signing ?? true },
    federation: {
      bundleEndpoint: be
        ? { address: be.address || '0.0.0.0', port: be.port ?? 0, refreshHintMs: be.refresh_hint ?? DEFAULT_REFRESH_HINT_MS, profile }
        : undefined,
      federatesWith: (s.federation?.federates_with ?? []).map((e) => ({
        trustDomain: e.key,
        bundleEndpointUrl: e.value.bundle_endpoint_url,
        profile: e.value.bundle_endpoint_profile.https_spiffe
          ? { kind: 'https_spiffe', endpointSpiffeId: e.value.bundle_endpoint_profile.https_spiffe.endpoint_spiffe_id }
          : { kind: 'https_web' },
      })),
    },
    pruneAttestedNodes:
      s.prune_attested_nodes_expired_for !== undefined
        ? { expiredForMs: s.prune_attested_nodes_expired_for, batchSize: s.prune_attested_nodes_batch_size, includeNonReattestable: s.prune_tofu_nodes ?? false }
        : undefined,
    proxyProtocolTrustedCidrs: s.proxy_protocol_trusted_cidrs ?? [],
    maxAttestedNodeInfoStalenessMs: s.max_attested_node_info_staleness ?? 0,
    profiling: { enabled: s.profiling_enabled ?? false, port: s.profiling_port ?? 0, freq: s.profiling_freq ?? 0, names: s.profiling_names ?? [] },
    experimental: {
      agentSpiffeIdAsSelector: exp.agent_spiffe_id_as_selector ?? false,
      cacheReloadIntervalMs: exp.cache_reload_interval,
      fullCacheReloadIntervalMs: exp.full_cache_reload_interval,
      eventsBasedCache: exp.events_based_cache ?? false,
      pruneEventsOlderThanMs: exp.prune_events_older_than,
      eventTimeoutMs: exp.event_timeout ?? exp.sql_transaction_timeout,
      requirePqKem: exp.require_pq_kem ?? false,
      authOpaPolicyEngine: opa ? { regoPath: opa.rego_path, policyDataPath: opa.policy_data_path } : undefined,
      featureFlags: exp.feature_flags ?? [],
    },
    healthChecks: {
      listenerEnabled: merged.healthChecks.listener_enabled,
      bindAddress: merged.healthChecks.bind_address,
      bindPort: merged.healthChecks.bind_port,
      livePath: merged.healthChecks.live_path,
      readyPath: merged.healthChecks.ready_path,
    },
    telemetry: merged.telemetry as PlainValue | undefined,
    plugins,
  };
}
