/** Opening a SqlDataStore from a validated config: connect, migrate, ready. */
import { invalidArgument } from './errors.js';
import { ConnectionStringError } from './connstr/common.js';
import { parseMySqlDsn } from './connstr/mysql.js';
import { parsePostgresConnectionString } from './connstr/postgres.js';
import { parseSqliteConnectionString } from './connstr/sqlite.js';
import { redactConnectionString } from './config.js';
import type { SqlConfig } from './config.js';
import { MySqlDatabase } from './dialect/mysql.js';
import { PostgresDatabase } from './dialect/postgres.js';
import { SqliteDatabase } from './dialect/sqlite.js';
import type { Database } from './dialect/types.js';
import { nullLogger } from './logger.js';
import type { Logger } from './logger.js';
import { migrate } from './migrate.js';
import { SqlDataStore } from './store.js';

export interface OpenOptions {
  logger?: Logger;
  /** Clock in Unix seconds (tests inject a fake one). */
  now?: () => number;
}

function parse<T>(fn: () => T, key: string): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConnectionStringError) throw invalidArgument(`${key}: ${err.message}`);
    throw err;
  }
}

function connect(config: SqlConfig, log: Logger): Database {
  const pool = { maxOpenConns: config.maxOpenConns, maxIdleConns: config.maxIdleConns, connMaxLifetimeMs: config.connMaxLifetimeMs };
  switch (config.databaseType) {
    case 'sqlite3':
      return new SqliteDatabase(parse(() => parseSqliteConnectionString(config.connectionString), 'connection_string'), log);
    case 'postgres': {
      const primary = parse(() => parsePostgresConnectionString(config.connectionString), 'connection_string');
      const ro = config.roConnectionString ? parse(() => parsePostgresConnectionString(config.roConnectionString as string), 'ro_connection_string') : undefined;
      return new PostgresDatabase(primary, ro, pool, log);
    }
    case 'mysql': {
      const primary = parse(() => parseMySqlDsn(config.connectionString), 'connection_string');
      const ro = config.roConnectionString ? parse(() => parseMySqlDsn(config.roConnectionString as string), 'ro_connection_string') : undefined;
      const files = { rootCaPath: config.rootCaPath, clientCertPath: config.clientCertPath, clientKeyPath: config.clientKeyPath };
      return new MySqlDatabase(primary, ro, files, pool, log);
    }
    default:
      throw invalidArgument(`database_type ${JSON.stringify(config.databaseType)} is not supported`);
  }
}

/**
 * Connects to the configured database, migrates its schema (unless
 * `disableMigration`) and returns the DataStore. Fails with UNAVAILABLE,
 * naming the host, when the database cannot be reached.
 *
 * @example
 * ```ts
 * const { config } = buildConfig({ database_type: 'sqlite3', connection_string: './.data/datastore.sqlite3' });
 * const ds = await openSqlDataStore(config!, { logger });
 * ```
 */
export async function openSqlDataStore(config: SqlConfig, opts: OpenOptions = {}): Promise<SqlDataStore> {
  const log = opts.logger ?? nullLogger;
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  log.info('opening datastore', {
    database_type: config.databaseType,
    connection_string: redactConnectionString(config.databaseType, config.connectionString),
    ...(config.roConnectionString ? { ro_connection_string: redactConnectionString(config.databaseType, config.roConnectionString) } : {}),
  });
  const db = connect(config, log);
  const store = new SqlDataStore(db, log, now);
  try {
    const version = await migrate(db, { disableMigration: config.disableMigration, log, now });
    log.info('datastore ready', { target: db.target, schema_version: version });
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return store;
}
