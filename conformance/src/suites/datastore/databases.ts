/**
 * Databases for the contract from a `plugin_data` template: every `{{db}}`
 * becomes a new empty database per test — a file in a private temp directory
 * for sqlite3 (or a `database_type` this kit does not know), a database
 * created on the template's server for postgres and mysql (dropped at the end).
 */
import { parseConfig, toPlain } from '@spire-ts/plugin-sdk';
import { DB_PLACEHOLDER, scratchDatabases } from '@spire-ts/server-datastore-sql';
import type { DatabaseType } from '@spire-ts/server-datastore-sql';
import type { DatabaseProvider } from './plugin-factory.js';

export { DB_PLACEHOLDER };

function field(data: unknown, key: string): string | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const v = (data as Record<string, unknown>)[key];
  return typeof v === 'string' ? v : undefined;
}

/**
 * @example
 * ```ts
 * const dbs = templateDatabases('database_type = "sqlite3"\nconnection_string = "{{db}}"');
 * const pluginData = await dbs.fresh(); // connection_string = "/tmp/spire-ts-scratch-…/datastore-1.sqlite3"
 * ```
 */
export function templateDatabases(template: string): DatabaseProvider {
  if (!template.includes(DB_PLACEHOLDER)) throw new Error(`plugin_data has no ${DB_PLACEHOLDER} placeholder`);
  const data = toPlain(parseConfig(template, { filename: 'plugin_data' }));
  const declared = field(data, 'database_type');
  const type: DatabaseType = declared === 'postgres' || declared === 'mysql' ? declared : 'sqlite3';
  const known = declared === 'postgres' || declared === 'mysql' || declared === 'sqlite3';
  const csTemplate = field(data, 'connection_string') ?? '';
  const scratch = scratchDatabases(type, csTemplate);
  const bad = known ? scratch.unreachable() : undefined;
  return {
    fresh: async () => template.replaceAll(DB_PLACEHOLDER, await scratch.create()),
    unreachable: () =>
      bad ? { pluginData: `database_type = ${JSON.stringify(type)}\nconnection_string = ${JSON.stringify(bad.connectionString)}\n`, host: bad.host } : undefined,
    close: () => scratch.close(),
  };
}
