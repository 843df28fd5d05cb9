/** The DataStore contract over the wire: the built plugin binary on MySQL/MariaDB (one database, emptied per test). */
import { afterAll, beforeAll, describe } from 'vitest';
import { builtInTarget } from '@spire-ts/conformance';
import { datastoreContract, pluginStoreFactory } from '@spire-ts/conformance/datastore';
import { IN_CI, mysqlAdmin, resetDatabases, uniqueDbName, unavailableNotice } from './databases.js';
import type { Admin } from './databases.js';

const admin = await mysqlAdmin();
if (typeof admin === 'string') {
  if (IN_CI) throw new Error(`${admin}; CI=true requires MySQL/MariaDB`);
  console.log(unavailableNotice(admin, 'see mysql.test.ts'));
}
const my = typeof admin === 'string' ? undefined : admin;

describe.skipIf(!my)('mysql over the wire', () => {
  const a = my as Admin;
  const db = uniqueDbName('myw');
  const databases = resetDatabases(a, () => db, { cs: 'root@tcp(127.0.0.1:1)/none?timeout=3s', host: '127.0.0.1:1' });
  const factory = pluginStoreFactory(builtInTarget('server:DataStore:sql', ''), databases);
  beforeAll(() => a.create(db));
  afterAll(async () => {
    await factory.close();
    await a.drop(db);
    await a.close();
  });

  datastoreContract('mysql over the wire', factory);
});
