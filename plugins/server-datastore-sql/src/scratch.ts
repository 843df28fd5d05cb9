/**
 * Throwaway databases for contract runs against a running DataStore
 * (`spire-conformance --plugin-data` with a `{{db}}` placeholder): each
 * `create()` makes a new empty database next to the one the template names,
 * and `close()` drops them all.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseType } from './config.js';
import { parseMySqlDsn } from './connstr/mysql.js';
import { parsePostgresConnectionString } from './connstr/postgres.js';
import { MySqlDatabase } from './dialect/mysql.js';
import { PostgresDatabase } from './dialect/postgres.js';
import type { Database } from './dialect/types.js';
import { invalidArgument } from './errors.js';
import { nullLogger } from './logger.js';
import type { Logger } from './logger.js';

/** Where a template puts the database: a file path for sqlite3, a database name otherwise. */
export const DB_PLACEHOLDER = '{{db}}';

export interface ScratchDatabases {
  /** What to put in place of `{{db}}` for a new, empty database. */
  create(): Promise<string>;
  /** A connection string of the same type whose server cannot be reached, and the host an error must name. */
  unreachable(): { connectionString: string; host: string };
  /** Drops every database created (sqlite3: removes their directory). */
  close(): Promise<void>;
}

const POOL = { maxOpenConns: 2, maxIdleConns: 1, connMaxLifetimeMs: 0 };
const UNREACHABLE_HOST = '127.0.0.1:1';

function sqliteScratch(): ScratchDatabases {
  let dir: string | undefined;
  let n = 0;
  const unreachable = '/dev/null/spire-ts-unreachable/datastore.sqlite3';
  return {
    create: () => {
      dir ??= mkdtempSync(join(tmpdir(), 'spire-ts-scratch-'));
      return Promise.resolve(join(dir, `datastore-${++n}.sqlite3`));
    },
    unreachable: () => ({ connectionString: unreachable, host: unreachable }),
    close: () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

function pgUnreachable(cs: string): string {
  if (/^postgres(ql)?:\/\//i.test(cs)) {
    const url = new URL(cs);
    url.hostname = '127.0.0.1';
    url.port = '1';
    url.searchParams.set('connect_timeout', '3');
    return url.toString();
  }
  const kept = cs.split(/\s+/).filter((kv) => kv !== '' && !/^(host|hostaddr|port|connect_timeout)=/.test(kv));
  return [...kept, 'host=127.0.0.1', 'port=1', 'connect_timeout=3'].join(' ');
}

function mysqlUnreachable(dsn: string): string {
  const slash = dsn.lastIndexOf('/');
  const left = dsn.slice(0, slash);
  const at = left.lastIndexOf('@');
  const creds = at === -1 ? '' : left.slice(0, at + 1);
  const right = dsn.slice(slash);
  return `${creds}tcp(${UNREACHABLE_HOST})${right}${right.includes('?') ? '&' : '?'}timeout=3s`;
}

function serverScratch(type: 'postgres' | 'mysql', template: string, log: Logger): ScratchDatabases {
  const created: string[] = [];
  const prefix = `spire_ts_scratch_${process.pid}_${randomBytes(3).toString('hex')}`;
  let admin: Database | undefined;
  const quote = (name: string): string => (type === 'postgres' ? `"${name}"` : `\`${name}\``);
  const connect = (): Database => {
    if (admin) return admin;
    if (type === 'postgres') {
      admin = new PostgresDatabase(parsePostgresConnectionString(template.replaceAll(DB_PLACEHOLDER, 'postgres')), undefined, POOL, log);
    } else {
      admin = new MySqlDatabase(parseMySqlDsn(template.replaceAll(DB_PLACEHOLDER, '')), undefined, {}, POOL, log);
    }
    return admin;
  };
  return {
    create: async () => {
      const name = `${prefix}_${created.length + 1}`;
      await connect().exec(`CREATE DATABASE ${quote(name)}`);
      created.push(name);
      return name;
    },
    unreachable: () => {
      const cs = template.replaceAll(DB_PLACEHOLDER, 'none');
      return { connectionString: type === 'postgres' ? pgUnreachable(cs) : mysqlUnreachable(cs), host: UNREACHABLE_HOST };
    },
    close: async () => {
      if (!admin) return;
      const force = type === 'postgres' ? ' WITH (FORCE)' : '';
      for (const name of created.splice(0)) {
        await admin.exec(`DROP DATABASE IF EXISTS ${quote(name)}${force}`).catch((err: unknown) =>
          log.warn('could not drop a scratch database', { database: name, error: err instanceof Error ? err.message : String(err) }));
      }
      await admin.close();
      admin = undefined;
    },
  };
}

/**
 * Scratch databases shaped by `template`, a `connection_string` containing
 * `{{db}}`: for sqlite3 the placeholder becomes a file in a private temp
 * directory; for postgres and mysql a uniquely named database created on the
 * template's server (connecting to `postgres` / no database to create it).
 *
 * @example
 * ```ts
 * const dbs = scratchDatabases('postgres', 'postgres://postgres@127.0.0.1/{{db}}?sslmode=disable');
 * const name = await dbs.create();
 * await dbs.close();
 * ```
 */
export function scratchDatabases(type: DatabaseType, template: string, opts: { logger?: Logger } = {}): ScratchDatabases {
  if (type === 'sqlite3') return sqliteScratch();
  if (!template.includes(DB_PLACEHOLDER)) throw invalidArgument(`connection_string: no ${DB_PLACEHOLDER} placeholder to put scratch databases in`);
  return serverScratch(type, template, opts.logger ?? nullLogger);
}
