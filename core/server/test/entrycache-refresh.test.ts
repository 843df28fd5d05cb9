// The entry cache's refresher over the real SQL DataStore plugin (SQLite):
// the initial load, event-driven updates of entries and agents, event ids
// committed out of order (skipped ids and ids below the first), outages
// logged once, the poll timer, and shared concurrent refreshes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { memoryLogger, nullLogger } from '@spire-ts/common';
import { DataStoreV1 } from '../src/index.js';
import { createEntryCache, type EntryCache, type EntryCacheOptions } from '../src/entrycache/index.js';
import type { DataStore, NewNode, Selector } from '../src/plugin/datastore/datastore.js';
import type { DataStorePlugin } from './plugins.js';
import { sqlDataStore } from './plugins.js';

const TD = 'example.org';
const SERVER = `spiffe://${TD}/spire/server`;

const dir = mkdtempSync(join(tmpdir(), 'entrycache-'));
let plugin: DataStorePlugin;
let ds: DataStoreV1;
let dbn = 0;

// Each test gets its own database (a fresh plugin process) so event ids start clean.
async function freshStore(): Promise<void> {
  plugin = sqlDataStore(join(dir, `ds${++dbn}.sqlite3`));
  await plugin.start();
  ds = new DataStoreV1(plugin);
}

/**
 * The real store seen through a gate: `hidden` entry ids are not committed
 * yet as far as readers can tell (their rows and events are invisible), and
 * `down` makes every read fail like an unreachable database.
 */
class Gate {
  hidden = new Set<string>();
  down = false;
  entryEventCalls = 0;
  store(inner: DataStore): DataStore {
    const g = Object.create(inner) as DataStore;
    const up = (): void => {
      if (this.down) throw Object.assign(new Error('datastore(sql): database is locked'), { grpcCode: 14 });
    };
    g.listEntryEvents = async (after, limit) => {
      up();
      this.entryEventCalls++;
      return (await inner.listEntryEvents(after, limit)).filter((e) => !this.hidden.has(e.subject));
    };
    g.listNodeEvents = async (after, limit) => {
      up();
      return inner.listNodeEvents(after, limit);
    };
    g.listEntries = async (page, filters) => {
      up();
      const p = await inner.listEntries(page, filters);
      return { ...p, items: p.items.filter((e) => !this.hidden.has(e.id)) };
    };
    g.fetchEntries = async (ids) => {
      up();
      return (await inner.fetchEntries(ids)).filter((e) => !this.hidden.has(e.id));
    };
    g.fetchNodes = async (ids) => {
      up();
      return inner.fetchNodes(ids);
    };
    return g;
  }
}

const agentId = (n: number | string): string => `spiffe://${TD}/spire/agent/x/${n}`;
const wl = (name: string): string => `spiffe://${TD}/${name}`;
const sel = (...vs: string[]): Selector[] => vs.map((v) => ({ type: 't', value: v }));
const node = (id: string, selectors: Selector[]): NewNode => ({
  spiffeId: id, attestationDataType: 'x', certSerialNumber: '1', certNotAfter: 4_000_000_000, newCertSerialNumber: '', newCertNotAfter: 0,
  canReattest: false, agentVersion: '1', selectors,
});
const names = (es: readonly { spiffeId: string }[]): string[] => es.map((e) => e.spiffeId).sort();

let cache: EntryCache | undefined;
async function open(opts: Partial<EntryCacheOptions> = {}, gate?: Gate): Promise<EntryCache> {
  cache = await createEntryCache({
    ds: gate ? gate.store(ds) : ds, clock: { now: () => new Date() }, log: nullLogger, trustDomain: TD, pollIntervalMs: 3_600_000, ...opts,
  });
  return cache;
}

afterEach(async () => {
  await cache?.close();
  cache = undefined;
  await plugin.stop();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('EntryCache over the SQL DataStore (SQLite)', () => {
  it('loads everything at start (paging), aliases included', async () => {
    await freshStore();
    for (let i = 0; i < 7; i++) await ds.createEntry({ spiffeId: wl(`w${i}`), parentId: agentId(1), selectors: sel(`u${i}`) });
    await ds.createEntry({ spiffeId: wl('cluster'), parentId: SERVER, selectors: sel('c', 'eu') });
    await ds.createEntry({ spiffeId: wl('cw'), parentId: wl('cluster'), selectors: sel('cw') });
    await ds.createNode(node(agentId(2), sel('c', 'eu', 'other')));
    const c = await open({ pageSize: 3 });
    expect(c.authorizedEntries(agentId(1))).toHaveLength(7);
    expect(names(c.authorizedEntries(agentId(2)))).toEqual([wl('cw')]);
    expect(c.agent(agentId(2))).toMatchObject({ spiffeId: agentId(2), banned: false, certSerialNumber: '1', selectors: sel('c', 'eu', 'other') });
    expect(c.stats()).toMatchObject({ entries: 9, aliases: 1, agents: 1, pendingEntries: 0 });
  });

  it('follows entry creates, updates and deletes on refresh()', async () => {
    await freshStore();
    const c = await open();
    const e = await ds.createEntry({ spiffeId: wl('a'), parentId: agentId(1), selectors: sel('a') });
    expect(c.authorizedEntries(agentId(1))).toEqual([]);
    await c.refresh();
    expect(names(c.authorizedEntries(agentId(1)))).toEqual([wl('a')]);
    expect(names(c.entriesWithSpiffeId(wl('a')))).toEqual([wl('a')]);
    const moved = await ds.updateEntry({ ...e, parentId: agentId(2) });
    await c.refresh();
    expect(c.authorizedEntries(agentId(1))).toEqual([]);
    expect(c.authorizedEntries(agentId(2)).map((x) => x.revisionNumber)).toEqual([moved.revisionNumber]);
    await ds.deleteEntry(e.id);
    await c.refresh();
    expect(c.authorizedEntries(agentId(2))).toEqual([]);
    expect(c.stats().entries).toBe(0);
  });

  it('follows agents: attestation, selector changes, banning, deletion', async () => {
    await freshStore();
    await ds.createEntry({ spiffeId: wl('cluster'), parentId: SERVER, selectors: sel('c') });
    await ds.createEntry({ spiffeId: wl('cw'), parentId: wl('cluster'), selectors: sel('cw') });
    const c = await open();
    expect(c.agent(agentId(1))).toBeUndefined();
    await ds.createNode(node(agentId(1), sel('c')));
    await c.refresh();
    expect(names(c.authorizedEntries(agentId(1)))).toEqual([wl('cw')]);
    await ds.setNodeSelectors(agentId(1), sel('d'));
    await c.refresh();
    expect(c.agent(agentId(1))?.selectors).toEqual(sel('d'));
    expect(c.authorizedEntries(agentId(1))).toEqual([]);
    const { selectors: _s, ...plain } = node(agentId(1), []);
    await ds.updateNode({ ...plain, certSerialNumber: '' });
    await c.refresh();
    expect(c.agent(agentId(1))).toMatchObject({ banned: true, certSerialNumber: '' });
    await ds.deleteNode(agentId(1));
    await c.refresh();
    expect(c.agent(agentId(1))).toBeUndefined();
  });

  it('picks up an event id committed after a later one (skipped ids are looked for again)', async () => {
    await freshStore();
    const gate = new Gate();
    await ds.createEntry({ spiffeId: wl('first'), parentId: agentId(1), selectors: sel('f') });
    const c = await open({}, gate);
    const slow = await ds.createEntry({ spiffeId: wl('slow'), parentId: agentId(1), selectors: sel('s') });
    gate.hidden.add(slow.id);
    await ds.createEntry({ spiffeId: wl('fast'), parentId: agentId(1), selectors: sel('x') });
    await c.refresh();
    expect(names(c.authorizedEntries(agentId(1)))).toEqual([wl('fast'), wl('first')]);
    expect(c.stats().skippedEntryEvents).toBe(1);
    gate.hidden.delete(slow.id);
    await c.refresh();
    expect(names(c.authorizedEntries(agentId(1)))).toEqual([wl('fast'), wl('first'), wl('slow')]);
    expect(c.stats().skippedEntryEvents).toBe(0);
  });

  it('gives up on a skipped id after the event timeout', async () => {
    await freshStore();
    const gate = new Gate();
    let t = Date.now();
    await ds.createEntry({ spiffeId: wl('first'), parentId: agentId(1), selectors: sel('f') });
    const c = await open({ clock: { now: () => new Date(t) }, eventTimeoutMs: 60_000 }, gate);
    const slow = await ds.createEntry({ spiffeId: wl('slow'), parentId: agentId(1), selectors: sel('s') });
    gate.hidden.add(slow.id);
    await ds.createEntry({ spiffeId: wl('fast'), parentId: agentId(1), selectors: sel('x') });
    await c.refresh();
    expect(c.stats().skippedEntryEvents).toBe(1);
    t += 60_001;
    await c.refresh();
    expect(c.stats().skippedEntryEvents).toBe(0);
  });

  it('picks up an id below the first event seen at start, within the timeout', async () => {
    await freshStore();
    const gate = new Gate();
    const slow = await ds.createEntry({ spiffeId: wl('slow'), parentId: agentId(1), selectors: sel('s') });
    await ds.createEntry({ spiffeId: wl('fast'), parentId: agentId(1), selectors: sel('x') });
    gate.hidden.add(slow.id);
    const c = await open({}, gate);
    expect(names(c.authorizedEntries(agentId(1)))).toEqual([wl('fast')]);
    gate.hidden.delete(slow.id);
    await c.refresh();
    expect(names(c.authorizedEntries(agentId(1)))).toEqual([wl('fast'), wl('slow')]);
  });

  it('logs an outage once, keeps serving, retries, and catches up', async () => {
    await freshStore();
    const gate = new Gate();
    const log = memoryLogger();
    await ds.createEntry({ spiffeId: wl('kept'), parentId: agentId(1), selectors: sel('k') });
    const c = await open({ log }, gate);
    gate.down = true;
    await ds.createEntry({ spiffeId: wl('during'), parentId: agentId(1), selectors: sel('d') });
    for (let i = 0; i < 3; i++) await expect(c.refresh()).rejects.toThrow(/database is locked/);
    expect(log.lines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(log.lines.find((l) => l.level === 'error')?.fields['error']).toMatch(/database is locked/);
    expect(names(c.authorizedEntries(agentId(1)))).toEqual([wl('kept')]);
    gate.down = false;
    await c.refresh();
    expect(names(c.authorizedEntries(agentId(1)))).toEqual([wl('during'), wl('kept')]);
    expect(log.lines.filter((l) => l.msg.includes('again'))).toHaveLength(1);
    gate.down = true;
    await expect(c.refresh()).rejects.toThrow();
    expect(log.lines.filter((l) => l.level === 'error')).toHaveLength(2);
  });

  it('polls on its timer, and stops when closed', async () => {
    await freshStore();
    const c = await open({ pollIntervalMs: 20 });
    await ds.createEntry({ spiffeId: wl('timed'), parentId: agentId(1), selectors: sel('t') });
    await vi.waitFor(() => expect(names(c.authorizedEntries(agentId(1)))).toEqual([wl('timed')]), { timeout: 5_000, interval: 20 });
    await c.close();
    await ds.createEntry({ spiffeId: wl('late'), parentId: agentId(1), selectors: sel('l') });
    await new Promise((r) => setTimeout(r, 150));
    expect(names(c.authorizedEntries(agentId(1)))).toEqual([wl('timed')]);
    await expect(c.refresh()).rejects.toThrow(/closed/);
  });

  it('runs concurrent refreshes one at a time; callers during a run share the next one', async () => {
    await freshStore();
    const gate = new Gate();
    const c = await open({}, gate);
    const before = gate.entryEventCalls;
    const p1 = c.refresh();
    const p2 = c.refresh();
    const p3 = c.refresh();
    expect(p2).toBe(p3);
    expect(p1).not.toBe(p2);
    await Promise.all([p1, p2, p3]);
    expect(gate.entryEventCalls - before).toBe(2);
  });

  it('refuses to load when the DataStore is down', async () => {
    await freshStore();
    const gate = new Gate();
    gate.down = true;
    await expect(open({}, gate)).rejects.toThrow(/database is locked/);
  });
});
