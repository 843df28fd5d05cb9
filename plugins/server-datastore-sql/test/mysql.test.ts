/** The DataStore contract and MySQL/MariaDB specifics, on a fresh database on 127.0.0.1:3306. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datastoreContract, expectCode } from '@spire-ts/conformance/datastore';
import { LATEST_VERSION, openSqlDataStore } from '../src/index.js';
import { configFor, IN_CI, mysqlAdmin, quietLogger, serverFactory, uniqueDbName, unavailableNotice } from './databases.js';
import { firstBundleRace } from './races.js';
import type { Admin } from './databases.js';

const admin = await mysqlAdmin();
if (typeof admin === 'string') {
  if (IN_CI) throw new Error(`${admin}; CI=true requires MySQL/MariaDB`);
  console.log(unavailableNotice(admin, 'Install MariaDB (apt-get install mariadb-server) and start it: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd'));
}
const my = typeof admin === 'string' ? undefined : admin;

describe.skipIf(!my)('mysql', () => {
  const a = my as Admin;
  const db = uniqueDbName('my');
  const extra: string[] = [];
  beforeAll(() => a.create(db));
  afterAll(async () => {
    for (const name of [db, ...extra]) await a.drop(name);
    await a.close();
  });

  datastoreContract('mysql', serverFactory(a, () => db, { cs: 'root@tcp(127.0.0.1:1)/none?timeout=3s', host: '127.0.0.1:1' }));

  describe('mysql specifics', () => {
    const freshDb = async (): Promise<string> => {
      const name = uniqueDbName('myx');
      extra.push(name);
      await a.create(name);
      return name;
    };

    it('servers publishing the first bundle of a trust domain at once all succeed (AppendBundle and SetBundle lose no insert race)', async () => {
      await firstBundleRace(async () => configFor('mysql', a.connectionString(await freshDb())));
    });

    it('three servers starting at once on an empty database migrate it once', async () => {
      const name = await freshDb();
      const stores = await Promise.all([1, 2, 3].map(() => openSqlDataStore(configFor('mysql', a.connectionString(name)), { logger: quietLogger() })));
      await stores[1]?.createJoinToken({ token: 't', expiresAt: 1 });
      expect(await stores[2]?.fetchJoinToken('t')).toEqual({ token: 't', expiresAt: 1 });
      await Promise.all(stores.map((s) => s.close()));
      expect(await a.run(name, 'SELECT version FROM ds_migrations ORDER BY version')).toEqual([{ version: LATEST_VERSION }]);
    });

    it('honours disable_migration and DSN parameters (session variables, timeouts, charset)', async () => {
      const name = await freshDb();
      await expectCode(openSqlDataStore(configFor('mysql', a.connectionString(name), { disable_migration: true }), { logger: quietLogger() }), 'FAILED_PRECONDITION');
      const cs = `root:@tcp(127.0.0.1:3306)/${name}?parseTime=true&charset=utf8mb4&timeout=5s&wait_timeout=600&loc=Local`;
      const ds = await openSqlDataStore(configFor('mysql', cs, { max_open_conns: 3, max_idle_conns: 1, conn_max_lifetime: '1h' }), { logger: quietLogger() });
      const e = await ds.createEntry({ spiffeId: 'spiffe://example.org/ünï', parentId: 'spiffe://example.org/p', selectors: [{ type: 'unix', value: 'ünïcode:✓' }] }).catch((err: Error) => err);
      expect(e).toBeInstanceOf(Error); // not a valid SPIFFE ID path
      const ok = await ds.createEntry({ spiffeId: 'spiffe://example.org/w', parentId: 'spiffe://example.org/p', selectors: [{ type: 'unix', value: 'ünïcode:✓' }], hint: 'Ü' });
      expect(await ds.fetchEntry(ok.id)).toEqual(ok);
      expect(await ds.countEntries({ bySelectors: { selectors: [{ type: 'unix', value: 'ÜNÏCODE:✓' }], match: 'any' } })).toBe(0);
      await ds.close();
    });

    it('compares identifiers case-sensitively', async () => {
      const name = await freshDb();
      const ds = await openSqlDataStore(configFor('mysql', a.connectionString(name)), { logger: quietLogger() });
      await ds.createEntry({ spiffeId: 'spiffe://example.org/Web', parentId: 'spiffe://example.org/p', selectors: [{ type: 'unix', value: 'uid:1' }] });
      expect(await ds.countEntries({ bySpiffeId: 'spiffe://example.org/web' })).toBe(0);
      await ds.createJoinToken({ token: 'AbC', expiresAt: 1 });
      expect(await ds.fetchJoinToken('abc')).toBeNull();
      await ds.close();
    });
  });
});
