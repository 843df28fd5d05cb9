/**
 * A contract StoreFactory over real DataStore plugin processes: one plugin
 * for the store under test and, on demand, a second one for `another()` (a
 * second server on the same database). Both are started once and
 * re-configured (Configure RPC) onto each test's fresh database; the clock
 * travels with every call (the plugin runs with SPIRE_TS_DATASTORE_TEST_CLOCK=1).
 */
import { ManagedPlugin, nullLogger, unary, type Logger } from '@spire-ts/common';
import { CONFIG_SERVICE } from '@spire-ts/plugin-sdk';
import { DATASTORE_SERVICE, fromGrpcError, TEST_CLOCK_ENV } from '@spire-ts/server-datastore-sql/wire';
import type { DataStore, DataStoreService } from '@spire-ts/server-datastore-sql/wire';
import type { PluginTarget } from '../../target.js';
import type { StoreFactory } from './contract.js';
import { WireDataStore } from './wire.js';

/** Where the contract's databases come from, as `plugin_data` for the plugin. */
export interface DatabaseProvider {
  /** plugin_data for a new, empty database. */
  fresh(): Promise<string>;
  /** plugin_data whose database cannot be reached, and the host errors must name (undefined: cannot make one). */
  unreachable(): { pluginData: string; host: string } | undefined;
  close(): Promise<void>;
}

export interface PluginStoreFactory extends StoreFactory {
  /** Stops the plugins and drops the databases. */
  close(): Promise<void>;
}

const CONFIGURE_DEADLINE_MS = 60_000;

/** One plugin process, configured on demand. */
class PluginHandle {
  private plugin: ManagedPlugin<DataStoreService> | undefined;
  /** The plugin_data it is configured with (undefined after a failed Configure). */
  private data: string | undefined;

  constructor(private readonly target: PluginTarget, private readonly log: Logger) {}

  async configure(pluginData: string): Promise<ManagedPlugin<DataStoreService>> {
    if (!this.plugin) {
      const plugin = new ManagedPlugin({
        launch: { ...this.target.launch, env: { ...this.target.launch.env, [TEST_CLOCK_ENV]: '1' } },
        service: DATASTORE_SERVICE,
        pluginData,
        trustDomain: this.target.trustDomain,
        log: this.log,
        restart: false,
      });
      await plugin.start();
      this.plugin = plugin;
      this.data = pluginData;
      return plugin;
    }
    if (this.data !== pluginData) {
      this.data = undefined;
      try {
        await unary(this.plugin.serviceClient(CONFIG_SERVICE), 'Configure', {
          core_configuration: { trust_domain: this.target.trustDomain },
          hcl_configuration: pluginData,
        }, { deadlineMs: CONFIGURE_DEADLINE_MS });
      } catch (err) {
        throw fromGrpcError(err, this.plugin.label);
      }
      this.data = pluginData;
    }
    return this.plugin;
  }

  async stop(): Promise<void> {
    await this.plugin?.stop();
    this.plugin = undefined;
  }
}

/**
 * The contract's factory for a DataStore plugin `target`, its databases
 * from `databases`.
 *
 * @example
 * ```ts
 * const factory = pluginStoreFactory(builtInTarget('server:DataStore:sql'), templateDatabases(pluginData));
 * datastoreContract('sql over the wire', factory);
 * afterAll(() => factory.close());
 * ```
 */
export function pluginStoreFactory(target: PluginTarget, databases: DatabaseProvider, log: Logger = nullLogger): PluginStoreFactory {
  const primary = new PluginHandle(target, log);
  const secondary = new PluginHandle(target, log);
  let current: string | undefined;
  const store = (plugin: ManagedPlugin<DataStoreService>, now?: () => number): DataStore => new WireDataStore(plugin, now ? { now } : {});
  const bad = databases.unreachable();
  return {
    fresh: async ({ now }) => {
      current = await databases.fresh();
      return store(await primary.configure(current), now);
    },
    another: async ({ now }) => {
      if (current === undefined) throw new Error('another() before fresh()');
      return store(await secondary.configure(current), now);
    },
    ...(bad ? { unreachable: () => ({ host: bad.host, open: async () => store(await primary.configure(bad.pluginData)) }) } : {}),
    close: async () => {
      await Promise.all([primary.stop(), secondary.stop()]);
      await databases.close();
    },
  };
}
