/**
 * Stage 4 of the configuration pipeline: the rules that involve more than one
 * value, or values from several sources (file, flags, defaults), checked on
 * the merged configuration. Errors stop start-up; warnings are logged, as
 * SPIRE does.
 *
 * @module
 */

import { ConfigFindings, isSet } from '@spire-ts/common';
import type { ConfigValidation } from '@spire-ts/common';
import { isIP } from 'node:net';
import { PLUGIN_SERVICE_NAMES, formatDuration, isPluginType } from '@spire-ts/plugin-sdk';
import type { Pos } from '@spire-ts/plugin-sdk';
import type { MergedConfig, MergedServer } from './merge.js';
import type { PositionIndex } from './positions.js';
import type { ServerFileConfig } from './schema.js';
import { checkTrustDomain } from './values.js';

/** Longest SVID TTL the CA manager can honour whatever the ca_ttl (SPIRE's cap: 7 days). */
export const MAX_SVID_TTL_MS = 7 * 24 * 3_600_000;

/** SPIRE's activation threshold divisor: SVIDs are guaranteed for 1/6 of the ca_ttl. */
const CA_TTL_DIVISOR = 6;

/** The longest SVID TTL a CA of `caTtlMs` can always honour across rotations. */
export function maxSvidTtlFor(caTtlMs: number): number {
  return Math.min(caTtlMs / CA_TTL_DIVISOR, MAX_SVID_TTL_MS);
}

/** The shortest ca_ttl that can always honour SVIDs of `svidTtlMs`. */
export function minCaTtlFor(svidTtlMs: number): number {
  return svidTtlMs * CA_TTL_DIVISOR;
}

/** A duration for messages: whole seconds, without trailing zero units (`4h`, `1h30m`, `10m`, `45s`). */
export function shortDuration(ms: number): string {
  let text = formatDuration(Math.trunc(ms / 1000) * 1000);
  if (text.endsWith('m0s')) text = text.slice(0, -2);
  if (text.endsWith('h0m')) text = text.slice(0, -2);
  return text;
}

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
  /** The platform the server runs on (default `process.platform`), for `named_pipe_name`. */
  readonly platform?: NodeJS.Platform;
}

/**
 * Checks the merged configuration: required keys that a flag may also give
 * (trust_domain, data_dir), the plugin counts SPIRE enforces (exactly one
 * DataStore and one KeyManager, at most one UpstreamAuthority), federation,
 * experimental and platform rules; and warns as SPIRE does about SVID TTLs
 * that the ca_ttl cannot honour, an empty ca_subject, bundle endpoint refresh
 * hints and experimental features. Pure.
 *
 * @example
 * ```ts
 * const v = validateConfig(mergeConfig(file, flags, 'server.conf'), index);
 * if (v.errors.length) process.stderr.write(describeIssues(v.errors) + '\n');
 * ```
 */
export function validateConfig(merged: MergedConfig, index: PositionIndex, opts: ValidateOptions = {}): Validation {
  const f = new ConfigFindings();
  const srv = merged.server;

  /** Where a server value was written in the file (undefined when a flag or a default set it). */
  const place = (key: keyof ServerFileConfig): Pos | undefined => (merged.origins[key]?.kind === 'file' ? index.value(['server', key]) : undefined);

  // Keys a flag may provide, so the file schema could not require them.
  const required: [keyof ServerFileConfig, string][] = [
    ['trust_domain', '-trustDomain'],
    ['data_dir', '-dataDir'],
  ];
  for (const [key, flag] of required) {
    if (!isSet(srv[key])) {
      f.add('error', `server.${key}`, index.key(['server']) ?? index.root, `missing required key "${key}" in server (or set it with ${flag})`);
    }
  }

  checkPlugins(merged, index, f);
  checkFederation(srv, index, f);
  checkExperimental(srv, index, f, opts.platform ?? process.platform);
  checkTtls(srv, place, f);

  const subject = srv.ca_subject;
  if (subject && !subject.country?.length && !subject.organization?.length && !subject.common_name) {
    f.add('warning', 'server.ca_subject', index.key(['server', 'ca_subject']), 'ca_subject is set but empty; the default subject (C=US, O=SPIFFE) is used');
  }
  return { errors: f.errors, warnings: f.warnings };
}

/** Plugin types whose count SPIRE constrains: [min, max] (max 0 = no limit). */
const PLUGIN_COUNTS: Readonly<Record<string, readonly [number, number, string]>> = {
  DataStore: [1, 1, 'DataStore "sql"'],
  KeyManager: [1, 1, 'KeyManager "disk" or KeyManager "memory"'],
  UpstreamAuthority: [0, 1, ''],
};

function checkPlugins(merged: MergedConfig, index: PositionIndex, f: ConfigFindings): void {
  const plugins = merged.plugins;
  if (!plugins) {
    f.add('error', 'plugins', index.root, 'missing required key "plugins" (the server needs a DataStore and a KeyManager plugin)');
    return;
  }
  const pluginsPos = index.key(['plugins']) ?? index.root;
  // A misspelt type (`WorkloadAtestor`) is reported by the plugin declarations, at
  // its place; a required type found missing is reported there too, after it.
  const unknown = plugins.filter((t) => !isPluginType(t.key) || !PLUGIN_SERVICE_NAMES.server[t.key]);
  const missingPos = unknown[0]?.pos ?? pluginsPos;
  const notCounted = unknown.length ? ` (not counting the unknown plugin type${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `"${t.key}"`).join(', ')})` : '';
  for (const [type, [min, max, example]] of Object.entries(PLUGIN_COUNTS)) {
    // The same name twice is reported by the plugin declarations; count it once here.
    const declared = plugins
      .filter((t) => t.key === type)
      .flatMap((t) => t.value)
      .filter((p, i, all) => all.findIndex((q) => q.key === p.key) === i);
    const enabled = declared.filter((p) => p.value.enabled);
    if (enabled.length < min) {
      const disabled = declared.length ? ` (${declared.map((p) => `${type} "${p.key}"`).join(', ')} ${declared.length === 1 ? 'has' : 'have'} enabled = false)` : '';
      const found = declared.length ? 'none enabled' : 'none';
      f.add('error', `plugins.${type}`, missingPos, `plugins: exactly one ${type} plugin is required, found ${found}${disabled}${notCounted}; for example ${example}`);
    }
    if (max > 0 && enabled.length > max) {
      const first = enabled[0]!;
      const rule = min === max ? `exactly one ${type} plugin is allowed` : `at most one ${type} plugin is allowed`;
      for (const extra of enabled.slice(max)) {
        f.add('error', `plugins.${type}.${extra.key}`, extra.pos, `plugins.${type}: ${rule}; ${type} "${first.key}" is already declared at line ${first.pos.line}`);
      }
    }
  }
}

const MIN_REFRESH_HINT_MS = 60_000;
const HIGH_REFRESH_HINT_MS = 24 * 3_600_000;

function checkFederation(srv: MergedServer, index: PositionIndex, f: ConfigFindings): void {
  const fed = srv.federation;
  if (!fed) return;
  const bePath = ['server', 'federation', 'bundle_endpoint'];
  const be = fed.bundle_endpoint;
  if (be) {
    if (be.address !== undefined && be.address !== '' && isIP(be.address.replace(/^\[(.*)\]$/, '$1')) === 0) {
      f.add('error', 'server.federation.bundle_endpoint.address', index.value([...bePath, 'address']), `server.federation.bundle_endpoint.address: must be an IP address to listen on (got ${JSON.stringify(be.address)})`);
    }
    if (be.acme || be.profile?.https_web?.acme) {
      const at = be.acme ? [...bePath, 'acme'] : [...bePath, 'profile', 'https_web', 'acme'];
      // A warning, not an error: the configuration is SPIRE's and parses; `run` is what cannot honour it.
      f.add(
        'warning',
        'server.federation.bundle_endpoint.acme',
        index.key(at),
        'server.federation.bundle_endpoint: ACME is not supported by spire-ts, so `run` will refuse this bundle endpoint (it cannot obtain certificates from an ACME CA); use profile "https_web" with serving_cert_file, or profile "https_spiffe"',
      );
    }
    if (!be.profile && !be.acme) {
      f.add('warning', 'server.federation.bundle_endpoint', index.key(bePath), 'bundle_endpoint has no profile; "https_spiffe" is used. Set profile "https_spiffe" {} (or "https_web") explicitly: SPIRE will require it');
    }
    const hint = be.refresh_hint;
    const hintPos = index.value([...bePath, 'refresh_hint']);
    if (hint !== undefined && hint >= HIGH_REFRESH_HINT_MS) {
      f.add('warning', 'server.federation.bundle_endpoint.refresh_hint', hintPos, `refresh_hint ${shortDuration(hint)} is high: federated servers would miss unscheduled bundle updates for that long; a few minutes (e.g. 5m) is recommended`);
    }
    if (hint !== undefined && hint < MIN_REFRESH_HINT_MS) {
      f.add('warning', 'server.federation.bundle_endpoint.refresh_hint', hintPos, `refresh_hint ${shortDuration(hint)} is below the 1m minimum: bundles are not refreshed more often than once a minute`);
    }
  }
  for (const td of fed.federates_with ?? []) {
    const problem = checkTrustDomain(td.key);
    if (problem) f.add('error', `server.federation.federates_with.${td.key}`, td.pos, `server.federation.federates_with: ${JSON.stringify(td.key)}: ${problem}`);
    else if (td.key === srv.trust_domain) {
      f.add('error', `server.federation.federates_with.${td.key}`, td.pos, `server.federation.federates_with: ${JSON.stringify(td.key)} is this server's own trust domain`);
    }
  }
}

function checkExperimental(srv: MergedServer, index: PositionIndex, f: ConfigFindings, platform: NodeJS.Platform): void {
  const exp = srv.experimental;
  if (!exp) return;
  const path = ['server', 'experimental'];
  if (exp.event_timeout !== undefined && exp.sql_transaction_timeout !== undefined) {
    f.add('error', 'server.experimental.sql_transaction_timeout', index.key([...path, 'sql_transaction_timeout']), 'server.experimental: both event_timeout and sql_transaction_timeout are set; set only event_timeout');
  }
  if (exp.named_pipe_name !== undefined && platform !== 'win32') {
    f.add('error', 'server.experimental.named_pipe_name', index.key([...path, 'named_pipe_name']), 'server.experimental.named_pipe_name: named pipes exist only on Windows; use server.socket_path instead');
  }
  if (Object.values(exp).some((v) => v !== undefined)) {
    f.add('warning', 'server.experimental', index.key(path), 'experimental features are enabled: they may change or go away in any release');
  }
  for (const flag of exp.feature_flags ?? []) {
    f.add('warning', 'server.experimental.feature_flags', index.value([...path, 'feature_flags']), `developer feature flag ${JSON.stringify(flag)} is enabled`);
  }
}

type Place = (key: keyof ServerFileConfig) => Pos | undefined;

/** SPIRE's TTL warnings: an SVID TTL the ca_ttl cannot honour across CA rotations is cut short. */
function checkTtls(srv: MergedServer, place: Place, f: ConfigFindings): void {
  const caTtl = srv.ca_ttl;
  const checks: [keyof ServerFileConfig, number][] = [
    ['default_x509_svid_ttl', srv.default_x509_svid_ttl],
    ['default_jwt_svid_ttl', srv.default_jwt_svid_ttl],
  ];
  if (srv.agent_ttl !== undefined) checks.push(['agent_ttl', srv.agent_ttl]);
  for (const [key, ttl] of checks) {
    if (ttl <= maxSvidTtlFor(caTtl)) continue;
    let message: string;
    if (ttl < MAX_SVID_TTL_MS) {
      message =
        `${key} (${shortDuration(ttl)}) is too long for ca_ttl (${shortDuration(caTtl)}): SVIDs issued near a CA rotation get shorter lifetimes. ` +
        `Set ${key} to ${shortDuration(maxSvidTtlFor(caTtl))} or less, or ca_ttl to ${shortDuration(minCaTtlFor(ttl))} or more, to always get the full ${key}`;
    } else if (caTtl < minCaTtlFor(MAX_SVID_TTL_MS)) {
      message =
        `${key} (${shortDuration(ttl)}) is above the ${shortDuration(MAX_SVID_TTL_MS)} cap and ca_ttl (${shortDuration(caTtl)}) is too short for it: SVIDs get shorter lifetimes. ` +
        `Set ${key} to ${shortDuration(MAX_SVID_TTL_MS)} or less and ca_ttl to ${shortDuration(minCaTtlFor(MAX_SVID_TTL_MS))} or more, to always get the full ${key}`;
    } else {
      message =
        `${key} (${shortDuration(ttl)}) is above the cap: SVIDs get shorter lifetimes. ` +
        `Set ${key} to ${shortDuration(maxSvidTtlFor(caTtl))} or less to always get the full ${key}`;
    }
    f.add('warning', `server.${key}`, place(key) ?? place('ca_ttl'), message);
  }
}
