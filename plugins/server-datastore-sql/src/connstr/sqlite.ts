/**
 * SQLite connection strings as mattn/go-sqlite3 reads them: a path
 * (`./.data/datastore.sqlite3`), `:memory:`, or a `file:` URI with query
 * parameters (`file:memdb?mode=memory&cache=shared`, `file:/x.db?_busy_timeout=5000`).
 */
import { ConnectionStringError } from './common.js';

export interface SqliteTarget {
  /** A file path, or ':memory:'. */
  filename: string;
  memory: boolean;
  readonly: boolean;
  /** mode=rw: the file must exist. */
  mustExist: boolean;
  busyTimeoutMs: number;
  /** Explicit journal mode; WAL is used otherwise (not for in-memory databases). */
  journalMode?: string;
  synchronous?: string;
  foreignKeys: boolean;
}

const JOURNAL_MODES = new Set(['DELETE', 'TRUNCATE', 'PERSIST', 'MEMORY', 'WAL', 'OFF']);
const SYNC_MODES = new Set(['OFF', 'NORMAL', 'FULL', 'EXTRA', '0', '1', '2', '3']);

export function parseSqliteConnectionString(cs: string): SqliteTarget {
  if (cs.trim() === '') throw new ConnectionStringError('sqlite3 connection string: a database file path is required');
  const q = cs.indexOf('?');
  let path = q === -1 ? cs : cs.slice(0, q);
  const query = q === -1 ? '' : cs.slice(q + 1);
  const isUri = path.startsWith('file:');
  if (isUri) {
    path = path.slice('file:'.length);
    if (path.startsWith('//')) {
      const rest = path.slice(2);
      const slash = rest.indexOf('/');
      const authority = slash === -1 ? rest : rest.slice(0, slash);
      if (authority !== '' && authority !== 'localhost') throw new ConnectionStringError(`sqlite3 connection string: unsupported URI authority ${JSON.stringify(authority)}`);
      path = slash === -1 ? '' : rest.slice(slash);
    }
    try {
      path = decodeURIComponent(path);
    } catch {
      throw new ConnectionStringError('sqlite3 connection string: invalid escape in path');
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new ConnectionStringError(`sqlite3 connection string: unsupported scheme in ${JSON.stringify(path.split(':')[0])}`);
  }
  const t: SqliteTarget = { filename: path, memory: path === ':memory:', readonly: false, mustExist: false, busyTimeoutMs: 5000, foreignKeys: true };
  for (const [key, value] of new URLSearchParams(query)) applyParam(t, key, value);
  if (t.memory) t.filename = ':memory:';
  if (t.filename === '') throw new ConnectionStringError('sqlite3 connection string: a database file path is required');
  return t;
}

function applyParam(t: SqliteTarget, key: string, value: string): void {
  switch (key) {
    case 'mode':
      if (value === 'memory') t.memory = true;
      else if (value === 'ro') t.readonly = true;
      else if (value === 'rw') t.mustExist = true;
      else if (value !== 'rwc') throw new ConnectionStringError(`sqlite3 connection string: invalid mode ${JSON.stringify(value)}`);
      return;
    case '_busy_timeout':
    case '_timeout': {
      const ms = Number(value);
      if (!Number.isInteger(ms) || ms < 0) throw new ConnectionStringError(`sqlite3 connection string: invalid ${key} ${JSON.stringify(value)}`);
      t.busyTimeoutMs = ms;
      return;
    }
    case '_journal_mode':
    case '_journal': {
      const mode = value.toUpperCase();
      if (!JOURNAL_MODES.has(mode)) throw new ConnectionStringError(`sqlite3 connection string: invalid journal mode ${JSON.stringify(value)}`);
      t.journalMode = mode;
      return;
    }
    case '_synchronous':
    case '_sync': {
      const mode = value.toUpperCase();
      if (!SYNC_MODES.has(mode)) throw new ConnectionStringError(`sqlite3 connection string: invalid synchronous mode ${JSON.stringify(value)}`);
      t.synchronous = mode;
      return;
    }
    case '_foreign_keys':
    case '_fk':
      t.foreignKeys = ['1', 'true', 'on', 'yes'].includes(value.toLowerCase());
      return;
    default:
      // cache, vfs, immutable, _loc, _txlock, _mutex...: meaningful to
      // go-sqlite3 only; accepted so SPIRE configs work unchanged.
      return;
  }
}

/** SQLite strings carry no password except go-sqlite3's `_auth_pass`. */
export function redactSqlite(cs: string): string {
  return cs.replace(/([?&]_auth_pass=)[^&]*/g, '$1xxxxx');
}
