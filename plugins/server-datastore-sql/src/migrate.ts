/**
 * Brings the schema to LATEST_VERSION under the database-wide migration lock,
 * so servers starting together on one database migrate it once. Every
 * statement is idempotent (IF NOT EXISTS), so a migration interrupted half-way
 * (MySQL DDL is not transactional) is simply run again.
 */
import { failedPrecondition } from './errors.js';
import type { Database, Sql } from './dialect/types.js';
import type { Logger } from './logger.js';
import { LATEST_VERSION, MIGRATIONS, migrationsTableExistsSql, migrationsTableSql } from './schema.js';

export const CODE_VERSION = '0.1.0';

export interface MigrateOptions {
  disableMigration: boolean;
  log: Logger;
  /** Unix seconds. */
  now: () => number;
}

async function currentVersion(db: Database, sql: Sql): Promise<number> {
  const exists = await sql.query(migrationsTableExistsSql(db.dialect));
  if (exists.length === 0) return 0;
  const [row] = await sql.query<{ v: number | null }>('SELECT MAX(version) AS v FROM ds_migrations');
  return Number(row?.v ?? 0);
}

function check(version: number): void {
  if (version > LATEST_VERSION) {
    throw failedPrecondition(`datastore schema version ${version} is newer than this server supports (${LATEST_VERSION}); upgrade the server`);
  }
}

/** Returns the schema version after migrating. */
export async function migrate(db: Database, opts: MigrateOptions): Promise<number> {
  const before = await currentVersion(db, db);
  check(before);
  if (before === LATEST_VERSION) return before;
  if (opts.disableMigration) {
    throw failedPrecondition(`datastore schema is at version ${before}, this server needs ${LATEST_VERSION}, and disable_migration is set`);
  }
  return db.withMigrationLock(async (session) => {
    // Another server may have migrated while we waited for the lock.
    const version = await currentVersion(db, session.sql);
    check(version);
    if (version === 0) await session.sql.exec(migrationsTableSql(db.dialect));
    for (const m of MIGRATIONS) {
      if (m.version <= version) continue;
      opts.log.info('migrating datastore schema', { from: version, to: m.version, description: m.description, target: db.target });
      await session.transaction(async (tx) => {
        for (const stmt of m.statements(db.dialect)) await tx.exec(stmt);
        await tx.exec('INSERT INTO ds_migrations (version, description, code_version, applied_at) VALUES (?, ?, ?, ?)', [
          m.version, m.description, CODE_VERSION, opts.now(),
        ]);
      });
    }
    return LATEST_VERSION;
  });
}
