/**
 * The DataStore "sql" plugin: SPIRE's `plugin_data` keys checked at
 * Configure/Validate, one open store at a time (a new Configure opens the new
 * store, then retires the old one once its in-flight calls finish), closed on
 * Deinit.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ConfigError, createLogger, PluginError, s, schemaConfig } from '@spire-ts/plugin-sdk';
import type { BuiltConfig, ConfigIssue, Infer, Logger, PluginDefinition } from '@spire-ts/plugin-sdk';
import { buildConfig } from './config.js';
import type { ConfigResult, SqlConfig } from './config.js';
import { toPluginError } from './grpc/errors.js';
import { datastoreHandlers } from './grpc/handlers.js';
import { DATASTORE_SERVICE, TEST_CLOCK_ENV } from './grpc/service.js';
import type { DataStoreService } from './grpc/service.js';
import { openSqlDataStore } from './open.js';
import type { DataStore } from './types.js';

/**
 * Types only; meaning and cross-key rules are buildConfig's (config.ts), so
 * Validate lists every semantic problem at once. `database_type` is plain
 * because SPIRE also allows a block there (`database_type "aws_postgres" {…}`),
 * which buildConfig refuses by name.
 */
const pluginDataSchema = s.object({
  database_type: s.plain(),
  connection_string: s.string(),
  ro_connection_string: s.string(),
  root_ca_path: s.string(),
  client_cert_path: s.string(),
  client_key_path: s.string(),
  max_open_conns: s.int(),
  max_idle_conns: s.int(),
  conn_max_lifetime: s.string(),
  disable_migration: s.bool(),
});

export type PluginData = Infer<typeof pluginDataSchema>;

/** `plugin_data` (as decoded by the schema) to the store's configuration, with every problem as a note. */
export function sqlConfigFrom(value: PluginData): ConfigResult {
  const data: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) data[k] = v;
  return buildConfig(data);
}

function configOrThrow(value: PluginData): SqlConfig {
  const { config, notes } = sqlConfigFrom(value);
  if (config) return config;
  const issues: ConfigIssue[] = notes.map((message) => ({ code: 'invalid', severity: 'error', message, path: 'plugin_data' }));
  throw new ConfigError(issues);
}

interface Held {
  store: DataStore;
  users: number;
  retired: boolean;
}

/** The configured store; replaced stores close once their last call returns. */
class StoreSlot {
  private current: Held | undefined;

  constructor(private readonly log: Logger) {}

  async use<T>(fn: (ds: DataStore) => Promise<T>): Promise<T> {
    const held = this.current;
    if (!held) throw PluginError.failedPrecondition('not configured');
    held.users++;
    try {
      return await fn(held.store);
    } finally {
      held.users--;
      if (held.retired && held.users === 0) void this.close(held);
    }
  }

  replace(store: DataStore | undefined): Promise<void> {
    const old = this.current;
    this.current = store ? { store, users: 0, retired: false } : undefined;
    if (!old) return Promise.resolve();
    old.retired = true;
    return old.users === 0 ? this.close(old) : Promise.resolve();
  }

  private async close(held: Held): Promise<void> {
    try {
      await held.store.close();
    } catch (err) {
      this.log.warn('closing the previous datastore failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

export interface SqlDataStorePluginOptions {
  /** Defaults to hclog JSON on stderr. */
  logger?: Logger;
  /** The store's clock in Unix seconds. */
  now?: () => number;
  /**
   * Honour the per-call test clock (TEST_NOW_METADATA). Defaults to
   * `SPIRE_TS_DATASTORE_TEST_CLOCK=1` in the environment; never set it in production.
   */
  testClock?: boolean;
}

/**
 * The plugin definition, for `serve()` in the binary and for in-process
 * tests over the real wire.
 *
 * @example
 * ```ts
 * await serve(sqlDataStorePlugin());
 * ```
 */
export function sqlDataStorePlugin(opts: SqlDataStorePluginOptions = {}): PluginDefinition<DataStoreService, BuiltConfig<PluginData>> {
  const log = opts.logger ?? createLogger();
  const realNow = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const callClock = new AsyncLocalStorage<number>();
  const now = (): number => callClock.getStore() ?? realNow();
  const slot = new StoreSlot(log);
  // Configure calls apply one at a time, in order.
  let configuring: Promise<void> = Promise.resolve();

  const apply = async (value: PluginData): Promise<void> => {
    const config = configOrThrow(value);
    let store: DataStore;
    try {
      store = await openSqlDataStore(config, { logger: log, now });
    } catch (err) {
      throw toPluginError(err);
    }
    await slot.replace(store);
  };

  return {
    service: DATASTORE_SERVICE,
    impl: datastoreHandlers({
      use: (fn, at) => (at === undefined ? slot.use(fn) : callClock.run(at, () => slot.use(fn))),
      testClock: opts.testClock ?? process.env[TEST_CLOCK_ENV] === '1',
    }),
    config: schemaConfig(pluginDataSchema, {
      check: (value) => void configOrThrow(value),
      apply: ({ value }) => {
        const next = configuring.then(() => apply(value));
        configuring = next.catch(() => undefined);
        return next;
      },
    }),
    deinit: async () => {
      await configuring;
      await slot.replace(undefined);
    },
  };
}
