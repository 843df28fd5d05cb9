/**
 * PostgreSQL through pg's Pool. `?` placeholders become `$n`; int8 is read as
 * a JS number; the migration lock is a session-level advisory lock.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { invalidArgument, unavailable } from '../errors.js';
import type { PgTarget } from '../connstr/postgres.js';
import type { Logger } from '../logger.js';
import type { Consistency } from '../types.js';
import { backoffMs, delay, MAX_TX_ATTEMPTS, SqlError } from './types.js';
import type { Database, LockedSession, Param, Row, Sql } from './types.js';

export interface PoolSettings {
  maxOpenConns: number;
  maxIdleConns: number;
  connMaxLifetimeMs: number;
}

/** pg_advisory_lock key for the migration lock (any fixed int8; this one spells "SPIRE"). */
const MIGRATION_LOCK_KEY = 0x53_50_49_52_45;
const NET_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN', 'EPIPE', 'ENOENT']);

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 20) return (v: string) => Number(v); // int8
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  }) as typeof pg.types.getTypeParser,
};

const converted = new Map<string, string>();
function toPg(sql: string): string {
  let out = converted.get(sql);
  if (out === undefined) {
    let i = 0;
    out = sql.replace(/\?/g, () => `$${++i}`);
    if (converted.size > 2000) converted.clear();
    converted.set(sql, out);
  }
  return out;
}

function toPgParams(params: readonly Param[]): unknown[] {
  return params.map((p) => (p instanceof Uint8Array && !Buffer.isBuffer(p) ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p));
}

function describe(t: PgTarget): string {
  return `postgres at ${t.host.startsWith('/') ? t.host : `${t.host}:${t.port}`}/${t.database}`;
}

function poolConfig(t: PgTarget, s: PoolSettings): pg.PoolConfig {
  const cfg: pg.PoolConfig = {
    host: t.host,
    port: t.port,
    user: t.user,
    database: t.database,
    max: s.maxOpenConns,
    idleTimeoutMillis: s.maxIdleConns === 0 ? 1 : 30_000,
    connectionTimeoutMillis: t.connectTimeoutMs ?? 30_000,
    maxLifetimeSeconds: Math.ceil(s.connMaxLifetimeMs / 1000),
    allowExitOnIdle: true,
    types,
  };
  if (t.password !== undefined) cfg.password = t.password;
  if (t.applicationName) cfg.application_name = t.applicationName;
  // JIT compilation costs more than it saves on these short OLTP queries
  // (tens of milliseconds per execution once plan costs look high); a
  // connection string's own `-c jit=...` comes later and wins.
  cfg.options = t.options ? `-c jit=off ${t.options}` : '-c jit=off';
  if (t.sslMode !== 'disable') {
    const read = (path: string | undefined, what: string): Buffer | undefined => {
      if (!path) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw invalidArgument(`${what}: cannot read ${path}: ${(err as Error).message}`);
      }
    };
    const ssl: ConnectionOptions = { rejectUnauthorized: t.sslMode !== 'require' };
    const ca = read(t.sslRootCertPath, 'sslrootcert');
    const cert = read(t.sslCertPath, 'sslcert');
    const key = read(t.sslKeyPath, 'sslkey');
    if (ca) ssl.ca = ca;
    if (cert) ssl.cert = cert;
    if (key) ssl.key = key;
    if (t.sslMode === 'verify-ca') ssl.checkServerIdentity = () => undefined;
    cfg.ssl = ssl;
  } else cfg.ssl = false;
  return cfg;
}

class PgSql implements Sql {
  constructor(private readonly q: pg.Pool | pg.PoolClient, private readonly classify: (err: unknown) => Error) {}

  async query<T extends Row = Row>(sql: string, params: readonly Param[] = []): Promise<T[]> {
    try {
      const res = await this.q.query(toPg(sql), toPgParams(params));
      return res.rows as T[];
    } catch (err) {
      throw this.classify(err);
    }
  }

  async exec(sql: string, params: readonly Param[] = []): Promise<number> {
    try {
      const res = await this.q.query(toPg(sql), toPgParams(params));
      return res.rowCount ?? 0;
    } catch (err) {
      throw this.classify(err);
    }
  }

  async insert(sql: string, params: readonly Param[], keyColumn: string): Promise<number> {
    const rows = await this.query<Record<string, unknown>>(`${sql} RETURNING ${keyColumn}`, params);
    return Number(rows[0]?.[keyColumn]);
  }
}

export class PostgresDatabase implements Database {
  readonly dialect = 'postgres' as const;
  readonly forUpdate = ' FOR UPDATE';
  readonly target: string;
  private readonly pool: pg.Pool;
  private readonly roPool: pg.Pool | undefined;
  private readonly primary: Sql;
  private readonly replica: Sql | undefined;

  constructor(t: PgTarget, ro: PgTarget | undefined, settings: PoolSettings, private readonly log: Logger) {
    this.target = describe(t);
    this.pool = new pg.Pool(poolConfig(t, settings));
    this.pool.on('error', (err) => log.warn('idle postgres connection failed', { error: err.message, target: this.target }));
    this.primary = new PgSql(this.pool, (err) => this.classify(err, this.target));
    if (ro) {
      const roTarget = describe(ro);
      this.roPool = new pg.Pool(poolConfig(ro, settings));
      this.roPool.on('error', (err) => log.warn('idle postgres connection failed', { error: err.message, target: roTarget }));
      this.replica = new PgSql(this.roPool, (err) => this.classify(err, roTarget));
    }
  }

  query<T extends Row = Row>(sql: string, params?: readonly Param[]): Promise<T[]> {
    return this.primary.query<T>(sql, params);
  }

  exec(sql: string, params?: readonly Param[]): Promise<number> {
    return this.primary.exec(sql, params);
  }

  insert(sql: string, params: readonly Param[], keyColumn: string): Promise<number> {
    return this.primary.insert(sql, params, keyColumn);
  }

  reader(consistency?: Consistency): Sql {
    return consistency === 'stale' && this.replica ? this.replica : this.primary;
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.transactionOnce(fn);
      } catch (err) {
        if (!(err instanceof SqlError && err.kind === 'retry') || attempt + 1 >= MAX_TX_ATTEMPTS) throw err;
        this.log.debug('retrying postgres transaction', { attempt, error: err.message });
        await delay(backoffMs(attempt));
      }
    }
  }

  private async transactionOnce<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const client = await this.connect();
    const tx = new PgSql(client, (err) => this.classify(err, this.target));
    let broken = false;
    try {
      await tx.exec('BEGIN');
      const result = await fn(tx);
      await tx.exec('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async withMigrationLock<T>(fn: (session: LockedSession) => Promise<T>): Promise<T> {
    const client = await this.connect();
    const locked = new PgSql(client, (err) => this.classify(err, this.target));
    let broken = false;
    try {
      await locked.query('SELECT pg_advisory_lock(?)', [MIGRATION_LOCK_KEY]);
      try {
        return await fn({ sql: this.primary, transaction: (f) => this.transaction(f) });
      } finally {
        try {
          await locked.query('SELECT pg_advisory_unlock(?)', [MIGRATION_LOCK_KEY]);
        } catch {
          broken = true; // the session ends, and the lock with it
        }
      }
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.roPool?.end()]);
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.classify(err, this.target);
    }
  }

  private classify(err: unknown, target: string): Error {
    if (err instanceof SqlError) return err;
    const e = err as { code?: unknown; message?: unknown };
    const code = typeof e.code === 'string' ? e.code : '';
    const msg = typeof e.message === 'string' ? e.message : String(err);
    if (code === '23505') return new SqlError('unique', msg, { cause: err });
    if (code === '40001' || code === '40P01' || code === '55P03') return new SqlError('retry', msg, { cause: err });
    if (
      NET_CODES.has(code) ||
      /^(08|57P0[123]|53300|28000|28P01|3D000)/.test(code) ||
      /timeout exceeded when trying to connect|Connection terminated|Cannot use a pool after calling end|not queryable/i.test(msg)
    ) {
      return unavailable(`${target} is unavailable: ${msg}`, err);
    }
    return new SqlError('other', msg, { cause: err });
  }
}
