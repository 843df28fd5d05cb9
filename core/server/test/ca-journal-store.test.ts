// The CA journal and the local bundle kept in the real SQL DataStore plugin
// (SQLite): a CA manager saving its journal there, a restart on a new plugin
// process over the same file resuming the same CA and JWT key, a new journal
// record per activated X.509 CA, and the stored bundle tracking the manager's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nullLogger, type Bundle } from '@spire-ts/common';
import {
  CAJournalStore,
  DataStoreV1,
  JournalError,
  createPersistentCAManager,
  journalKeys,
  type CAManager,
} from '../src/index.js';
import { InProcessKeyManager } from './key-manager.js';
import type { DataStorePlugin } from './plugins.js';
import { sqlDataStore } from './plugins.js';

const TD = 'example.org';
const HOUR = 3_600_000;
const CA_TTL = 6 * HOUR;

class FakeClock {
  constructor(public t: number = Date.now()) {}
  now(): Date {
    return new Date(this.t);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'ca-journal-store-'));
const file = join(dir, 'ds.sqlite3');
const running: DataStorePlugin[] = [];
afterAll(async () => {
  for (const p of running) await p.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function startDataStore(): Promise<{ plugin: DataStorePlugin; ds: DataStoreV1 }> {
  const plugin = sqlDataStore(file);
  running.push(plugin);
  await plugin.start();
  return { plugin, ds: new DataStoreV1(plugin) };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bundleView = (b: Bundle | undefined): unknown =>
  b && { trustDomain: b.trustDomain, x509: b.x509Authorities.map(hex), jwt: b.jwtAuthorities.map((a) => ({ ...a, publicKeyDer: hex(a.publicKeyDer) })) };

describe('CA journal and bundle in the DataStore', () => {
  const clock = new FakeClock();
  const km = new InProcessKeyManager();
  const config = { trustDomain: TD, clock, keyManager: km, caTtlMs: CA_TTL, log: nullLogger };
  let first: CAManager;
  let firstStore: CAJournalStore;

  it('a new manager saves its journal keyed by the active authorities and publishes its bundle', async () => {
    const { ds } = await startDataStore();
    firstStore = new CAJournalStore({ dataStore: ds });
    first = await createPersistentCAManager(config, firstStore);
    const slots = first.slots();
    const stored = await ds.fetchLatestCAJournal();
    expect(stored).toBeDefined();
    expect(stored?.activeX509AuthorityId).toBe(slots.x509.current?.authorityId);
    expect(stored?.activeX509AuthorityId).toMatch(/^[0-9a-f]{40}$/);
    expect(stored?.activeJwtAuthorityId).toBe(slots.jwt.current?.authorityId);
    expect(stored?.expiresAt).toBe(Math.floor((slots.x509.current?.notAfter.getTime() ?? 0) / 1000));
    expect(hex(stored?.data ?? new Uint8Array())).toBe(hex(first.journal()));
    expect(bundleView(await ds.fetchBundle(TD))).toEqual(bundleView(first.bundle()));
    // Prepare and activation happen in one create: still a single journal record.
    expect(firstStore.record?.id).toBe(stored?.id);
  });

  it('rotation starts a new journal record for the new X.509 CA and republishes the bundle', async () => {
    const before = firstStore.record;
    clock.t += Math.round(CA_TTL * 0.9);
    const { actions } = await first.rotate();
    expect(actions.map((a) => `${a.type}:${'kind' in a ? a.kind : ''}`)).toEqual(expect.arrayContaining(['prepare:x509', 'activate:x509']));
    await firstStore.flush();
    const ds = new DataStoreV1(running[0] as DataStorePlugin);
    const stored = await ds.fetchLatestCAJournal();
    expect(stored?.id).toBeGreaterThan(before?.id ?? 0);
    expect(stored?.activeX509AuthorityId).toBe(first.slots().x509.current?.authorityId);
    expect(stored?.activeX509AuthorityId).not.toBe(before?.activeX509AuthorityId);
    const bundle = await ds.fetchBundle(TD);
    expect(bundle?.x509Authorities).toHaveLength(2);
    expect(bundleView(bundle)).toEqual(bundleView(first.bundle()));
  });

  it('after a restart on a new plugin process, the manager resumes the same CA and JWT key', async () => {
    const caDer = hex(first.ca.x509CA?.certificate.der ?? new Uint8Array());
    const kid = first.ca.jwtKey?.kid;
    const generated = km.generated.length;
    for (const p of running.splice(0)) await p.stop();

    const { ds } = await startDataStore();
    const store = new CAJournalStore({ dataStore: ds });
    const second = await createPersistentCAManager(config, store);
    expect(hex(second.ca.x509CA?.certificate.der ?? new Uint8Array())).toBe(caDer);
    expect(second.ca.jwtKey?.kid).toBe(kid);
    expect(km.generated.length).toBe(generated);
    expect(second.slots()).toEqual(first.slots());
    expect(bundleView(await ds.fetchBundle(TD))).toEqual(bundleView(second.bundle()));
    expect(bundleView(second.bundle())).toEqual(bundleView(first.bundle()));
  });

  it('a corrupt stored journal stops start-up with a JournalError', async () => {
    const ds = new DataStoreV1(running[0] as DataStorePlugin);
    await ds.setCAJournal({ data: new TextEncoder().encode('{"version":99}'), activeX509AuthorityId: 'x', activeJwtAuthorityId: '', expiresAt: 0 });
    await expect(createPersistentCAManager(config, new CAJournalStore({ dataStore: ds }))).rejects.toBeInstanceOf(JournalError);
  });

  it('a DataStore failure while saving fails the rotation step with the plugin named', async () => {
    const ds = new DataStoreV1(running[0] as DataStorePlugin);
    const store = new CAJournalStore({ dataStore: ds });
    await running[0]?.stop();
    const err = await store.save(first.journal()).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/^datastore\(sql\): /);
  });
});

describe('journalKeys', () => {
  it('refuses bytes that are not a journal', () => {
    expect(() => journalKeys(new TextEncoder().encode('nope'))).toThrow(JournalError);
  });
});
