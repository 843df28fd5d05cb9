import type { ServiceName } from '@spire-ts/proto';
import { PLUGIN_SERVICE_NAMES, type PluginSide, type PluginType } from '@spire-ts/plugin-sdk';
import type { Logger } from '../log/logger.js';
import { listBuiltIns, resolveBuiltIn } from './builtin.js';
import { PluginHostError, pluginLabel } from './errors.js';
import { ManagedPlugin, type BackoffOptions, type HostServiceRegistration, type PluginState } from './managed.js';

/**
 * One `plugins { <Type> "<name>" { ... } }` entry, after config parsing.
 * Without `pluginCmd` the name selects a built-in plugin.
 */
export interface PluginDeclaration {
  type: PluginType;
  name: string;
  pluginCmd?: string;
  pluginArgs?: string[];
  pluginChecksum?: string;
  /** `plugin_data` re-printed as text (or a plugin_data_file's contents). */
  pluginData?: string;
  /** `enabled = false` skips the plugin. */
  enabled?: boolean;
}

export interface CatalogOptions {
  side: PluginSide;
  trustDomain: string;
  log: Logger;
  /** Directory relative plugin_cmd paths are resolved against (the config file's). */
  baseDir?: string;
  hostServices?: (decl: PluginDeclaration) => HostServiceRegistration[];
  handshakeTimeoutMs?: number;
  restart?: boolean;
  backoff?: BackoffOptions;
  onState?: (plugin: ManagedPlugin, state: PluginState, detail?: string) => void;
}

/** The service a (side, type) plugin must implement. */
export function serviceFor(side: PluginSide, type: PluginType): ServiceName {
  const name = PLUGIN_SERVICE_NAMES[side][type];
  if (!name) throw new PluginHostError('ERR_PLUGIN_CONFIG', `plugin type ${type} is not supported by spire-${side}`);
  return name as ServiceName;
}

/** Turns a declaration into a supervised (not yet started) plugin. */
export function preparePlugin(decl: PluginDeclaration, opts: CatalogOptions): ManagedPlugin {
  const label = pluginLabel(decl.type, decl.name);
  const service = serviceFor(opts.side, decl.type);
  let command: string;
  let args: string[];
  if (decl.pluginCmd) {
    command = decl.pluginCmd;
    args = decl.pluginArgs ?? [];
    if (!decl.pluginChecksum) {
      opts.log.warn('Plugin checksum not configured; the plugin binary is not verified before it is run', {
        plugin_type: decl.type,
        plugin_name: decl.name,
      });
    }
  } else {
    if (decl.pluginChecksum) {
      throw new PluginHostError('ERR_PLUGIN_CONFIG', `${label}: plugin_checksum is only meaningful with plugin_cmd`);
    }
    const builtIn = resolveBuiltIn(opts.side, decl.type, decl.name);
    if (!builtIn) {
      const known = listBuiltIns(opts.side, decl.type);
      throw new PluginHostError(
        'ERR_PLUGIN_CONFIG',
        `${label}: no built-in ${decl.type} plugin named "${decl.name}" for spire-${opts.side}` +
          ` (built-in: ${known.length ? known.join(', ') : 'none'}); set plugin_cmd to load an external plugin`,
      );
    }
    command = builtIn.command;
    args = builtIn.args;
  }
  const plugin: ManagedPlugin = new ManagedPlugin({
    launch: {
      type: decl.type,
      name: decl.name,
      command,
      args,
      ...(decl.pluginChecksum ? { checksum: decl.pluginChecksum } : {}),
      ...(opts.baseDir ? { cwd: opts.baseDir } : {}),
      ...(opts.handshakeTimeoutMs ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
    },
    service,
    ...(decl.pluginData !== undefined ? { pluginData: decl.pluginData } : {}),
    trustDomain: opts.trustDomain,
    log: opts.log,
    hostServices: opts.hostServices?.(decl) ?? [],
    ...(opts.restart !== undefined ? { restart: opts.restart } : {}),
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    onState: (s, d) => opts.onState?.(plugin, s, d),
  });
  return plugin;
}

/**
 * A set of loaded plugins. `load` starts them all (concurrently) and, if any
 * fails, stops the ones already started before rethrowing, so a failed start
 * never leaves orphan plugin processes.
 */
export class Catalog {
  private constructor(readonly plugins: ManagedPlugin[]) {}

  static async load(decls: PluginDeclaration[], opts: CatalogOptions): Promise<Catalog> {
    const seen = new Set<string>();
    for (const d of decls) {
      const key = `${d.type}/${d.name}`;
      if (seen.has(key)) throw new PluginHostError('ERR_PLUGIN_CONFIG', `${pluginLabel(d.type, d.name)}: declared more than once`);
      seen.add(key);
    }
    const plugins = decls.filter((d) => d.enabled !== false).map((d) => preparePlugin(d, opts));
    const results = await Promise.allSettled(plugins.map((p) => p.start()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.allSettled(plugins.map((p) => p.stop()));
      throw failed.reason;
    }
    opts.log.info('Plugins loaded', { count: plugins.length });
    return new Catalog(plugins);
  }

  /** Plugins of a type, in declaration order. */
  ofType(type: PluginType): ManagedPlugin[] {
    return this.plugins.filter((p) => p.type === type);
  }

  /** The single plugin of a type; errors name what is missing or duplicated. */
  one(type: PluginType): ManagedPlugin {
    const found = this.ofType(type);
    if (found.length !== 1) {
      throw new PluginHostError('ERR_PLUGIN_CONFIG', `expected exactly one ${type} plugin, found ${found.length}${found.length ? ` (${found.map((p) => p.name).join(', ')})` : ''}`);
    }
    return found[0]!;
  }

  /** Stops every plugin (in reverse order of declaration). */
  async close(): Promise<void> {
    for (const p of [...this.plugins].reverse()) await p.stop();
  }
}
