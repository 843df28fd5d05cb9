/**
 * Components SPIRE declares as plugins but builds into the server and agent:
 * `NodeAttestor "join_token"` (without a `plugin_cmd`). They are configured
 * in the `plugins` block like any plugin but run in-process, with no plugin_data.
 */
import type { PluginDeclaration } from './catalog.js';
import type { PluginSide } from '@spire-ts/plugin-sdk';

/**
 * True for a declaration that names a component built into spire-server and
 * spire-agent rather than a plugin process.
 *
 * @example
 * ```ts
 * isBuiltInComponent({ type: 'NodeAttestor', name: 'join_token' }); // true
 * ```
 */
export function isBuiltInComponent(decl: PluginDeclaration): boolean {
  return decl.type === 'NodeAttestor' && decl.name === 'join_token' && !decl.pluginCmd;
}

/** Notes on a built-in component's configuration: join_token takes no plugin_data. */
export function builtInComponentNotes(decl: PluginDeclaration, side: PluginSide): string[] {
  const data = (decl.pluginData ?? '').trim();
  if (data === '' || data === '{}') return [];
  const where = side === 'agent' ? 'set the token with agent.join_token, join_token_file or -joinToken' : 'create tokens with `spire-server token generate`';
  return [`plugin_data: the built-in join_token node attestor takes no configuration; ${where}`];
}

/** True if the enabled declarations include the built-in join_token attestor. */
export function joinTokenEnabled(decls: readonly PluginDeclaration[]): boolean {
  return decls.some((d) => d.enabled !== false && isBuiltInComponent(d));
}
