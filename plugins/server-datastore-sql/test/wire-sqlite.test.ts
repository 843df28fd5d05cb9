/** The DataStore contract over the wire: the built plugin binary, SQLite, a new database file per test. */
import { afterAll } from 'vitest';
import { builtInTarget } from '@spire-ts/conformance';
import { datastoreContract, pluginStoreFactory, templateDatabases } from '@spire-ts/conformance/datastore';

const pluginData = 'database_type = "sqlite3"\nconnection_string = "{{db}}"\n';
const factory = pluginStoreFactory(builtInTarget('server:DataStore:sql', pluginData), templateDatabases(pluginData));
afterAll(() => factory.close());

datastoreContract('sqlite3 over the wire', factory);
