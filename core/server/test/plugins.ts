// Built-in plugins started as real child processes for the server's tests:
// the SQL DataStore on a SQLite file, the memory KeyManager, and a
// self-signed CA certificate to put in bundles.
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { ManagedPlugin, buildCertificate, caTemplate, nullLogger, resolveBuiltIn, type LaunchSpec, type Logger } from '@spire-ts/common';
import { DataStoreV1 } from '../src/index.js';

export const DATASTORE = 'spire_ts.plugin.server.datastore.v1.DataStore';
export const KEYMANAGER = 'spire.plugin.server.keymanager.v1.KeyManager';
type ServerPluginService = typeof DATASTORE | typeof KEYMANAGER;
/** The SQL DataStore plugin's handle. */
export type DataStorePlugin = ManagedPlugin<typeof DATASTORE>;

/** A built-in server plugin (not started), for trust domain example.org unless told. */
export function builtInPlugin<S extends ServerPluginService>(
  service: S,
  type: 'DataStore' | 'KeyManager',
  name: string,
  data = '',
  opts: { readonly trustDomain?: string; readonly log?: Logger } = {},
): ManagedPlugin<S> {
  const bin = resolveBuiltIn('server', type, name);
  if (!bin) throw new Error(`${type} ${name} not built`);
  const launch: LaunchSpec = { type, name, command: bin.command, args: bin.args };
  return new ManagedPlugin({ launch, service, pluginData: data, trustDomain: opts.trustDomain ?? 'example.org', log: opts.log ?? nullLogger, restart: false });
}

/** The SQL DataStore plugin (not started) on the SQLite database `file`. */
export function sqlDataStore(file: string, opts: { readonly trustDomain?: string; readonly log?: Logger } = {}): DataStorePlugin {
  return builtInPlugin(DATASTORE, 'DataStore', 'sql', `database_type = "sqlite3"\nconnection_string = ${JSON.stringify(file)}`, opts);
}

/**
 * A test file's DataStore: the SQL plugin on a fresh SQLite database in a
 * temp dir (prefix `prefix`), started before the file's tests and stopped
 * (and the dir removed) after them.
 */
export function sqlDataStoreForFile(prefix: string): { readonly plugin: DataStorePlugin; readonly ds: DataStoreV1 } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const plugin = sqlDataStore(join(dir, 'ds.sqlite3'));
  beforeAll(() => plugin.start(), 30_000);
  afterAll(async () => {
    await plugin.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { plugin, ds: new DataStoreV1(plugin) };
}

/** The memory KeyManager plugin (not started). */
export function memoryKeyManager(): ManagedPlugin<typeof KEYMANAGER> {
  return builtInPlugin(KEYMANAGER, 'KeyManager', 'memory');
}

/** The error `p` rejects with (the test fails if it resolves). */
export async function failure(p: Promise<unknown>): Promise<{ message: string; grpcCode?: number }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as { message: string; grpcCode?: number };
}

/** A self-signed P-256 CA certificate of `trustDomain` (DER) and its public key (SPKI DER). */
export async function selfSignedCA(trustDomain: string, ttlMs = 3_600_000): Promise<{ der: Uint8Array; spki: Uint8Array }> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const der = await buildCertificate(caTemplate({ trustDomain, now: new Date(), ttlMs }), {
    publicKeyDer: spki,
    signer: { algorithm: 'ecdsa-sha256', sign: (_digest, tbs) => new Uint8Array(sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' })) },
  });
  return { der, spki };
}

/** The DER of a self-signed CA certificate of `trustDomain`. */
export async function caCert(trustDomain: string, ttlMs = 3_600_000): Promise<Uint8Array> {
  return (await selfSignedCA(trustDomain, ttlMs)).der;
}
