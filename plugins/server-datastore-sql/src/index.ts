/**
 * @spire-ts/server-datastore-sql: the server's DataStore over SQLite,
 * PostgreSQL or MySQL/MariaDB, with SPIRE's `sql` plugin configuration.
 */
export { openSqlDataStore } from './open.js';
export { sqlDataStorePlugin, sqlConfigFrom } from './plugin.js';
export type { SqlDataStorePluginOptions, PluginData } from './plugin.js';
export { scratchDatabases, DB_PLACEHOLDER } from './scratch.js';
export type { ScratchDatabases } from './scratch.js';
export type { OpenOptions } from './open.js';
export { SqlDataStore } from './store.js';
export { buildConfig, redactConnectionString, DEFAULT_MAX_CONNS } from './config.js';
export type { SqlConfig, DatabaseType, ConfigResult } from './config.js';
export { parsePostgresConnectionString } from './connstr/postgres.js';
export type { PgTarget, PgSslMode } from './connstr/postgres.js';
export { parseMySqlDsn } from './connstr/mysql.js';
export type { MySqlTarget, MySqlTls } from './connstr/mysql.js';
export { parseSqliteConnectionString } from './connstr/sqlite.js';
export type { SqliteTarget } from './connstr/sqlite.js';
export { ConnectionStringError, parseGoDuration } from './connstr/common.js';
export { DataStoreError, Code, hasCode } from './errors.js';
export type { CodeName, CodeValue, ErrorDetails } from './errors.js';
export { nullLogger } from './logger.js';
export type { Logger, LogFields } from './logger.js';
export { LIMITS, spiffeIdProblem } from './validation.js';
export { certificateFacts } from './der.js';
export { DATA_TABLES, LATEST_VERSION } from './schema.js';
export type {
  AttestedNode, AuthorizedEntriesOptions, Bundle, BundleDeleteMode, BundleEndpointProfile, BundleMask, CAJournal, CAJournalInput,
  Consistency, DataStore, EntryAttributes, EntryEvent, EntryField, EntryFilters, EntryMask, FederatesWithMatch, FederationRelationship,
  FederationRelationshipInput, FederationRelationshipMask, JoinToken, JwtAuthority, ListBundlesResponse, ListEntriesRequest, ListEntriesResponse, ListEventsRequest,
  ListFederationRelationshipsResponse, ListNodesRequest, ListNodesResponse, MatchBehavior, NewBundle, NewEntry, NewNode, NodeEvent,
  NodeField, NodeFilters, NodeMask, Pagination, PruneNodesOptions, RegistrationEntry, Selector, SelectorMatch, X509Authority,
} from './types.js';
