/**
 * The environment the API service tests share: a real SQL DataStore plugin
 * (SQLite in a temp dir), a real memory KeyManager plugin, a CA manager and
 * the ApiDeps over them; plus request builders.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import { CAManager, DataStoreV1, KeyManagerV1 } from '../src/index.js';
import type { ApiDeps, EntryIndex } from '../src/api/deps.js';
import { memoryKeyManager, sqlDataStore } from './plugins.js';

export const TD = 'example.org';
/** A request as handlers receive it (the fields a test leaves out are never read). */
export const r = (x: object): never => x as never;
export const id = (path: string, td = TD): apiTypes.SPIFFEID => ({ trust_domain: td, path });
export const sel = (type: string, value: string): apiTypes.Selector => ({ type, value });

export interface ApiEnv {
  /** A temp dir removed by close() (for sockets and files). */
  readonly dir: string;
  readonly ds: DataStoreV1;
  readonly manager: CAManager;
  readonly clock: { now(): Date };
  /** ApiDeps with `entries` (from {@link startApiEnv}'s `entries` callback). */
  readonly deps: ApiDeps;
  close(): Promise<void>;
}

/**
 * Starts the plugins and the CA; `entries` builds the EntryIndex once the
 * DataStore is up (after `prepare`, e.g. to create bundles first).
 */
export async function startApiEnv(
  prefix: string,
  entries: (ds: DataStoreV1, clock: { now(): Date }) => Promise<EntryIndex & { close?(): Promise<void> }> | (EntryIndex & { close?(): Promise<void> }),
  prepare?: (ds: DataStoreV1, manager: CAManager) => Promise<void>,
): Promise<ApiEnv> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const dsPlugin = sqlDataStore(join(dir, 'ds.sqlite3'));
  const kmPlugin = memoryKeyManager();
  const ds = new DataStoreV1(dsPlugin);
  await Promise.all([dsPlugin.start(), kmPlugin.start()]);
  const clock = { now: () => new Date() };
  const manager = await CAManager.create({ trustDomain: TD, clock, keyManager: new KeyManagerV1(kmPlugin), caTtlMs: 3_600_000 });
  await prepare?.(ds, manager);
  const index = await entries(ds, clock);
  const deps: ApiDeps = {
    trustDomain: TD, clock, log: nullLogger, ds, ca: manager.ca, bundle: () => manager.bundle(), entries: index, nodeAttestors: new Map(), adminIds: [],
  };
  return {
    dir,
    ds,
    manager,
    clock,
    deps,
    close: async () => {
      await index.close?.();
      await Promise.all([dsPlugin.stop(), kmPlugin.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
