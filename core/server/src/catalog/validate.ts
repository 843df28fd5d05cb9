/**
 * Validate-only plugin loading for `spire-server validate`: each declared
 * plugin is launched and initialised like the catalog does, asked to
 * Validate its `plugin_data` (never Configure, so nothing is opened or
 * created), and stopped.
 *
 * @module
 */

import { builtInComponentNotes, isBuiltInComponent, preparePlugin } from '@spire-ts/common';
import type { Logger, PluginDeclaration } from '@spire-ts/common';

/**
 * What one plugin said about its configuration: `id` is SPIRE's
 * `Type "name"`; `notes` are empty when the plugin accepted it.
 *
 * @example
 * ```ts
 * const v: PluginValidation = { id: 'KeyManager "memory"', notes: ['plugin_data:1:1: unknown key "x"'] };
 * ```
 */
export interface PluginValidation {
  readonly id: string;
  readonly notes: readonly string[];
}

/** Options of {@link validatePlugins}. */
export interface ValidatePluginsOptions {
  readonly trustDomain: string;
  readonly log: Logger;
  readonly handshakeTimeoutMs?: number;
}

/**
 * Launches every enabled plugin (concurrently), asks each to Validate its
 * `plugin_data`, and stops them all. Rejects with the catalog's error (a
 * {@link PluginHostError}) if a plugin cannot be found, launched or
 * initialised, after stopping the others.
 *
 * @example
 * ```ts
 * const results = await validatePlugins(config.plugins, { trustDomain: 'example.org', log: nullLogger });
 * const bad = results.filter((r) => r.notes.length > 0);
 * ```
 */
export async function validatePlugins(decls: readonly PluginDeclaration[], opts: ValidatePluginsOptions): Promise<PluginValidation[]> {
  const enabled = decls.filter((d) => d.enabled !== false);
  // preparePlugin checks each declaration as the catalog would (unknown built-in, checksum without plugin_cmd, ...).
  // NodeAttestor "join_token" is built into the server: checked here, not launched.
  const plugins = enabled.map((d) =>
    isBuiltInComponent(d)
      ? undefined
      : preparePlugin(d, {
          side: 'server',
          trustDomain: opts.trustDomain,
          log: opts.log,
          ...(opts.handshakeTimeoutMs ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
        }),
  );
  const results = await Promise.allSettled(plugins.map((p, i) => (p ? p.validateOnly() : Promise.resolve(builtInComponentNotes(enabled[i]!, 'server')))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r, i) => ({
    id: `${enabled[i]!.type} "${enabled[i]!.name}"`,
    notes: (r as PromiseFulfilledResult<string[]>).value,
  }));
}
