/**
 * SQLite through better-sqlite3: one connection per store, WAL journal, file
 * created with mode 0600. better-sqlite3 is synchronous, so one async mutex
 * orders statements and transactions on the connection; lock waits on
 * `BEGIN IMMEDIATE` (another process, or another store on the same file) are
 * retried asynchronously instead of blocking the event loop.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { makeDirectories } from '@spire-ts/plugin-sdk';
import { DataStoreError, unavailable } from '../errors.js';
import type { SqliteTarget } from '../connstr/sqlite.js';
import type { Logger } from '../logger.js';
import { Mutex } from './mutex.js';
import { delay, SqlError } from './types.js';
import type { Database, LockedSession, Param, Row, Sql } from './types.js';

type Statement = BetterSqlite3.Statement<unknown[], unknown>;

const MAX_CACHED_STATEMENTS = 500;

export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite3' as const;
  readonly forUpdate = '';
  readonly target: string;
  private readonly db: BetterSqlite3.Database;
  private readonly mutex = new Mutex();
  private readonly statements = new Map<string, Statement>();
  private readonly busyTimeoutMs: number;
  private readonly inTx: Sql;

  constructor(t: SqliteTarget, log: Logger) {
    this.target = `sqlite3 at ${t.filename}`;
    this.busyTimeoutMs = t.busyTimeoutMs;
    try {
      if (!t.memory && !t.readonly) ensureFile(t.filename, t.mustExist);
      this.db = new BetterSqlite3(t.memory ? ':memory:' : t.filename, { readonly: t.readonly, fileMustExist: t.mustExist || t.readonly, timeout: 0 });
      const journal = t.journalMode ?? (t.memory ? undefined : 'WAL');
      if (journal && !t.readonly) this.db.pragma(`journal_mode = ${journal}`);
      if (t.synchronous) this.db.pragma(`synchronous = ${t.synchronous}`);
      this.db.pragma(`foreign_keys = ${t.foreignKeys ? 'ON' : 'OFF'}`);
    } catch (err) {
      throw unavailable(`${this.target} is unavailable: ${messageOf(err)}`, err);
    }
    log.debug('opened sqlite3 database', { path: t.filename });
    this.inTx = {
      query: async <T extends Row>(sql: string, params: readonly Param[] = []) => this.run(sql, params, true) as T[],
      exec: async (sql: string, params: readonly Param[] = []) => this.run(sql, params, false) as number,
      insert: async (sql: string, params: readonly Param[]) => this.insertNow(sql, params),
    };
  }

  query<T extends Row = Row>(sql: string, params: readonly Param[] = []): Promise<T[]> {
    return this.mutex.run(() => this.withBusyRetry(() => this.run(sql, params, true) as T[]));
  }

  exec(sql: string, params: readonly Param[] = []): Promise<number> {
    return this.mutex.run(() => this.withBusyRetry(() => this.run(sql, params, false) as number));
  }

  insert(sql: string, params: readonly Param[]): Promise<number> {
    return this.mutex.run(() => this.withBusyRetry(() => this.insertNow(sql, params)));
  }

  private insertNow(sql: string, params: readonly Param[]): number {
    return this.wrap(() => Number(this.prepare(sql).run(...params.map(toSqlite)).lastInsertRowid));
  }

  reader(): Sql {
    return this;
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      await this.withBusyRetry(() => this.db.exec('BEGIN IMMEDIATE'));
      try {
        const result = await fn(this.inTx);
        await this.withBusyRetry(() => this.db.exec('COMMIT'));
        return result;
      } catch (err) {
        if (this.db.open && this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  withMigrationLock<T>(fn: (session: LockedSession) => Promise<T>): Promise<T> {
    // BEGIN IMMEDIATE is the lock; SQLite DDL is transactional, so every
    // migration runs inside this one transaction.
    return this.transaction((tx) => fn({ sql: tx, transaction: (f) => f(tx) }));
  }

  close(): Promise<void> {
    return this.mutex.run(async () => {
      this.statements.clear();
      if (this.db.open) this.db.close();
    });
  }

  private async withBusyRetry<T>(op: () => T): Promise<T> {
    const deadline = Date.now() + this.busyTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return this.wrap(op);
      } catch (err) {
        if (!(err instanceof SqlError && err.kind === 'retry') || Date.now() >= deadline) throw err;
        await delay(Math.min(50, 1 + attempt * 2) * (0.5 + Math.random()));
      }
    }
  }

  private run(sql: string, params: readonly Param[], wantRows: boolean): unknown {
    return this.wrap(() => {
      const stmt = this.prepare(sql);
      const args = params.map(toSqlite);
      if (stmt.reader) return stmt.all(...args);
      const info = stmt.run(...args);
      return wantRows ? [] : info.changes;
    });
  }

  private prepare(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  private wrap<T>(op: () => T): T {
    try {
      return op();
    } catch (err) {
      throw this.classify(err);
    }
  }

  private classify(err: unknown): Error {
    if (err instanceof SqlError || err instanceof DataStoreError) return err;
    const code = (err as { code?: unknown }).code;
    const msg = messageOf(err);
    if (typeof code === 'string') {
      if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new SqlError('unique', msg, { cause: err });
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new SqlError('retry', msg, { cause: err });
      if (/^SQLITE_(CANTOPEN|IOERR|FULL|NOTADB|CORRUPT|READONLY|PERM)/.test(code)) {
        return unavailable(`${this.target} is unavailable: ${msg}`, err);
      }
    }
    if (!this.db.open) return unavailable(`${this.target} is unavailable: the database is closed`, err);
    return new SqlError('other', msg, { cause: err });
  }
}

function ensureFile(path: string, mustExist: boolean): void {
  if (existsSync(path)) return;
  if (mustExist) return; // better-sqlite3 reports it
  makeDirectories(dirname(path), 0o700);
  // Create the file ourselves so it is never world-readable; SQLite gives the
  // -wal and -shm files the database file's permissions.
  closeSync(openSync(path, 'a', 0o600));
}

function toSqlite(p: Param): unknown {
  if (p instanceof Uint8Array && !Buffer.isBuffer(p)) return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  return p;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
