/** The DataStore contract and PostgreSQL specifics, on a fresh database on 127.0.0.1:5432. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datastoreContract, expectCode } from '@spire-ts/conformance/datastore';
import { LATEST_VERSION, openSqlDataStore } from '../src/index.js';
import { configFor, IN_CI, postgresAdmin, quietLogger, serverFactory, uniqueDbName, unavailableNotice } from './databases.js';
import { firstBundleRace } from './races.js';
import type { Admin } from './databases.js';

const admin = await postgresAdmin();
if (typeof admin === 'string') {
  if (IN_CI) throw new Error(`${admin}; CI=true requires PostgreSQL`);
  console.log(unavailableNotice(admin, 'Install PostgreSQL (apt-get install postgresql) and start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'));
}
const pg = typeof admin === 'string' ? undefined : admin;

describe.skipIf(!pg)('postgres', () => {
  const a = pg as Admin;
  const db = uniqueDbName('pg');
  const extra: string[] = [];
  beforeAll(() => a.create(db));
  afterAll(async () => {
    for (const name of [db, ...extra]) await a.drop(name);
    await a.close();
  });

  datastoreContract('postgres', serverFactory(a, () => db, { cs: 'postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=3', host: '127.0.0.1:1' }));

  describe('postgres specifics', () => {
    const freshDb = async (): Promise<string> => {
      const name = uniqueDbName('pgx');
      extra.push(name);
      await a.create(name);
      return name;
    };

    it('servers publishing the first bundle of a trust domain at once all succeed (AppendBundle and SetBundle lose no insert race)', async () => {
      await firstBundleRace(async () => configFor('postgres', a.connectionString(await freshDb())));
    });

    it('three servers starting at once on an empty database migrate it once', async () => {
      const name = await freshDb();
      const stores = await Promise.all([1, 2, 3].map(() => openSqlDataStore(configFor('postgres', a.connectionString(name)), { logger: quietLogger() })));
      await stores[0]?.createEntry({ spiffeId: 'spiffe://example.org/w', parentId: 'spiffe://example.org/p', selectors: [{ type: 'unix', value: 'uid:1' }] });
      expect(await stores[2]?.countEntries()).toBe(1);
      await Promise.all(stores.map((s) => s.close()));
      expect(await a.run(name, 'SELECT version FROM ds_migrations ORDER BY version')).toEqual([{ version: LATEST_VERSION }]);
    });

    it('honours disable_migration and refuses a newer schema', async () => {
      const name = await freshDb();
      await expectCode(openSqlDataStore(configFor('postgres', a.connectionString(name), { disable_migration: true }), { logger: quietLogger() }), 'FAILED_PRECONDITION', /disable_migration/);
      await (await openSqlDataStore(configFor('postgres', a.connectionString(name)), { logger: quietLogger() })).close();
      await (await openSqlDataStore(configFor('postgres', a.connectionString(name), { disable_migration: true }), { logger: quietLogger() })).close();
      await a.run(name, "INSERT INTO ds_migrations (version, description, code_version, applied_at) VALUES (999, 'future', 'x', 0)");
      await expectCode(openSqlDataStore(configFor('postgres', a.connectionString(name)), { logger: quietLogger() }), 'FAILED_PRECONDITION', /newer/);
    });

    it('accepts the key=value form and a read replica, and redacts passwords in logs', async () => {
      const lines: string[] = [];
      const cs = `dbname=${db} user=postgres password='s3cr3t pw' host=127.0.0.1 port=5432 sslmode=disable`;
      const ds = await openSqlDataStore(
        configFor('postgres', cs, { ro_connection_string: `postgres://postgres:hunter2@127.0.0.1:5432/${db}?sslmode=disable`, max_open_conns: 2, conn_max_lifetime: '1m' }),
        { logger: quietLogger(lines) },
      );
      await ds.createJoinToken({ token: 'kv', expiresAt: 1 });
      expect((await ds.listEntries({ consistency: 'stale' })).entries).toEqual([]);
      await ds.close();
      const log = lines.join('\n');
      expect(log).toContain('password=xxxxx');
      expect(log).toContain('postgres:xxxxx@');
      expect(log).not.toMatch(/s3cr3t|hunter2/);
    });

    it('reports a missing database as UNAVAILABLE naming the host', async () => {
      const err = await expectCode(openSqlDataStore(configFor('postgres', a.connectionString('no_such_db_here')), { logger: quietLogger() }), 'UNAVAILABLE');
      expect(err.message).toContain('127.0.0.1:5432');
    });
  });
});
