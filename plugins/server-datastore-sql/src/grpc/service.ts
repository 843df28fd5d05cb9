/** Names both ends of the DataStore wire agree on. */

/** The plugin type's gRPC service (proto/spire_ts/plugin/server/datastore/v1/datastore.proto). */
export const DATASTORE_SERVICE = 'spire_ts.plugin.server.datastore.v1.DataStore';
export type DataStoreService = typeof DATASTORE_SERVICE;

/**
 * Tests only: when the plugin process runs with `SPIRE_TS_DATASTORE_TEST_CLOCK=1`,
 * a call may carry its clock (Unix seconds) in this metadata key, so a
 * contract suite can drive time through the wire as it does in-process.
 */
export const TEST_NOW_METADATA = 'spire-ts-test-now';
export const TEST_CLOCK_ENV = 'SPIRE_TS_DATASTORE_TEST_CLOCK';
