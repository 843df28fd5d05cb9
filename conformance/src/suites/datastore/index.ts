/**
 * `@spire-ts/conformance/datastore`: the DataStore contract (vitest suites),
 * its fixtures, and the pieces to run it over the wire against a DataStore
 * plugin: {@link WireDataStore}, {@link pluginStoreFactory} and
 * {@link templateDatabases}.
 */
export { datastoreContract, Harness } from './contract.js';
export type { StoreFactory } from './contract.js';
export { workload } from './entries.js';
export { agentId, expectCode, FakeClock, fakeCert, fakeKey, GrpcCode, sel, SERVER_ID, TD } from './fixtures.js';
export type { GrpcCodeName } from './fixtures.js';
export { WireDataStore } from './wire.js';
export type { WireDataStoreOptions } from './wire.js';
export { pluginStoreFactory } from './plugin-factory.js';
export type { DatabaseProvider, PluginStoreFactory } from './plugin-factory.js';
export { DB_PLACEHOLDER, templateDatabases } from './databases.js';
