/**
 * The server's entry cache: a {@link MemoryEntryIndex} loaded in full at
 * start and kept fresh by polling the DataStore's entry and node events
 * (SPIRE's authorized entry fetcher). Changed entries and nodes are fetched
 * again by id; an id the DataStore no longer has is removed.
 */
import type { Logger } from '@spire-ts/common';
import type { CachedAgent, EntryIndex } from '../api/deps.js';
import type { Clock } from '../ca/clock.js';
import type { DataStore, RegistrationEntry } from '../plugin/datastore/datastore.js';
import { EventCursor } from './events.js';
import { MemoryEntryIndex, type EntryIndexStats } from './memory-index.js';

export interface EntryCacheOptions {
  ds: DataStore;
  clock: Clock;
  log: Logger;
  /** Bare trust domain name. */
  trustDomain: string;
  /** Default 1000 ms. */
  pollIntervalMs?: number;
  /** How long an event id skipped over is waited for (SPIRE's event timeout); default 15 minutes. */
  eventTimeoutMs?: number;
  /** Items per DataStore listing or batch fetch; default 1000. */
  pageSize?: number;
  /** Skipped event ids tracked at most per stream; default 100,000. */
  maxTrackedEvents?: number;
}

export interface EntryCacheStats extends EntryIndexStats {
  lastEntryEventId: number;
  lastNodeEventId: number;
  skippedEntryEvents: number;
  skippedNodeEvents: number;
  /** Changed ids read from events but not yet fetched (a failed poll leaves them). */
  pendingEntries: number;
  pendingNodes: number;
}

/** Loads the cache in full and starts polling; rejects if the initial load fails. */
export async function createEntryCache(opts: EntryCacheOptions): Promise<EntryCache> {
  const cache = new EntryCache(opts);
  await cache.load();
  cache.start();
  return cache;
}

export class EntryCache implements EntryIndex {
  private readonly ds: DataStore;
  private readonly log: Logger;
  private readonly pollIntervalMs: number;
  private readonly pageSize: number;
  private readonly index: MemoryEntryIndex;
  private readonly entryEvents: EventCursor;
  private readonly nodeEvents: EventCursor;
  private readonly pendingEntries = new Set<string>();
  private readonly pendingNodes = new Set<string>();

  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failing = false;

  /** Use {@link createEntryCache}: the cache answers nothing useful before `load()`. */
  constructor(opts: EntryCacheOptions) {
    this.ds = opts.ds;
    this.log = opts.log;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.pageSize = opts.pageSize ?? 1000;
    if (!(this.pollIntervalMs > 0)) throw new RangeError(`entry cache: pollIntervalMs must be > 0, got ${this.pollIntervalMs}`);
    if (!Number.isInteger(this.pageSize) || this.pageSize <= 0) throw new RangeError(`entry cache: pageSize must be a positive integer, got ${this.pageSize}`);
    const nowMs = (): number => opts.clock.now().getTime();
    this.index = new MemoryEntryIndex(opts.trustDomain, () => Math.floor(nowMs() / 1000));
    const cursor = { nowMs, timeoutMs: opts.eventTimeoutMs ?? 15 * 60_000, pageSize: this.pageSize, maxTracked: opts.maxTrackedEvents ?? 100_000, log: opts.log };
    this.entryEvents = new EventCursor((after, limit) => this.ds.listEntryEvents(after, limit), { ...cursor, kind: 'entry' });
    this.nodeEvents = new EventCursor((after, limit) => this.ds.listNodeEvents(after, limit), { ...cursor, kind: 'node' });
  }

  // ---- EntryIndex ---------------------------------------------------------------

  authorizedEntries(agentId: string): readonly RegistrationEntry[] {
    return this.index.authorizedEntries(agentId);
  }

  lookupAuthorizedEntries(agentId: string, ids: Iterable<string>): Map<string, RegistrationEntry> {
    return this.index.lookupAuthorizedEntries(agentId, ids);
  }

  entriesWithSpiffeId(spiffeId: string): readonly RegistrationEntry[] {
    return this.index.entriesWithSpiffeId(spiffeId);
  }

  agent(agentId: string): CachedAgent | undefined {
    return this.index.agent(agentId);
  }

  /**
   * Polls now. Runs never overlap: a call while a poll is under way waits for
   * the next one (so it sees writes made before the call), and all such
   * callers share it. Rejects with the DataStore's error if the poll fails.
   */
  refresh(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('entry cache: closed'));
    if (!this.running) return this.run();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.run();
      });
    return this.queued;
  }

  /** Stops polling; resolves once a poll under way has ended. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([this.running, this.queued]);
  }

  stats(): EntryCacheStats {
    return {
      ...this.index.stats(),
      lastEntryEventId: this.entryEvents.lastEventId, lastNodeEventId: this.nodeEvents.lastEventId,
      skippedEntryEvents: this.entryEvents.trackedSkipped, skippedNodeEvents: this.nodeEvents.trackedSkipped,
      pendingEntries: this.pendingEntries.size, pendingNodes: this.pendingNodes.size,
    };
  }

  // ---- loading and polling ------------------------------------------------------

  /**
   * The full load. The events are read first, so a write that lands during
   * the listing is seen again by the first poll.
   */
  async load(): Promise<void> {
    await this.entryEvents.poll(new Set());
    await this.nodeEvents.poll(new Set());
    let token = '';
    do {
      const page = await this.ds.listEntries({ pageSize: this.pageSize, pageToken: token });
      for (const e of page.items) this.index.upsertEntry(e);
      token = page.nextPageToken;
    } while (token !== '');
    do {
      const page = await this.ds.listNodes({ pageSize: this.pageSize, pageToken: token }, {}, { selectors: true });
      for (const n of page.items) this.index.upsertAgent(n);
      token = page.nextPageToken;
    } while (token !== '');
    const s = this.index.stats();
    this.log.info('entry cache loaded', { entries: s.entries, node_aliases: s.aliases, agents: s.agents });
  }

  /** Starts the poll timer (after `load()`). */
  start(): void {
    if (this.closed || this.timer) return;
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A failure was logged by poll(); the next tick retries.
      this.refresh().then(
        () => this.schedule(),
        () => this.schedule(),
      );
    }, this.pollIntervalMs);
    this.timer.unref();
  }

  private run(): Promise<void> {
    const p = this.poll().finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }

  private async poll(): Promise<void> {
    try {
      await this.entryEvents.poll(this.pendingEntries);
      await this.applyEntries();
      await this.nodeEvents.poll(this.pendingNodes);
      await this.applyNodes();
    } catch (err) {
      if (!this.failing) {
        this.failing = true;
        this.log.error('entry cache: failed to read changes from the DataStore; serving what is cached and retrying', {
          error: err instanceof Error ? err.message : String(err),
        });
      }
      throw err;
    }
    if (this.failing) {
      this.failing = false;
      this.log.info('entry cache: reading changes from the DataStore again');
    }
  }

  private async applyEntries(): Promise<void> {
    const ids = [...this.pendingEntries];
    for (let i = 0; i < ids.length; i += this.pageSize) {
      const chunk = ids.slice(i, i + this.pageSize);
      const found = new Map((await this.ds.fetchEntries(chunk)).map((e) => [e.id, e]));
      for (const id of chunk) {
        const e = found.get(id);
        if (e) this.index.upsertEntry(e);
        else this.index.removeEntry(id);
        this.pendingEntries.delete(id);
      }
    }
  }

  private async applyNodes(): Promise<void> {
    const ids = [...this.pendingNodes];
    for (let i = 0; i < ids.length; i += this.pageSize) {
      const chunk = ids.slice(i, i + this.pageSize);
      const found = new Map((await this.ds.fetchNodes(chunk)).map((n) => [n.spiffeId, n]));
      for (const id of chunk) {
        const n = found.get(id);
        if (n) this.index.upsertAgent(n);
        else this.index.removeAgent(id);
        this.pendingNodes.delete(id);
      }
    }
  }
}
