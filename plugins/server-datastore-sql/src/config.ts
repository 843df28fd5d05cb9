/**
 * The plugin's `plugin_data`, with SPIRE's keys, validated completely up front.
 * `buildConfig` collects every problem as a note (so Validate can list them);
 * Configure fails on the first.
 */
import { ConnectionStringError, parseGoDuration } from './connstr/common.js';
import { parseMySqlDsn, redactMySql } from './connstr/mysql.js';
import { parsePostgresConnectionString, redactPostgres } from './connstr/postgres.js';
import { parseSqliteConnectionString, redactSqlite } from './connstr/sqlite.js';

export type DatabaseType = 'sqlite3' | 'postgres' | 'mysql';

export interface SqlConfig {
  databaseType: DatabaseType;
  connectionString: string;
  /** Read replica for reads that tolerate staleness (not for sqlite3). */
  roConnectionString?: string;
  /** MySQL TLS files. */
  rootCaPath?: string;
  clientCertPath?: string;
  clientKeyPath?: string;
  maxOpenConns: number;
  maxIdleConns: number;
  /** 0 = unlimited. */
  connMaxLifetimeMs: number;
  disableMigration: boolean;
}

export const DEFAULT_MAX_CONNS = 100;

const KEYS = new Set([
  'database_type', 'connection_string', 'ro_connection_string', 'root_ca_path', 'client_cert_path', 'client_key_path',
  'max_open_conns', 'max_idle_conns', 'conn_max_lifetime', 'disable_migration',
]);

export interface ConfigResult {
  config?: SqlConfig;
  /** Every problem found, each naming its key. Empty when `config` is set. */
  notes: string[];
}

export function buildConfig(data: Readonly<Record<string, unknown>>): ConfigResult {
  const notes: string[] = [];
  for (const key of Object.keys(data)) if (!KEYS.has(key)) notes.push(`unknown configuration key ${JSON.stringify(key)}`);

  const dbType = data['database_type'];
  let databaseType: DatabaseType | undefined;
  if (dbType === 'sqlite3' || dbType === 'postgres' || dbType === 'mysql') databaseType = dbType;
  else if (dbType === undefined || dbType === '') notes.push('database_type is required (sqlite3, postgres or mysql)');
  else if (typeof dbType === 'object') notes.push('database_type blocks (aws_postgres, aws_mysql) are not supported');
  else notes.push(`database_type ${JSON.stringify(dbType)} is not supported (use sqlite3, postgres or mysql)`);

  const str = (key: string): string | undefined => {
    const v = data[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      notes.push(`${key} must be a string`);
      return undefined;
    }
    return v;
  };
  const int = (key: string): number | undefined => {
    const v = data[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      notes.push(`${key} must be an integer`);
      return undefined;
    }
    return v;
  };

  const connectionString = str('connection_string');
  if (!connectionString) notes.push('connection_string is required');
  const roConnectionString = str('ro_connection_string');
  if (databaseType && connectionString) checkConnectionString(databaseType, 'connection_string', connectionString, notes);
  if (databaseType && databaseType !== 'sqlite3' && roConnectionString) {
    checkConnectionString(databaseType, 'ro_connection_string', roConnectionString, notes);
  }

  const tlsFiles = { rootCaPath: str('root_ca_path'), clientCertPath: str('client_cert_path'), clientKeyPath: str('client_key_path') };
  if (databaseType && databaseType !== 'mysql' && (tlsFiles.rootCaPath || tlsFiles.clientCertPath || tlsFiles.clientKeyPath)) {
    notes.push('root_ca_path, client_cert_path and client_key_path apply to mysql only');
  }
  if (Boolean(tlsFiles.clientCertPath) !== Boolean(tlsFiles.clientKeyPath)) {
    notes.push('client_cert_path and client_key_path must be set together');
  }

  const maxOpen = int('max_open_conns');
  const maxIdle = int('max_idle_conns');
  let connMaxLifetimeMs = 0;
  const lifetime = data['conn_max_lifetime'];
  if (lifetime !== undefined) {
    if (typeof lifetime !== 'string') notes.push('conn_max_lifetime must be a duration string such as "1h"');
    else {
      try {
        connMaxLifetimeMs = Math.max(0, parseGoDuration(lifetime));
      } catch {
        notes.push(`conn_max_lifetime: invalid duration ${JSON.stringify(lifetime)}`);
      }
    }
  }
  const disable = data['disable_migration'];
  if (disable !== undefined && typeof disable !== 'boolean') notes.push('disable_migration must be a boolean');

  if (notes.length || !databaseType || !connectionString) return { notes };
  const config: SqlConfig = {
    databaseType,
    connectionString,
    maxOpenConns: maxOpen !== undefined && maxOpen > 0 ? maxOpen : DEFAULT_MAX_CONNS,
    maxIdleConns: maxIdle !== undefined && maxIdle >= 0 ? maxIdle : DEFAULT_MAX_CONNS,
    connMaxLifetimeMs,
    disableMigration: disable === true,
  };
  if (roConnectionString && databaseType !== 'sqlite3') config.roConnectionString = roConnectionString;
  if (tlsFiles.rootCaPath) config.rootCaPath = tlsFiles.rootCaPath;
  if (tlsFiles.clientCertPath) config.clientCertPath = tlsFiles.clientCertPath;
  if (tlsFiles.clientKeyPath) config.clientKeyPath = tlsFiles.clientKeyPath;
  return { config, notes };
}

function checkConnectionString(type: DatabaseType, key: string, cs: string, notes: string[]): void {
  try {
    if (type === 'sqlite3') parseSqliteConnectionString(cs);
    else if (type === 'postgres') parsePostgresConnectionString(cs);
    else parseMySqlDsn(cs);
  } catch (err) {
    if (err instanceof ConnectionStringError) notes.push(`${key}: ${err.message}`);
    else throw err;
  }
}

/** The connection string with any password replaced by `xxxxx`, safe to log. */
export function redactConnectionString(type: DatabaseType, cs: string): string {
  if (type === 'postgres') return redactPostgres(cs);
  if (type === 'mysql') return redactMySql(cs);
  return redactSqlite(cs);
}
