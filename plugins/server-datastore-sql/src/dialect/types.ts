/**
 * The narrow database interface the repositories use. SQL is written once
 * with `?` placeholders; each dialect adapts placeholders, transactions,
 * locking and error classification.
 */
import type { Consistency } from '../types.js';

export type DialectName = 'sqlite3' | 'postgres' | 'mysql';

/** Parameters are numbers, strings, bytes or null (booleans are stored as 0/1). */
export type Param = string | number | Uint8Array | null;
export type Row = Record<string, unknown>;

export interface Sql {
  query<T extends Row = Row>(sql: string, params?: readonly Param[]): Promise<T[]>;
  /** Runs a statement; resolves to the number of affected rows. */
  exec(sql: string, params?: readonly Param[]): Promise<number>;
  /** Runs a single-row INSERT into a table with an auto-increment key; resolves to the new key. */
  insert(sql: string, params: readonly Param[], keyColumn: string): Promise<number>;
}

export interface Database extends Sql {
  readonly dialect: DialectName;
  /** Where we are connected, without secrets: `postgres at 127.0.0.1:5432/spire`. */
  readonly target: string;
  /** Suffix that locks the selected rows until commit (empty on SQLite, whose write transactions are exclusive). */
  readonly forUpdate: string;
  /** Reads that tolerate staleness may go to the read replica. */
  reader(consistency?: Consistency): Sql;
  /** Runs `fn` in a transaction, retried on deadlock or serialization failure; rolled back on error. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /** Runs `fn` holding the database-wide migration lock (held across servers sharing the database). */
  withMigrationLock<T>(fn: (session: LockedSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** What migrations run with while the migration lock is held. */
export interface LockedSession {
  sql: Sql;
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
}

export type SqlErrorKind = 'unique' | 'retry' | 'other';

/** A driver error classified for the repositories (unavailability is a DataStoreError already). */
export class SqlError extends Error {
  override name = 'SqlError';
  constructor(readonly kind: SqlErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Placeholders `(?, ?, ?)` for an IN list. */
export function placeholders(n: number): string {
  return n <= 0 ? '(NULL)' : `(${new Array<string>(n).fill('?').join(', ')})`;
}

/** Sleep helper for retries (not used in logic paths that tests time). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export const MAX_TX_ATTEMPTS = 6;

export function backoffMs(attempt: number): number {
  return Math.min(200, 5 * 2 ** attempt) * (0.5 + Math.random());
}
