/**
 * Stage 4 of the configuration pipeline: SPIRE's rules that involve more
 * than one value, or values from several sources (file, flags, defaults),
 * checked on the merged configuration: required keys, how the bootstrap
 * trust bundle is obtained, join tokens, rebootstrapping, the plugin counts
 * (exactly one KeyManager and one NodeAttestor, at least one
 * WorkloadAttestor) and the experimental options. Errors stop start-up;
 * warnings are logged, as SPIRE does.
 *
 * @module
 */

import { ConfigFindings, isSet, parseSpiffeId } from '@spire-ts/common';
import type { ConfigValidation, PositionIndex } from '@spire-ts/common';
import { PLUGIN_SERVICE_NAMES, formatDuration, isPluginType } from '@spire-ts/plugin-sdk';
import type { Pos } from '@spire-ts/plugin-sdk';
import type { MergedConfig, MergedAgent } from './merge.js';
import type { AgentFileConfig } from './schema.js';

/** SPIRE's lower bound for `availability_target`. */
export const MIN_AVAILABILITY_TARGET_MS = 24 * 3_600_000;

/** Bounds of `experimental.jwt_svid_cache_hit_timeout` (exclusive). */
export const JWT_CACHE_HIT_TIMEOUT_RANGE_MS = [5_000, 30_000] as const;

/**
 * What {@link validateConfig} found.
 *
 * @example
 * ```ts
 * const { errors, warnings }: Validation = validateConfig(merged, index);
 * ```
 */
export type Validation = ConfigValidation;

/** Options of {@link validateConfig}. */
export interface ValidateOptions {
  /** The platform the agent runs on (default `process.platform`), for the named pipe keys. */
  readonly platform?: NodeJS.Platform;
}

type Key = keyof AgentFileConfig;

/**
 * Checks the merged configuration. Pure. Positions point at the value in the
 * file when the file set it, else at the `agent` block; messages name the
 * flag when a flag set the value.
 *
 * @example
 * ```ts
 * const v = validateConfig(mergeConfig(file, flags, 'agent.conf'), index);
 * if (v.errors.length) process.stderr.write(describeIssues(v.errors) + '\n');
 * ```
 */
export function validateConfig(merged: MergedConfig, index: PositionIndex, opts: ValidateOptions = {}): Validation {
  const f = new ConfigFindings();
  const a = merged.agent;
  const agentPos = index.key(['agent']) ?? index.root;
  /** Where a value was written (the agent block if a flag or default set it). */
  const at = (key: Key): Pos => (merged.origins[key]?.kind === 'file' ? (index.value(['agent', key]) ?? agentPos) : agentPos);
  /** The key, with the flag that set it if one did. */
  const named = (key: Key): string => {
    const o = merged.origins[key];
    return o?.kind === 'flag' ? `${key} (${o.flag})` : key;
  };

  if (!index.key(['agent'])) f.add('error', 'agent', index.root, 'missing required block "agent" (agent { ... })');
  const required: [Key, string][] = [
    ['server_address', '-serverAddress'],
    ['server_port', '-serverPort'],
    ['trust_domain', '-trustDomain'],
  ];
  for (const [key, flag] of required) {
    if (!isSet(a[key])) f.add('error', `agent.${key}`, agentPos, `missing required key "${key}" in agent (or set it with ${flag})`);
  }
  if (isSet(a.join_token) && isSet(a.join_token_file)) {
    f.add('error', 'agent.join_token_file', at('join_token_file'), `set only one of ${named('join_token')} or ${named('join_token_file')}, not both`);
  }
  checkTrustBundle(a, at, named, agentPos, f);
  if (a.insecure_bootstrap && a.rebootstrap_mode !== 'never') {
    f.add('error', 'agent.rebootstrap_mode', at('rebootstrap_mode'), `${named('rebootstrap_mode')} "${a.rebootstrap_mode}" cannot be used with insecure_bootstrap: rebootstrapping needs a trust bundle source`);
  }
  if (a.availability_target !== undefined && a.availability_target < MIN_AVAILABILITY_TARGET_MS) {
    f.add('error', 'agent.availability_target', at('availability_target'), `availability_target (${formatDuration(a.availability_target)}) must be at least 24h`);
  }
  checkAuthorizedDelegates(a, index, agentPos, f);
  const sds = a.sds;
  if (sds && (sds.default_bundle_name ?? 'ROOTCA') === (sds.default_all_bundles_name ?? 'ALL')) {
    f.add('warning', 'agent.sds', index.key(['agent', 'sds']), 'sds: default_bundle_name and default_all_bundles_name are the same, so default_all_bundles_name is ignored; give them distinct values (SPIRE will make this an error)');
  }
  checkPlugins(merged, index, f);
  checkExperimental(a, index, f, opts.platform ?? process.platform);
  return { errors: f.errors, warnings: f.warnings };
}

/** SPIRE's rule: every `authorized_delegates` ID is a member of the agent's trust domain (malformed IDs are the schema's to report). */
function checkAuthorizedDelegates(a: MergedAgent, index: PositionIndex, agentPos: Pos, f: ConfigFindings): void {
  const td = a.trust_domain;
  if (!isSet(td)) return;
  for (const [i, d] of (a.authorized_delegates ?? []).entries()) {
    let member: string;
    try {
      member = parseSpiffeId(d).trustDomain;
    } catch {
      continue;
    }
    if (member !== td) {
      const pos = index.value(['agent', 'authorized_delegates', String(i)]) ?? index.value(['agent', 'authorized_delegates']) ?? agentPos;
      f.add('error', 'agent.authorized_delegates', pos, `error validating authorized delegate: SPIFFE ID ${JSON.stringify(d)} is not a member of trust domain ${JSON.stringify(td)}`);
    }
  }
}

/** SPIRE's rules on where the bootstrap trust bundle comes from. */
function checkTrustBundle(a: MergedAgent, at: (k: Key) => Pos, named: (k: Key) => string, agentPos: Pos, f: ConfigFindings): void {
  const insecure = a.insecure_bootstrap === true;
  const path = isSet(a.trust_bundle_path);
  const url = isSet(a.trust_bundle_url);
  const workload = isSet(a.trust_bundle_spiffe_workload_api);
  const err = (key: Key, message: string): void => f.add('error', `agent.${key}`, at(key), message);

  if (workload) {
    if (insecure) err('insecure_bootstrap', `set only one of ${named('insecure_bootstrap')} or trust_bundle_spiffe_workload_api, not both`);
    if (url) err('trust_bundle_url', `set only one of ${named('trust_bundle_url')} or trust_bundle_spiffe_workload_api, not both`);
    if (path) err('trust_bundle_path', `set only one of ${named('trust_bundle_path')} or trust_bundle_spiffe_workload_api, not both`);
    if (isSet(a.trust_bundle_unix_socket)) err('trust_bundle_unix_socket', 'trust_bundle_unix_socket cannot be used with trust_bundle_spiffe_workload_api');
    const addr = a.trust_bundle_spiffe_workload_api ?? '';
    if (!/^(unix:\/\/?\/.+|unix:[^/].*|tcp:\/\/.+)$/.test(addr)) {
      err('trust_bundle_spiffe_workload_api', `trust_bundle_spiffe_workload_api ${JSON.stringify(addr)} is not a Workload API address (expected "unix:///path/to/socket" or "tcp://host:port")`);
    }
    return;
  }
  if (insecure && (path || url)) {
    const other: Key = url ? 'trust_bundle_url' : 'trust_bundle_path';
    err(other, `${named(other)} cannot be used with ${named('insecure_bootstrap')}: set only one way to get the bootstrap trust bundle`);
  } else if (!insecure && !path && !url) {
    f.add('error', 'agent.trust_bundle_path', agentPos, 'no bootstrap trust bundle: set trust_bundle_path (-trustBundle), trust_bundle_url (-trustBundleUrl) or trust_bundle_spiffe_workload_api, or insecure_bootstrap = true');
  }
  if (path && url) err('trust_bundle_url', `set only one of ${named('trust_bundle_path')} or ${named('trust_bundle_url')}, not both`);
  if (isSet(a.trust_bundle_unix_socket) && !url) {
    err('trust_bundle_unix_socket', 'trust_bundle_unix_socket needs trust_bundle_url (the URL to fetch over that socket)');
  }
  if (url) checkTrustBundleUrl(a, at, named, f);
}

function checkTrustBundleUrl(a: MergedAgent, at: (k: Key) => Pos, named: (k: Key) => string, f: ConfigFindings): void {
  const text = a.trust_bundle_url ?? '';
  const err = (message: string): void => f.add('error', 'agent.trust_bundle_url', at('trust_bundle_url'), `${named('trust_bundle_url')}: ${message}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    err(`invalid URL ${JSON.stringify(text)}`);
    return;
  }
  if (isSet(a.trust_bundle_unix_socket)) {
    if (url.protocol !== 'http:') err('must start with http:// when used with trust_bundle_unix_socket');
    for (const name of url.searchParams.keys()) {
      const lower = name.toLowerCase();
      if (lower.startsWith('spiffe-') || lower.startsWith('spire-')) err(`query parameter ${JSON.stringify(name)} is reserved (no "spiffe-" or "spire-" prefixes)`);
    }
  } else if (url.protocol !== 'https:') {
    err(`must start with https:// (got ${JSON.stringify(text)})`);
  }
}

/** Plugin types whose count SPIRE's agent catalog constrains: [min, max (0 = no limit), example]. */
const PLUGIN_COUNTS: Readonly<Record<string, readonly [number, number, string]>> = {
  KeyManager: [1, 1, 'KeyManager "disk" or KeyManager "memory"'],
  NodeAttestor: [1, 1, 'NodeAttestor "join_token"'],
  WorkloadAttestor: [1, 0, 'WorkloadAttestor "unix"'],
};

function checkPlugins(merged: MergedConfig, index: PositionIndex, f: ConfigFindings): void {
  const plugins = merged.plugins;
  if (!plugins) {
    f.add('error', 'plugins', index.root, 'missing required key "plugins" (the agent needs a KeyManager, a NodeAttestor and a WorkloadAttestor plugin)');
    return;
  }
  const pluginsPos = index.key(['plugins']) ?? index.root;
  // A misspelt type (`WorkloadAtestor`) is reported by the plugin declarations, at
  // its place; a required type found missing is reported there too, after it.
  const unknown = plugins.filter((t) => !isPluginType(t.key) || !PLUGIN_SERVICE_NAMES.agent[t.key]);
  const missingPos = unknown[0]?.pos ?? pluginsPos;
  const notCounted = unknown.length ? ` (not counting the unknown plugin type${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `"${t.key}"`).join(', ')})` : '';
  for (const [type, [min, max, example]] of Object.entries(PLUGIN_COUNTS)) {
    const declared = plugins
      .filter((t) => t.key === type)
      .flatMap((t) => t.value)
      .filter((p, i, all) => all.findIndex((q) => q.key === p.key) === i);
    const enabled = declared.filter((p) => p.value.enabled);
    if (enabled.length < min) {
      const disabled = declared.length ? ` (${declared.map((p) => `${type} "${p.key}"`).join(', ')} ${declared.length === 1 ? 'has' : 'have'} enabled = false)` : '';
      const rule = max === 0 ? 'at least one' : 'exactly one';
      f.add('error', `plugins.${type}`, missingPos, `plugins: ${rule} ${type} plugin is required, found ${declared.length ? 'none enabled' : 'none'}${disabled}${notCounted}; for example ${example}`);
    }
    if (max > 0 && enabled.length > max) {
      const first = enabled[0]!;
      for (const extra of enabled.slice(max)) {
        f.add('error', `plugins.${type}.${extra.key}`, extra.pos, `plugins.${type}: exactly one ${type} plugin is allowed; ${type} "${first.key}" is already declared at line ${first.pos.line}`);
      }
    }
  }
}

function checkExperimental(a: MergedAgent, index: PositionIndex, f: ConfigFindings, platform: NodeJS.Platform): void {
  const exp = a.experimental;
  if (!exp) return;
  const path = ['agent', 'experimental'];
  const key = (k: string): Pos | undefined => index.key([...path, k]);
  for (const k of ['named_pipe_name', 'admin_named_pipe_name'] as const) {
    if (exp[k] !== undefined && platform !== 'win32') {
      f.add('error', `agent.experimental.${k}`, key(k), `agent.experimental.${k}: named pipes exist only on Windows; use agent.${k === 'named_pipe_name' ? 'socket_path' : 'admin_socket_path'} instead`);
    }
  }
  const timeout = exp.jwt_svid_cache_hit_timeout;
  if (timeout !== undefined) {
    const [lo, hi] = JWT_CACHE_HIT_TIMEOUT_RANGE_MS;
    if (timeout <= lo || timeout >= hi) {
      f.add('error', 'agent.experimental.jwt_svid_cache_hit_timeout', index.value([...path, 'jwt_svid_cache_hit_timeout']), `agent.experimental.jwt_svid_cache_hit_timeout (${formatDuration(timeout)}) must be greater than 5s and less than 30s`);
    }
  }
  const broker = exp.broker;
  if (broker) {
    const bp = [...path, 'broker'];
    if (!broker.socket_path && !broker.bind_address) f.add('error', 'agent.experimental.broker', index.key(bp), 'agent.experimental.broker needs socket_path, bind_address, or both');
    if (broker.bind_address && !/^(\[[^\]]+\]|[^:]*):\d+$/.test(broker.bind_address)) {
      f.add('error', 'agent.experimental.broker.bind_address', index.value([...bp, 'bind_address']), `agent.experimental.broker.bind_address ${JSON.stringify(broker.bind_address)} is not host:port`);
    }
    const seen = new Set<string>();
    (broker.brokers ?? []).forEach((b, i) => {
      const pos = index.key([...bp, 'brokers', String(i)]) ?? index.key([...bp, 'brokers']);
      const id = `agent.experimental.broker.brokers[${b.id}]`;
      if (seen.has(b.id)) f.add('error', `${id}.id`, pos, `${id}.id: duplicate broker id`);
      seen.add(b.id);
      const types = b.allowed_reference_types ?? [];
      if (types.length === 0) f.add('error', `${id}.allowed_reference_types`, pos, `${id}.allowed_reference_types: list at least one reference type URL`);
      if (types.length > 1 && types.some((t) => t.type_url === '*')) {
        f.add('error', `${id}.allowed_reference_types`, pos, `${id}.allowed_reference_types: the wildcard "*" must be the only allowed reference type`);
      }
    });
  }
  if (Object.values(exp).some((v) => v !== undefined)) {
    f.add('warning', 'agent.experimental', index.key(path), 'experimental features are enabled: they may change or go away in any release');
  }
  for (const flag of exp.feature_flags ?? []) {
    f.add('warning', 'agent.experimental.feature_flags', index.value([...path, 'feature_flags']), `developer feature flag ${JSON.stringify(flag)} is enabled`);
  }
}
