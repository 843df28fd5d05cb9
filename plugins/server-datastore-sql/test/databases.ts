/**
 * Real databases for the tests: a fresh uniquely named database per test file
 * on the local PostgreSQL / MariaDB, reset between tests, dropped at the end.
 * When a server is down, outside CI the dialect's tests are skipped with one
 * line saying what to start; with CI=true the test file fails.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { DatabaseProvider, StoreFactory } from '@spire-ts/conformance/datastore';
import { buildConfig, DATA_TABLES, openSqlDataStore } from '../src/index.js';
import type { DataStore, Logger, SqlConfig } from '../src/index.js';

export const IN_CI = process.env['CI'] === 'true';
const PG = { host: process.env['PGHOST_TEST'] ?? '127.0.0.1', port: Number(process.env['PGPORT_TEST'] ?? 5432), user: 'postgres' };
const MY = { host: process.env['MYSQL_HOST_TEST'] ?? '127.0.0.1', port: Number(process.env['MYSQL_PORT_TEST'] ?? 3306), user: 'root' };

export function uniqueDbName(kind: string): string {
  return `spire_ts_test_${kind}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export interface Admin {
  readonly kind: 'postgres' | 'mysql';
  connectionString(db: string): string;
  create(db: string): Promise<void>;
  drop(db: string): Promise<void>;
  /** Empties every data table of `db` (no-op before the schema exists). */
  reset(db: string): Promise<void>;
  /** Runs one statement against `db`. */
  run(db: string, sql: string): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

const RESET_TABLES = DATA_TABLES.filter((t) => t !== 'ds_sequences');

export async function postgresAdmin(): Promise<Admin | string> {
  const admin = new pg.Client({ ...PG, database: 'postgres', connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    return `PostgreSQL is not reachable at ${PG.host}:${PG.port} (${(err as Error).message})`;
  }
  const clients = new Map<string, pg.Client>();
  const client = async (db: string): Promise<pg.Client> => {
    let c = clients.get(db);
    if (!c) {
      c = new pg.Client({ ...PG, database: db });
      await c.connect();
      clients.set(db, c);
    }
    return c;
  };
  return {
    kind: 'postgres',
    connectionString: (db) => `postgres://postgres@${PG.host}:${PG.port}/${db}?sslmode=disable`,
    create: async (db) => void (await admin.query(`CREATE DATABASE "${db}"`)),
    drop: async (db) => {
      await clients.get(db)?.end();
      clients.delete(db);
      await admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
    },
    reset: async (db) => {
      const c = await client(db);
      const exists = await c.query("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'ds_sequences'");
      if (exists.rowCount === 0) return;
      await c.query(`TRUNCATE ${RESET_TABLES.join(', ')} RESTART IDENTITY; UPDATE ds_sequences SET value = 0`);
    },
    run: async (db, sql) => (await (await client(db)).query(sql)).rows as Array<Record<string, unknown>>,
    close: async () => {
      await Promise.all([...clients.values()].map((c) => c.end()));
      await admin.end();
    },
  };
}

export async function mysqlAdmin(): Promise<Admin | string> {
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ ...MY, connectTimeout: 3000 });
  } catch (err) {
    return `MySQL/MariaDB is not reachable at ${MY.host}:${MY.port} (${(err as Error).message})`;
  }
  return {
    kind: 'mysql',
    connectionString: (db) => `root@tcp(${MY.host}:${MY.port})/${db}?parseTime=true`,
    create: async (db) => void (await admin.query(`CREATE DATABASE \`${db}\``)),
    drop: async (db) => void (await admin.query(`DROP DATABASE IF EXISTS \`${db}\``)),
    reset: async (db) => {
      const [rows] = await admin.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = 'ds_sequences'`, [db]);
      if ((rows as unknown[]).length === 0) return;
      for (const t of RESET_TABLES) await admin.query(`DELETE FROM \`${db}\`.${t}`);
      await admin.query(`UPDATE \`${db}\`.ds_sequences SET value = 0`);
    },
    run: async (db, sql) => {
      await admin.query(`USE \`${db}\``);
      const [rows] = await admin.query(sql);
      return (Array.isArray(rows) ? rows : []) as Array<Record<string, unknown>>;
    },
    close: () => admin.end(),
  };
}

/** What to say when a database is missing; with CI=true this is an error instead. */
export function unavailableNotice(reason: string, install: string): string {
  return `${reason}: skipping these DataStore tests. ${install}`;
}

export function configFor(kind: 'postgres' | 'mysql' | 'sqlite3', connectionString: string, extra: Record<string, unknown> = {}): SqlConfig {
  const { config, notes } = buildConfig({ database_type: kind, connection_string: connectionString, ...extra });
  if (!config) throw new Error(notes.join('; '));
  return config;
}

export function quietLogger(lines: string[] = []): Logger {
  const push = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  return { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

/** The contract factory for a server database: reset before each test, then open. */
export function serverFactory(admin: Admin, db: () => string, unreachable: { cs: string; host: string }): StoreFactory {
  const open = (now: () => number): Promise<DataStore> =>
    openSqlDataStore(configFor(admin.kind, admin.connectionString(db()), { max_open_conns: 8 }), { now, logger: quietLogger() });
  return {
    fresh: async ({ now }) => {
      await admin.reset(db());
      return open(now);
    },
    another: ({ now }) => open(now),
    unreachable: () => ({
      host: unreachable.host,
      open: () => openSqlDataStore(configFor(admin.kind, unreachable.cs), { logger: quietLogger() }),
    }),
  };
}

/**
 * The same database for every test, emptied before each: the plugin keeps
 * its store (its plugin_data does not change), as a server would.
 */
export function resetDatabases(admin: Admin, db: () => string, unreachable: { cs: string; host: string }): DatabaseProvider {
  const data = (cs: string): string => `database_type = "${admin.kind}"\nconnection_string = ${JSON.stringify(cs)}\nmax_open_conns = 8\n`;
  return {
    fresh: async () => {
      await admin.reset(db());
      return data(admin.connectionString(db()));
    },
    unreachable: () => ({ pluginData: data(unreachable.cs), host: unreachable.host }),
    close: () => Promise.resolve(),
  };
}
