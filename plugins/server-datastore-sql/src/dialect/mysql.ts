/**
 * MySQL / MariaDB through mysql2. Every connection runs READ COMMITTED with a
 * strict sql_mode (over-long values fail instead of being truncated), plus any
 * session variables given as DSN parameters, as the Go driver does. The
 * migration lock is GET_LOCK on a dedicated connection.
 */
import { readFileSync } from 'node:fs';
import mysql from 'mysql2';
import type { Pool as CorePool, PoolConnection as CoreConnection, PoolOptions, SslOptions as TlsOptions } from 'mysql2';
import type { Pool as PromisePool, PoolConnection } from 'mysql2/promise';
import { invalidArgument, unavailable } from '../errors.js';
import type { MySqlTarget } from '../connstr/mysql.js';
import type { Logger } from '../logger.js';
import type { Consistency } from '../types.js';
import type { PoolSettings } from './postgres.js';
import { backoffMs, delay, MAX_TX_ATTEMPTS, SqlError } from './types.js';
import type { Database, LockedSession, Param, Row, Sql } from './types.js';

export interface MySqlTlsFiles {
  rootCaPath?: string;
  clientCertPath?: string;
  clientKeyPath?: string;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN', 'EPIPE', 'ENOENT',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_ACCESS_DENIED_ERROR', 'ER_BAD_DB_ERROR', 'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN', 'ER_DBACCESS_DENIED_ERROR', 'POOL_CLOSED',
]);

function describe(t: MySqlTarget): string {
  return `mysql at ${t.socketPath ?? `${t.host}:${t.port}`}/${t.database}`;
}

function tlsOptions(t: MySqlTarget, files: MySqlTlsFiles, log: Logger): TlsOptions | undefined {
  const read = (path: string | undefined, key: string): Buffer | undefined => {
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw invalidArgument(`${key}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const ca = read(files.rootCaPath, 'root_ca_path');
  const cert = read(files.clientCertPath, 'client_cert_path');
  const key = read(files.clientKeyPath, 'client_key_path');
  const custom = Boolean(ca || cert);
  let mode = t.tls;
  if (mode === 'custom' && !custom) throw invalidArgument('connection_string: tls names a custom TLS config; set root_ca_path (and client_cert_path/client_key_path)');
  if (mode === 'off' && custom) mode = 'custom';
  if (mode === 'preferred') {
    log.warn('mysql tls=preferred is not supported by this driver; connecting without TLS');
    return undefined;
  }
  if (mode === 'off') return undefined;
  const ssl: TlsOptions = { rejectUnauthorized: mode !== 'skip-verify' };
  if (ca) ssl.ca = ca;
  if (cert) ssl.cert = cert;
  if (key) ssl.key = key;
  return ssl;
}

class MySqlSql implements Sql {
  constructor(private readonly conn: PoolConnection, private readonly classify: (err: unknown) => Error) {}

  async query<T extends Row = Row>(sql: string, params: readonly Param[] = []): Promise<T[]> {
    try {
      const [rows] = await this.conn.query(sql, params as unknown[]);
      return (Array.isArray(rows) ? rows : []) as T[];
    } catch (err) {
      throw this.classify(err);
    }
  }

  async exec(sql: string, params: readonly Param[] = []): Promise<number> {
    try {
      const [res] = await this.conn.query(sql, params as unknown[]);
      return Array.isArray(res) ? res.length : (res as { affectedRows: number }).affectedRows;
    } catch (err) {
      throw this.classify(err);
    }
  }

  async insert(sql: string, params: readonly Param[]): Promise<number> {
    try {
      const [res] = await this.conn.query(sql, params as unknown[]);
      return Number((res as { insertId: number }).insertId);
    } catch (err) {
      throw this.classify(err);
    }
  }
}

interface PoolPair {
  core: CorePool;
  pool: PromisePool;
  target: string;
}

export class MySqlDatabase implements Database {
  readonly dialect = 'mysql' as const;
  readonly forUpdate = ' FOR UPDATE';
  readonly target: string;
  private readonly primary: PoolPair;
  private readonly replica: PoolPair | undefined;
  private readonly born = new WeakMap<object, number>();
  private readonly lockName: string;

  constructor(t: MySqlTarget, ro: MySqlTarget | undefined, files: MySqlTlsFiles, private readonly settings: PoolSettings, private readonly log: Logger) {
    this.target = describe(t);
    this.lockName = `spire_ts_migrate:${t.database}`.slice(0, 64);
    if (t.ignored.length) log.debug('mysql connection string parameters with no effect here', { params: t.ignored.join(',') });
    this.primary = this.makePool(t, files);
    this.replica = ro ? this.makePool(ro, files) : undefined;
  }

  private makePool(t: MySqlTarget, files: MySqlTlsFiles): PoolPair {
    const opts: PoolOptions = {
      user: t.user,
      database: t.database,
      connectionLimit: this.settings.maxOpenConns,
      maxIdle: Math.min(this.settings.maxIdleConns, this.settings.maxOpenConns),
      idleTimeout: 30_000,
      connectTimeout: t.connectTimeoutMs ?? 10_000,
      charset: t.charset ?? 'utf8mb4',
      supportBigNumbers: true,
      bigNumberStrings: false,
      decimalNumbers: true,
      multipleStatements: false,
      enableKeepAlive: true,
    };
    if (t.password !== undefined) opts.password = t.password;
    if (t.socketPath) opts.socketPath = t.socketPath;
    else {
      opts.host = t.host ?? '127.0.0.1';
      opts.port = t.port ?? 3306;
    }
    const ssl = tlsOptions(t, files, this.log);
    if (ssl) opts.ssl = ssl;
    const core = mysql.createPool(opts);
    const target = describe(t);
    const init = [
      "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
      "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO'",
      ...t.sessionVariables.map(([k, v]) => `SET SESSION ${k} = ${v}`),
    ];
    core.on('connection', (conn: CoreConnection) => {
      this.born.set(conn, Date.now());
      for (const stmt of init) {
        conn.query(stmt, (err: Error | null) => {
          if (err) this.log.warn('mysql session setup failed', { statement: stmt.slice(0, 80), error: err.message, target });
        });
      }
    });
    return { core, pool: core.promise(), target };
  }

  query<T extends Row = Row>(sql: string, params?: readonly Param[]): Promise<T[]> {
    return this.withConnection(this.primary, (s) => s.query<T>(sql, params));
  }

  exec(sql: string, params?: readonly Param[]): Promise<number> {
    return this.withConnection(this.primary, (s) => s.exec(sql, params));
  }

  insert(sql: string, params: readonly Param[], keyColumn: string): Promise<number> {
    return this.withConnection(this.primary, (s) => s.insert(sql, params, keyColumn));
  }

  reader(consistency?: Consistency): Sql {
    const pair = consistency === 'stale' && this.replica ? this.replica : this.primary;
    if (pair === this.primary) return this;
    return {
      query: (sql, params) => this.withConnection(pair, (s) => s.query(sql, params)),
      exec: (sql, params) => this.withConnection(pair, (s) => s.exec(sql, params)),
      insert: (sql, params, key) => this.withConnection(pair, (s) => s.insert(sql, params, key)),
    };
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.withConnection(this.primary, async (tx, conn) => {
          await tx.exec('START TRANSACTION');
          try {
            const result = await fn(tx);
            await tx.exec('COMMIT');
            return result;
          } catch (err) {
            await conn.query('ROLLBACK').catch(() => conn.destroy());
            throw err;
          }
        });
      } catch (err) {
        if (!(err instanceof SqlError && err.kind === 'retry') || attempt + 1 >= MAX_TX_ATTEMPTS) throw err;
        this.log.debug('retrying mysql transaction', { attempt, error: err.message });
        await delay(backoffMs(attempt));
      }
    }
  }

  async withMigrationLock<T>(fn: (session: LockedSession) => Promise<T>): Promise<T> {
    return this.withConnection(this.primary, async (locked) => {
      for (let attempt = 1; ; attempt++) {
        const [row] = await locked.query<{ ok: number | null }>('SELECT GET_LOCK(?, 30) AS ok', [this.lockName]);
        if (Number(row?.ok) === 1) break;
        if (row?.ok === null || attempt >= 20) throw unavailable(`${this.target}: could not take the migration lock ${this.lockName}`);
        this.log.info('waiting for the datastore migration lock', { lock: this.lockName });
      }
      try {
        return await fn({ sql: this, transaction: (f) => this.transaction(f) });
      } finally {
        await locked.query('SELECT RELEASE_LOCK(?)', [this.lockName]).catch(() => undefined);
      }
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.pool.end(), this.replica?.pool.end()]);
  }

  private async withConnection<T>(pair: PoolPair, fn: (sql: Sql, conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await this.acquire(pair);
    try {
      return await fn(new MySqlSql(conn, (err) => this.classify(err, pair.target)), conn);
    } finally {
      conn.release();
    }
  }

  private async acquire(pair: PoolPair): Promise<PoolConnection> {
    const lifetime = this.settings.connMaxLifetimeMs;
    for (;;) {
      let conn: PoolConnection;
      try {
        conn = await pair.pool.getConnection();
      } catch (err) {
        throw this.classify(err, pair.target);
      }
      const born = this.born.get(conn.connection) ?? Date.now();
      if (lifetime > 0 && Date.now() - born > lifetime) {
        conn.destroy();
        continue;
      }
      return conn;
    }
  }

  private classify(err: unknown, target: string): Error {
    if (err instanceof SqlError) return err;
    const e = err as { code?: unknown; errno?: unknown; message?: unknown };
    const code = typeof e.code === 'string' ? e.code : '';
    const msg = typeof e.message === 'string' ? e.message : String(err);
    if (code === 'ER_DUP_ENTRY' || e.errno === 1062) return new SqlError('unique', msg, { cause: err });
    if (code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT' || e.errno === 1213 || e.errno === 1205) {
      return new SqlError('retry', msg, { cause: err });
    }
    if (UNAVAILABLE_CODES.has(code) || /Pool is closed|connect ETIMEDOUT|Connection lost/i.test(msg)) {
      return unavailable(`${target} is unavailable: ${msg || code}`, err);
    }
    return new SqlError('other', msg, { cause: err });
  }
}
