/**
 * The plugin itself, served in-process over the real wire (same services and
 * codecs as the binary, minus the spawn): configuration, the store's
 * lifecycle across Configure and Deinit, and hostile requests.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PluginRpc } from '@spire-ts/common';
import { CONFIG_SERVICE, createLogger, INIT_SERVICE, startPluginServer, Status } from '@spire-ts/plugin-sdk';
import type { PluginServer } from '@spire-ts/plugin-sdk';
import { DATASTORE_SERVICE, ERROR_DETAILS_TRAILER, TEST_NOW_METADATA } from '../src/grpc/index.js';
import { sqlDataStorePlugin } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'spire-ts-plugin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const dbPath = (): string => join(dir, `ds-${++n}.sqlite3`);
const sqlite = (path: string): string => `database_type = "sqlite3"\nconnection_string = "${path}"\n`;

let server: PluginServer;
let rpc: PluginRpc;

const silent = createLogger({ write: () => undefined });

async function start(opts: { testClock?: boolean } = {}): Promise<void> {
  server = await startPluginServer(sqlDataStorePlugin({ logger: silent, testClock: opts.testClock ?? false }), { log: silent });
  rpc = new PluginRpc(server.socketPath);
}

const configure = (hcl: string) => rpc.unary(CONFIG_SERVICE, 'Configure', { core_configuration: { trust_domain: 'example.org' }, hcl_configuration: hcl });
const validate = (hcl: string) => rpc.unary(CONFIG_SERVICE, 'Validate', { core_configuration: { trust_domain: 'example.org' }, hcl_configuration: hcl });
const fail = async (p: Promise<unknown>): Promise<{ code: number; details: string; metadata: Metadata }> => {
  const err = await p.then(() => undefined, (e: unknown) => e as { code: number; details: string; metadata: Metadata });
  if (!err) throw new Error('expected the call to fail');
  return err;
};

describe('DataStore plugin', () => {
  beforeEach(() => start());
  afterEach(async () => {
    rpc.close();
    await server.close();
  });

  it('answers FAILED_PRECONDITION "not configured" before Configure', async () => {
    const err = await fail(rpc.unary(DATASTORE_SERVICE, 'CountEntries', {}));
    expect(err).toMatchObject({ code: Status.FAILED_PRECONDITION, details: 'not configured' });
  });

  it('refuses bad plugin_data with INVALID_ARGUMENT naming the key', async () => {
    for (const [hcl, key] of [
      ['database_type = "oracle"\nconnection_string = "x"', 'database_type'],
      [`${sqlite(dbPath())}bogus_key = 1`, 'bogus_key'],
      [`${sqlite(dbPath())}max_open_conns = "ten"`, 'max_open_conns'],
      [`${sqlite(dbPath())}conn_max_lifetime = "forever"`, 'conn_max_lifetime'],
      ['database_type = "postgres"\nconnection_string = "user"', 'connection_string'],
    ] as const) {
      const err = await fail(configure(hcl));
      expect(err.code, hcl).toBe(Status.INVALID_ARGUMENT);
      expect(err.details, hcl).toContain(key);
    }
  });

  it('Validate returns every problem as a note, and accepts a SPIRE server.conf block', async () => {
    const res = await validate('database_type = "oracle"\nconn_max_lifetime = "forever"\nmax_idle_conns = 2');
    expect(res.valid).toBe(false);
    expect(res.notes.join('\n')).toMatch(/database_type[\s\S]*connection_string is required[\s\S]*conn_max_lifetime/);
    expect(await validate(`${sqlite(dbPath())}max_open_conns = 5\nmax_idle_conns = 2\nconn_max_lifetime = "1h"\ndisable_migration = false`)).toEqual({ valid: true, notes: [] });
  });

  it('serves after Configure; a new Configure switches databases and closes the old store', async () => {
    const [one, two] = [dbPath(), dbPath()];
    await configure(sqlite(one));
    await rpc.unary(DATASTORE_SERVICE, 'CreateJoinToken', { join_token: { token: 'in-one', expires_at: 5 } });
    expect(existsSync(`${one}-wal`)).toBe(true);
    await configure(sqlite(two));
    // better-sqlite3 removes the WAL when the last connection closes.
    expect(existsSync(`${one}-wal`)).toBe(false);
    expect((await rpc.unary(DATASTORE_SERVICE, 'FetchJoinToken', { token: 'in-one' })).join_token).toBeNull();
    await configure(sqlite(one));
    expect((await rpc.unary(DATASTORE_SERVICE, 'FetchJoinToken', { token: 'in-one' })).join_token).toEqual({ token: 'in-one', expires_at: 5 });
  });

  it('keeps the current store when a new Configure cannot open its database', async () => {
    await configure(sqlite(dbPath()));
    await rpc.unary(DATASTORE_SERVICE, 'CreateJoinToken', { join_token: { token: 'kept', expires_at: 5 } });
    const err = await fail(configure(sqlite('/dev/null/nope/ds.sqlite3')));
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.details).toContain('/dev/null/nope/ds.sqlite3');
    expect((await rpc.unary(DATASTORE_SERVICE, 'FetchJoinToken', { token: 'kept' })).join_token?.token).toBe('kept');
  });

  it('closes the store on Deinit', async () => {
    const path = dbPath();
    await configure(sqlite(path));
    await rpc.unary(DATASTORE_SERVICE, 'CreateJoinToken', { join_token: { token: 't', expires_at: 5 } });
    await rpc.unary(INIT_SERVICE, 'Deinit', {});
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect((await fail(rpc.unary(DATASTORE_SERVICE, 'CountEntries', {}))).code).toBe(Status.FAILED_PRECONDITION);
  });

  it('refuses hostile requests with INVALID_ARGUMENT and writes nothing', async () => {
    await configure(sqlite(dbPath()));
    const entry = { spiffe_id: 'spiffe://example.org/w', parent_id: 'spiffe://example.org/p', selectors: [{ type: 'unix', value: 'uid:1' }] };
    const bad: Array<Promise<unknown>> = [
      rpc.unary(DATASTORE_SERVICE, 'ListEntries', { consistency: 7 as never }),
      rpc.unary(DATASTORE_SERVICE, 'CountEntries', { filters: { by_selectors: { selectors: [{ type: 'a', value: 'b' }], match: 9 as never } } }),
      rpc.unary(DATASTORE_SERVICE, 'DeleteBundle', { trust_domain: 'example.org', mode: 5 as never }),
      rpc.unary(DATASTORE_SERVICE, 'UpdateEntry', {}),
      rpc.unary(DATASTORE_SERVICE, 'CreateNode', {}),
      rpc.unary(DATASTORE_SERVICE, 'CreateEntries', { entries: [{ ...entry, expires_at: 2 ** 62 }] }),
      rpc.unary(DATASTORE_SERVICE, 'CreateEntries', { entries: [entry, { ...entry, spiffe_id: 'spiffe://example.org/x', x509_svid_ttl: -5 }] }),
      rpc.unary(DATASTORE_SERVICE, 'CreateFederationRelationship', { federation_relationship: { trust_domain: 'fed.example', bundle_endpoint_url: 'https://fed.example/b' } }),
      rpc.unary(DATASTORE_SERVICE, 'ListNodes', { pagination: { page_size: -1 } }),
    ];
    for (const p of bad) expect((await fail(p)).code).toBe(Status.INVALID_ARGUMENT);
    expect((await rpc.unary(DATASTORE_SERVICE, 'CountEntries', {})).count).toBe(0);
    expect((await rpc.unary(DATASTORE_SERVICE, 'ListFederationRelationships', {})).federation_relationships).toEqual([]);
  });

  it('carries error details in a trailer (the existing entry on ALREADY_EXISTS)', async () => {
    await configure(sqlite(dbPath()));
    const entry = { id: 'first', spiffe_id: 'spiffe://example.org/w', parent_id: 'spiffe://example.org/p', selectors: [{ type: 'unix', value: 'uid:1' }] };
    await rpc.unary(DATASTORE_SERVICE, 'CreateEntries', { entries: [entry] });
    const err = await fail(rpc.unary(DATASTORE_SERVICE, 'CreateEntries', { entries: [{ ...entry, id: '' }] }));
    expect(err.code).toBe(Status.ALREADY_EXISTS);
    const raw = err.metadata.get(ERROR_DETAILS_TRAILER)[0];
    expect(JSON.parse(String(raw))).toMatchObject({ existingEntryId: 'first' });
  });

  it('ignores the test clock unless it is enabled', async () => {
    const md = new Metadata();
    md.set(TEST_NOW_METADATA, '1000');
    await configure(sqlite(dbPath()));
    const entry = { spiffe_id: 'spiffe://example.org/w', parent_id: 'spiffe://example.org/p', selectors: [{ type: 'unix', value: 'uid:1' }] };
    const [created] = (await rpc.unary(DATASTORE_SERVICE, 'CreateEntries', { entries: [entry] }, { metadata: md })).entries;
    expect(created?.created_at).toBeGreaterThan(1_700_000_000);
    rpc.close();
    await server.close();

    await start({ testClock: true });
    await configure(sqlite(dbPath()));
    const [faked] = (await rpc.unary(DATASTORE_SERVICE, 'CreateEntries', { entries: [entry] }, { metadata: md })).entries;
    expect(faked?.created_at).toBe(1000);
  });
});
