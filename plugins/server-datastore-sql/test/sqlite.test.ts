/** The DataStore contract and SQLite specifics, in a temporary directory. */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { datastoreContract, expectCode } from '@spire-ts/conformance/datastore';
import { openSqlDataStore } from '../src/index.js';
import { configFor, quietLogger } from './databases.js';

const dir = mkdtempSync(join(tmpdir(), 'spire-ts-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
let current = '';
const open = (path: string, now?: () => number) => openSqlDataStore(configFor('sqlite3', path), { logger: quietLogger(), ...(now ? { now } : {}) });

datastoreContract('sqlite3', {
  fresh: ({ now }) => {
    current = join(dir, `ds-${++counter}.sqlite3`);
    return open(current, now);
  },
  another: ({ now }) => open(current, now),
  unreachable: () => ({ host: '/dev/null/nope/datastore.sqlite3', open: () => open('/dev/null/nope/datastore.sqlite3') }),
});

describe('sqlite3 specifics', () => {
  it('creates the database (and its WAL) readable by the owner only, in WAL mode', async () => {
    const path = join(dir, 'sub', 'dir', 'mode.sqlite3');
    const ds = await open(path);
    await ds.createJoinToken({ token: 't', expiresAt: 1 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'sub', 'dir')).mode & 0o777).toBe(0o700);
    await ds.close();
    const raw = new BetterSqlite3(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('accepts file: URIs, including an in-memory database', async () => {
    const mem = await open('file:memdb?mode=memory&cache=shared');
    await mem.createJoinToken({ token: 'm', expiresAt: 5 });
    expect(await mem.fetchJoinToken('m')).toEqual({ token: 'm', expiresAt: 5 });
    await mem.close();
    const uri = await open(`file:${join(dir, 'uri.db')}?_busy_timeout=2000&_foreign_keys=on`);
    await uri.close();
    expect(statSync(join(dir, 'uri.db')).isFile()).toBe(true);
  });

  it('rejects a database that does not exist with mode=rw as UNAVAILABLE', async () => {
    const err = await expectCode(open(`file:${join(dir, 'missing.db')}?mode=rw`), 'UNAVAILABLE');
    expect(err.message).toContain('missing.db');
  });
});
