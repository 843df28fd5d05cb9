/**
 * Validate-only plugin loading for `spire-agent validate`: each declared
 * plugin is launched and initialised like the catalog does, asked to
 * Validate its `plugin_data` (never Configure, so nothing is opened or
 * created), and stopped.
 *
 * `NodeAttestor "join_token"` is built into the agent in SPIRE, not a
 * plugin: without a `plugin_cmd` it is recognised here without launching
 * anything (and the agent's run skips it when loading the catalog).
 *
 * @module
 */

import { builtInComponentNotes, isBuiltInComponent, preparePlugin } from '@spire-ts/common';
import type { Logger, PluginDeclaration } from '@spire-ts/common';

/**
 * What one plugin said about its configuration: `id` is SPIRE's
 * `Type "name"`; `notes` are empty when it accepted its configuration.
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
 * Whether a declaration names an agent component built into spire-agent
 * itself rather than a plugin process: `NodeAttestor "join_token"` without
 * a `plugin_cmd`.
 *
 * @example
 * ```ts
 * isBuiltIntoAgent({ type: 'NodeAttestor', name: 'join_token' }); // true
 * ```
 */
export function isBuiltIntoAgent(decl: PluginDeclaration): boolean {
  return isBuiltInComponent(decl);
}


/**
 * Launches every enabled plugin (concurrently), asks each to Validate its
 * `plugin_data`, and stops them all; components built into the agent are
 * checked in-process. Rejects with the catalog's error (a PluginHostError)
 * if a plugin cannot be found, launched or initialised.
 *
 * @example
 * ```ts
 * const results = await validatePlugins(config.plugins, { trustDomain: 'example.org', log: nullLogger });
 * const bad = results.filter((r) => r.notes.length > 0);
 * ```
 */
export async function validatePlugins(decls: readonly PluginDeclaration[], opts: ValidatePluginsOptions): Promise<PluginValidation[]> {
  const enabled = decls.filter((d) => d.enabled !== false);
  const runs = enabled.map((d) =>
    isBuiltIntoAgent(d)
      ? undefined
      : preparePlugin(d, {
          side: 'agent',
          trustDomain: opts.trustDomain,
          log: opts.log,
          ...(opts.handshakeTimeoutMs ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
        }),
  );
  const results = await Promise.allSettled(runs.map((p, i) => (p ? p.validateOnly() : Promise.resolve(builtInComponentNotes(enabled[i]!, 'agent')))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r, i) => ({
    id: `${enabled[i]!.type} "${enabled[i]!.name}"`,
    notes: (r as PromiseFulfilledResult<string[]>).value,
  }));
}
