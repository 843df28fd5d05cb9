/**
 * The schema, declared once and rendered per dialect, and the versioned
 * migrations. Index design (see README "Indexes"):
 *
 * - registered_entries(parent_id): the authorized-entries walk (children of a
 *   parent ID) and the by-parent filter; TEXT COLLATE "C" on PostgreSQL so
 *   comparisons are byte-wise.
 * - entry_selectors(sel_hash, entry_pk): selector lookups use a 16-byte hash of
 *   "type:value", so the index is narrow and fits MySQL's key-length limit
 *   whatever the selector length; its primary key (entry_pk, sel_hash) serves
 *   the "selectors of this entry" checks of subset/exact matching.
 * - registered_entries(similarity_key) UNIQUE: sha256(parent, spiffe_id,
 *   sorted selectors), so duplicates are refused by the database even between
 *   two servers writing at once.
 * - Entries keep their selectors, DNS names and federated trust domains as JSON
 *   columns too, so reading an entry is one row (no joins).
 */
import type { DialectName } from './dialect/types.js';

type ColType = 'pk' | 'bigint' | 'int' | 'bool' | 'entryId' | 'spiffeId' | 'trustDomain' | 'short' | 'text' | 'blob' | 'hash16' | 'hash32';

interface Column {
  name: string;
  type: ColType;
  nullable?: boolean;
}

interface Index {
  name: string;
  columns: string[];
  unique?: boolean;
}

interface Table {
  name: string;
  columns: Column[];
  primaryKey?: string[];
  indexes: Index[];
}

const c = (name: string, type: ColType, nullable = false): Column => ({ name, type, nullable });

const TABLES_V1: Table[] = [
  {
    name: 'registered_entries',
    columns: [
      c('pk', 'pk'), c('id', 'entryId'), c('spiffe_id', 'spiffeId'), c('parent_id', 'spiffeId'), c('similarity_key', 'hash32'),
      c('x509_svid_ttl', 'int'), c('jwt_svid_ttl', 'int'), c('admin', 'bool'), c('downstream', 'bool'), c('store_svid', 'bool'),
      c('expires_at', 'bigint'), c('hint', 'short'), c('revision_number', 'bigint'), c('created_at', 'bigint'), c('updated_at', 'bigint'),
      c('selectors', 'text'), c('dns_names', 'text'), c('federates_with', 'text'), c('attributes', 'text', true),
    ],
    indexes: [
      { name: 'registered_entries_id', columns: ['id'], unique: true },
      { name: 'registered_entries_similarity', columns: ['similarity_key'], unique: true },
      { name: 'registered_entries_parent_id', columns: ['parent_id'] },
      { name: 'registered_entries_spiffe_id', columns: ['spiffe_id'] },
      { name: 'registered_entries_expires_at', columns: ['expires_at'] },
      { name: 'registered_entries_hint', columns: ['hint'] },
    ],
  },
  {
    name: 'entry_selectors',
    columns: [c('entry_pk', 'bigint'), c('sel_hash', 'hash16'), c('type', 'short'), c('value', 'text')],
    primaryKey: ['entry_pk', 'sel_hash'],
    indexes: [{ name: 'entry_selectors_hash', columns: ['sel_hash', 'entry_pk'] }],
  },
  {
    name: 'entry_federates',
    columns: [c('entry_pk', 'bigint'), c('trust_domain', 'trustDomain')],
    primaryKey: ['entry_pk', 'trust_domain'],
    indexes: [{ name: 'entry_federates_trust_domain', columns: ['trust_domain', 'entry_pk'] }],
  },
  {
    name: 'entry_events',
    columns: [c('id', 'bigint'), c('entry_id', 'entryId'), c('created_at', 'bigint')],
    primaryKey: ['id'],
    indexes: [{ name: 'entry_events_created_at', columns: ['created_at'] }],
  },
  {
    name: 'attested_nodes',
    columns: [
      c('pk', 'pk'), c('spiffe_id', 'spiffeId'), c('attestation_type', 'short'), c('serial_number', 'short'), c('expires_at', 'bigint'),
      c('new_serial_number', 'short'), c('new_expires_at', 'bigint'), c('can_reattest', 'bool'), c('agent_version', 'short'),
      c('created_at', 'bigint'), c('updated_at', 'bigint'),
    ],
    indexes: [
      { name: 'attested_nodes_spiffe_id', columns: ['spiffe_id'], unique: true },
      { name: 'attested_nodes_expires_at', columns: ['expires_at'] },
      { name: 'attested_nodes_attestation_type', columns: ['attestation_type'] },
    ],
  },
  {
    name: 'node_selectors',
    columns: [c('spiffe_id', 'spiffeId'), c('sel_hash', 'hash16'), c('type', 'short'), c('value', 'text')],
    primaryKey: ['spiffe_id', 'sel_hash'],
    indexes: [{ name: 'node_selectors_hash', columns: ['sel_hash'] }],
  },
  {
    name: 'node_events',
    columns: [c('id', 'bigint'), c('spiffe_id', 'spiffeId'), c('created_at', 'bigint')],
    primaryKey: ['id'],
    indexes: [{ name: 'node_events_created_at', columns: ['created_at'] }],
  },
  {
    name: 'join_tokens',
    columns: [c('token', 'short'), c('expires_at', 'bigint'), c('created_at', 'bigint')],
    primaryKey: ['token'],
    indexes: [{ name: 'join_tokens_expires_at', columns: ['expires_at'] }],
  },
  {
    name: 'bundles',
    columns: [
      c('pk', 'pk'), c('trust_domain', 'trustDomain'), c('data', 'text'), c('refresh_hint', 'bigint'), c('sequence_number', 'bigint'),
      c('created_at', 'bigint'), c('updated_at', 'bigint'),
    ],
    indexes: [{ name: 'bundles_trust_domain', columns: ['trust_domain'], unique: true }],
  },
  {
    name: 'federation_relationships',
    columns: [
      c('pk', 'pk'), c('trust_domain', 'trustDomain'), c('bundle_endpoint_url', 'text'), c('profile', 'short'),
      c('endpoint_spiffe_id', 'text'), c('created_at', 'bigint'), c('updated_at', 'bigint'),
    ],
    indexes: [{ name: 'federation_relationships_trust_domain', columns: ['trust_domain'], unique: true }],
  },
  {
    name: 'ca_journals',
    columns: [
      c('id', 'pk'), c('data', 'blob'), c('active_x509_authority_id', 'short'), c('active_jwt_authority_id', 'short'),
      c('expires_at', 'bigint'), c('created_at', 'bigint'), c('updated_at', 'bigint'),
    ],
    indexes: [
      { name: 'ca_journals_active_x509_authority_id', columns: ['active_x509_authority_id'] },
      { name: 'ca_journals_active_jwt_authority_id', columns: ['active_jwt_authority_id'] },
    ],
  },
  {
    name: 'ds_sequences',
    columns: [c('name', 'short'), c('value', 'bigint')],
    primaryKey: ['name'],
    indexes: [],
  },
];

/** Every data table (not the migrations table), for tests that reset a database. */
export const DATA_TABLES: readonly string[] = TABLES_V1.map((t) => t.name);

/** Counters that allocate event ids (see events.ts). */
export const SEQUENCES = { entryEvents: 'entry_events', nodeEvents: 'node_events' } as const;

const TYPES: Record<DialectName, Record<ColType, string>> = {
  sqlite3: {
    pk: 'INTEGER PRIMARY KEY AUTOINCREMENT', bigint: 'INTEGER', int: 'INTEGER', bool: 'INTEGER', entryId: 'TEXT', spiffeId: 'TEXT',
    trustDomain: 'TEXT', short: 'TEXT', text: 'TEXT', blob: 'BLOB', hash16: 'BLOB', hash32: 'BLOB',
  },
  postgres: {
    pk: 'BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY', bigint: 'BIGINT', int: 'INTEGER', bool: 'SMALLINT',
    entryId: 'TEXT COLLATE "C"', spiffeId: 'TEXT COLLATE "C"', trustDomain: 'TEXT COLLATE "C"', short: 'TEXT COLLATE "C"', text: 'TEXT',
    blob: 'BYTEA', hash16: 'BYTEA', hash32: 'BYTEA',
  },
  mysql: {
    pk: 'BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY', bigint: 'BIGINT', int: 'INT', bool: 'TINYINT',
    entryId: 'VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin', spiffeId: 'VARCHAR(2048) CHARACTER SET ascii COLLATE ascii_bin',
    trustDomain: 'VARCHAR(264) CHARACTER SET ascii COLLATE ascii_bin', short: 'VARCHAR(255)', text: 'MEDIUMTEXT', blob: 'MEDIUMBLOB',
    hash16: 'BINARY(16)', hash32: 'BINARY(32)',
  },
};

function renderTable(d: DialectName, t: Table): string[] {
  const cols = t.columns.map((col) => {
    const type = TYPES[d][col.type];
    if (col.type === 'pk') return `${col.name} ${type}`;
    return `${col.name} ${type}${col.nullable ? ' NULL' : ' NOT NULL'}`;
  });
  if (t.primaryKey) cols.push(`PRIMARY KEY (${t.primaryKey.join(', ')})`);
  if (d === 'mysql') {
    // MySQL has no CREATE INDEX IF NOT EXISTS; declaring indexes in the table
    // keeps the statement idempotent.
    for (const ix of t.indexes) cols.push(`${ix.unique ? 'UNIQUE KEY' : 'KEY'} ${ix.name} (${ix.columns.join(', ')})`);
    return [`CREATE TABLE IF NOT EXISTS ${t.name} (\n  ${cols.join(',\n  ')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC`];
  }
  return [
    `CREATE TABLE IF NOT EXISTS ${t.name} (\n  ${cols.join(',\n  ')}\n)`,
    ...t.indexes.map((ix) => `CREATE ${ix.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${ix.name} ON ${t.name} (${ix.columns.join(', ')})`),
  ];
}

function insertIgnore(d: DialectName, sql: string): string {
  if (d === 'sqlite3') return sql.replace(/^INSERT/, 'INSERT OR IGNORE');
  if (d === 'mysql') return sql.replace(/^INSERT/, 'INSERT IGNORE');
  return `${sql} ON CONFLICT DO NOTHING`;
}

export interface Migration {
  version: number;
  description: string;
  statements(d: DialectName): string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'initial schema',
    statements: (d) => [
      ...TABLES_V1.flatMap((t) => renderTable(d, t)),
      ...Object.values(SEQUENCES).map((name) => insertIgnore(d, `INSERT INTO ds_sequences (name, value) VALUES ('${name}', 0)`)),
    ],
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

export function migrationsTableSql(d: DialectName): string {
  return renderTable(d, {
    name: 'ds_migrations',
    columns: [c('version', 'int'), c('description', 'short'), c('code_version', 'short'), c('applied_at', 'bigint')],
    primaryKey: ['version'],
    indexes: [],
  })[0] as string;
}

/** A query returning one row iff the migrations table exists. */
export function migrationsTableExistsSql(d: DialectName): string {
  if (d === 'sqlite3') return "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'ds_migrations'";
  if (d === 'postgres') return "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'ds_migrations'";
  return "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'ds_migrations'";
}
