/** The DataStore contract over the wire: the built plugin binary on PostgreSQL (one database, emptied per test). */
import { afterAll, beforeAll, describe } from 'vitest';
import { builtInTarget } from '@spire-ts/conformance';
import { datastoreContract, pluginStoreFactory } from '@spire-ts/conformance/datastore';
import { IN_CI, postgresAdmin, resetDatabases, uniqueDbName, unavailableNotice } from './databases.js';
import type { Admin } from './databases.js';

const admin = await postgresAdmin();
if (typeof admin === 'string') {
  if (IN_CI) throw new Error(`${admin}; CI=true requires PostgreSQL`);
  console.log(unavailableNotice(admin, 'see postgres.test.ts'));
}
const pg = typeof admin === 'string' ? undefined : admin;

describe.skipIf(!pg)('postgres over the wire', () => {
  const a = pg as Admin;
  const db = uniqueDbName('pgw');
  const databases = resetDatabases(a, () => db, { cs: 'postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=3', host: '127.0.0.1:1' });
  const factory = pluginStoreFactory(builtInTarget('server:DataStore:sql', ''), databases);
  beforeAll(() => a.create(db));
  afterAll(async () => {
    await factory.close();
    await a.drop(db);
    await a.close();
  });

  datastoreContract('postgres over the wire', factory);
});
