/**
 * spire-agent's cache manager (SPIRE's pkg/agent/manager): keeps the entries
 * the agent is authorised for, the bundles, and X.509-SVIDs for them in sync
 * with the SPIRE server, and serves them to the Workload API as a
 * {@link WorkloadCache}.
 *
 * Every sync (each `syncIntervalMs`): SyncAuthorizedEntries, GetBundle, the
 * federated bundles the entries ask for, then the X.509-SVIDs that are
 * missing, outdated (entry revision changed) or past half their lifetime,
 * in batches. A failed sync keeps the cache as it was and is retried with
 * exponential backoff; the outage is logged once when it starts and once
 * when it ends. Cached X.509-SVIDs that pass their renewal time or expire
 * unrenewed are still served; after each sync attempt, when their number
 * changed, one line says how many and which is most urgent.
 */
import { nullLogger, parseTrustDomain, Registrations, type Bundle, type KeyType, type Logger } from '@spire-ts/common';
import { selectorKey, type JwtSvid, type Selector, type WorkloadCache, type WorkloadEntry, type WorkloadUpdate, type WorkloadUpdateListener } from '../workload/cache.js';
import type { AgentEntry, AgentServerApi } from '../node/server-api.js';
import { Backoff, BACKOFF_JITTER } from './backoff.js';
import { toWorkloadEntry } from './entries.js';
import { IdentityCache, type DueSvid, type OverdueSvids } from './identity-cache.js';
import { SyncGarbage } from './gc.js';
import { JwtSvidCache } from './jwt-cache.js';
import { MAX_X509_BATCH, mintX509Batch } from './x509-minter.js';

/** SPIRE's default sync interval. */
export const DEFAULT_MANAGER_SYNC_INTERVAL_MS = 5_000;
/** SPIRE's default `x509_svid_cache_max_size`. */
export const DEFAULT_X509_SVID_CACHE_MAX_SIZE = 1_000;
/** SPIRE's default `jwt_svid_cache_max_size`. */
export const DEFAULT_JWT_SVID_CACHE_MAX_SIZE = 1_000;
/** Default cap of the retry backoff, as a multiple of the sync interval. */
export const MAX_SYNC_BACKOFF_MULTIPLE = 5;
/** Logged once when syncs start failing. */
export const DEGRADED_MESSAGE = 'Failed to sync with SPIRE Server; serving cached identities';
/** Logged once when a sync succeeds again. */
export const RECOVERED_MESSAGE = 'Sync with SPIRE Server restored';
/** Logged (warning) when the number of cached X.509-SVIDs past their renewal time, none expired, changed. */
export const SVIDS_OVERDUE_MESSAGE = 'Cached X509-SVIDs are past their renewal time and could not be renewed; serving them until they expire';
/** Logged (error) when the number of expired cached X.509-SVIDs changed. */
export const SVIDS_EXPIRED_MESSAGE = 'Cached X509-SVIDs expired without being renewed; workloads are being served expired X509-SVIDs';
/** Logged when no cached X.509-SVID is overdue any more. */
export const SVIDS_CURRENT_MESSAGE = 'Cached X509-SVIDs renewed; none is past its renewal time';

/** Timer functions, injected so tests drive the loop by hand. */
export interface ManagerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface AgentManagerOptions {
  api: AgentServerApi;
  /** The agent's trust domain (bare name). */
  trustDomain: string;
  clock?: { now(): Date };
  log?: Logger;
  /** Default {@link DEFAULT_MANAGER_SYNC_INTERVAL_MS}. */
  syncIntervalMs?: number;
  /** Longest wait between failed syncs; default {@link MAX_SYNC_BACKOFF_MULTIPLE} × the interval. */
  maxSyncBackoffMs?: number;
  /** Default {@link DEFAULT_X509_SVID_CACHE_MAX_SIZE}. */
  x509SvidCacheMaxSize?: number;
  /** Default {@link DEFAULT_JWT_SVID_CACHE_MAX_SIZE}. */
  jwtSvidCacheMaxSize?: number;
  /** SPIRE's `workload_x509_svid_key_type`; default `ec-p256`. */
  workloadKeyType?: KeyType;
  /** CSRs per BatchNewX509SVID call; default (and at most) {@link MAX_X509_BATCH}. */
  x509BatchSize?: number;
  /** Uniform in [0, 1) for backoff and renewal jitter; default Math.random. */
  random?: () => number;
  timers?: ManagerTimers;
}

type State = 'new' | 'starting' | 'running' | 'stopped';

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** An error the server API says ends the agent's identity (see AgentServerApi): reported by the identity's owner. */
const isTerminal = (err: unknown): boolean => typeof err === 'object' && err !== null && (err as { terminal?: unknown }).terminal === true;

function positiveInt(name: string, v: number | undefined, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v <= 0 || v > max) throw new RangeError(`${name} must be an integer in 1..${max}, got ${String(v)}`);
  return v;
}

export class AgentManager implements WorkloadCache {
  readonly trustDomain: string;
  readonly #api: AgentServerApi;
  readonly #clock: { now(): Date };
  readonly #log: Logger;
  readonly #interval: number;
  readonly #keyType: KeyType;
  readonly #batchSize: number;
  readonly #random: () => number;
  readonly #timers: ManagerTimers;
  readonly #backoff: Backoff;
  readonly #cache: IdentityCache;
  readonly #jwts: JwtSvidCache;
  #state: State = 'new';
  #timer: unknown;
  /** Serialises syncs and mint passes. */
  #chain: Promise<void> = Promise.resolve();
  #pending = 0;
  #mintQueued = false;
  /** Every entry of the last successful sync (also those the workload cache does not serve), for the next one. */
  #known = new Map<string, AgentEntry>();
  /** The list the last committed sync returned ({@link #known} holds exactly its entries). */
  #lastEntries: readonly AgentEntry[] | undefined;
  #rejected = new Map<string, string>();
  /** Federated trust domains the accepted entries name (other than our own), as of the last sync. */
  #federatedTds: string[] = [];
  #mintFailures = new Map<string, string>();
  #outage: { since: number; failures: number } | undefined;
  /** The overdue and expired SVID counts last reported. */
  #overdueReported = { renewalOverdue: 0, expired: 0 };
  #lastSync: Date | undefined;
  readonly #bundleListeners = new Registrations<() => void>();
  readonly #garbage = new SyncGarbage();

  constructor(o: AgentManagerOptions) {
    this.trustDomain = parseTrustDomain(o.trustDomain);
    this.#api = o.api;
    this.#clock = o.clock ?? { now: () => new Date() };
    this.#log = o.log ?? nullLogger;
    this.#interval = positiveInt('syncIntervalMs', o.syncIntervalMs, DEFAULT_MANAGER_SYNC_INTERVAL_MS);
    const maxBackoff = positiveInt('maxSyncBackoffMs', o.maxSyncBackoffMs, MAX_SYNC_BACKOFF_MULTIPLE * this.#interval);
    this.#keyType = o.workloadKeyType ?? 'ec-p256';
    this.#batchSize = positiveInt('x509BatchSize', o.x509BatchSize, MAX_X509_BATCH, MAX_X509_BATCH);
    this.#random = o.random ?? Math.random;
    this.#timers = o.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    this.#backoff = new Backoff({ initialMs: this.#interval, maxMs: Math.max(maxBackoff, this.#interval), random: this.#random });
    const now = (): number => this.#clock.now().getTime();
    this.#cache = new IdentityCache({
      trustDomain: this.trustDomain,
      maxSvids: positiveInt('x509SvidCacheMaxSize', o.x509SvidCacheMaxSize, DEFAULT_X509_SVID_CACHE_MAX_SIZE),
      now,
      log: this.#log,
    });
    this.#jwts = new JwtSvidCache({ maxSize: positiveInt('jwtSvidCacheMaxSize', o.jwtSvidCacheMaxSize, DEFAULT_JWT_SVID_CACHE_MAX_SIZE), now, log: this.#log });
  }

  /**
   * The first sync (entries, bundles, SVIDs), then syncs on the interval.
   * Rejects, and stays stopped, when the first sync fails (SPIRE's agent
   * does not start without one).
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`the agent manager cannot be started: it is ${this.#state}`);
    this.#state = 'starting';
    try {
      await this.#enqueue(() => this.#synchronize());
    } catch (err) {
      this.#state = 'stopped';
      throw new Error(`failed to sync with SPIRE Server: ${errText(err)}`, { cause: err });
    }
    if (this.#state !== 'starting') return;
    this.#state = 'running';
    this.#backoff.reset();
    this.#schedule(this.#backoff.next());
  }

  /** Stops syncing; resolves when a sync in progress has finished. What is cached stays served. */
  async stop(): Promise<void> {
    this.#state = 'stopped';
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.whenIdle();
  }

  /** Resolves when no sync or mint pass is running or queued. */
  async whenIdle(): Promise<void> {
    while (this.#pending > 0) await this.#chain;
  }

  /** Whether the last sync attempt failed (the cache is being served as it was). */
  get degraded(): boolean {
    return this.#outage !== undefined;
  }

  /** When the last sync succeeded. */
  get lastSync(): Date | undefined {
    return this.#lastSync;
  }

  get stats(): { entries: number; x509Svids: number; jwtSvids: number; subscribers: number } {
    return { entries: this.#cache.entryCount, x509Svids: this.#cache.svidCount, jwtSvids: this.#jwts.size, subscribers: this.#cache.subscriberCount };
  }

  /** The agent's trust domain bundle (undefined before the first sync). */
  get bundle(): Bundle | undefined {
    return this.#cache.bundle;
  }

  /** The federated bundles held (those the entries federate with), by trust domain name. */
  get federatedBundles(): ReadonlyMap<string, Bundle> {
    return this.#cache.federatedBundles;
  }

  /** The registration entry behind a cached entry (for its admin/downstream flags), if the agent holds it. */
  registrationEntry(entryId: string): AgentEntry | undefined {
    return this.#cache.record(entryId)?.entry;
  }

  /**
   * Calls `listener` (asynchronously) after a sync changed the own or a
   * federated bundle, or the set of federated bundles (SPIRE's
   * SubscribeToBundleChanges). Returns the idempotent unsubscribe function.
   */
  subscribeToBundles(listener: () => void): () => void {
    return this.#bundleListeners.add(listener);
  }

  // ---- WorkloadCache ----

  matchingEntries(selectors: readonly Selector[]): WorkloadEntry[] {
    return this.#cache.matching(new Set(selectors.map(selectorKey)));
  }

  fetchWorkloadUpdate(selectors: readonly Selector[]): WorkloadUpdate {
    const set = new Set(selectors.map(selectorKey));
    if (this.#cache.touch(set)) this.#kickMint();
    return this.#cache.update(set);
  }

  async fetchJwtSvid(entry: WorkloadEntry, audience: readonly string[]): Promise<JwtSvid> {
    if (!Array.isArray(audience) || audience.length === 0 || audience.some((a) => typeof a !== 'string' || a === '')) {
      throw new TypeError('audience must be a non-empty list of non-empty strings');
    }
    const rec = this.#cache.record(entry.entryId);
    if (!rec || rec.view.spiffeId !== entry.spiffeId) throw new Error(`no entry ${JSON.stringify(entry.entryId)} for ${entry.spiffeId} in the agent's cache`);
    const aud = [...audience];
    return this.#jwts.fetch(rec.view.spiffeId, aud, rec.entry.jwtSvidIncludeJti, () => this.#api.newJwtSvid(rec.view.entryId, aud));
  }

  cachedJwtSvid(entry: WorkloadEntry, audience: readonly string[]): JwtSvid | undefined {
    const rec = this.#cache.record(entry.entryId);
    if (!rec || rec.view.spiffeId !== entry.spiffeId || rec.entry.jwtSvidIncludeJti) return undefined;
    return this.#jwts.peek(rec.view.spiffeId, audience);
  }

  subscribe(selectors: readonly Selector[], listener: WorkloadUpdateListener): () => void {
    const { unsubscribe, set } = this.#cache.subscribe(selectors, listener);
    if (this.#cache.touch(set)) this.#kickMint();
    return unsubscribe;
  }

  // ---- sync loop ----

  #enqueue(task: () => Promise<void>): Promise<void> {
    this.#pending++;
    const p = this.#chain.then(async () => {
      const release = this.#cache.hold();
      try {
        await task();
      } finally {
        release();
      }
    });
    this.#chain = p.then(
      () => void this.#pending--,
      () => void this.#pending--,
    );
    return p;
  }

  #schedule(ms: number): void {
    if (this.#state !== 'running') return;
    this.#timer = this.#timers.setTimeout(() => this.#tick(), ms);
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#state !== 'running') return;
    this.#enqueue(() => this.#synchronize()).then(
      () => {
        if (this.#outage) {
          const { since, failures } = this.#outage;
          this.#outage = undefined;
          this.#log.info(RECOVERED_MESSAGE, { failed_attempts: failures, outage_ms: this.#clock.now().getTime() - since });
        }
        this.#reportOverdue();
        this.#backoff.reset();
        this.#schedule(this.#backoff.next());
      },
      (err: unknown) => {
        if (isTerminal(err)) {
          // Banned or evicted: the node identity has said so and stops the agent; nothing to retry or add.
          this.#state = 'stopped';
          this.#log.debug('Stopped syncing: the agent has lost its identity', { error: errText(err) });
          return;
        }
        if (this.#outage) this.#outage.failures++;
        else {
          this.#outage = { since: this.#clock.now().getTime(), failures: 1 };
          this.#log.error(DEGRADED_MESSAGE, { error: errText(err) });
        }
        this.#reportOverdue();
        this.#schedule(this.#backoff.next());
      },
    );
  }

  /** One line when the number of X.509-SVIDs held past their renewal time (or expired) changed since the last one. */
  #reportOverdue(): void {
    const o: OverdueSvids = this.#cache.overdue(this.#clock.now().getTime());
    const last = this.#overdueReported;
    if (o.renewalOverdue === last.renewalOverdue && o.expired === last.expired) return;
    this.#overdueReported = { renewalOverdue: o.renewalOverdue, expired: o.expired };
    const iso = (ms: number): string => new Date(ms).toISOString();
    const soonest = o.soonest && { spiffe_id: o.soonest.spiffeId, entry_id: o.soonest.entryId, expires_at: iso(o.soonest.expiresAt) };
    if (o.firstExpired) {
      this.#log.error(SVIDS_EXPIRED_MESSAGE, {
        expired: o.expired,
        spiffe_id: o.firstExpired.spiffeId,
        entry_id: o.firstExpired.entryId,
        expired_at: iso(o.firstExpired.expiresAt),
        renewal_overdue: o.renewalOverdue,
        ...(soonest ? { next_to_expire: soonest.spiffe_id, next_expires_at: soonest.expires_at } : {}),
      });
    } else if (soonest) {
      this.#log.warn(SVIDS_OVERDUE_MESSAGE, { count: o.renewalOverdue, ...soonest });
    } else {
      this.#log.info(SVIDS_CURRENT_MESSAGE);
    }
  }

  /** Mints SVIDs a new subscriber or request is waiting for, without waiting for the next sync. */
  #kickMint(): void {
    if (this.#state !== 'running' || this.#mintQueued) return;
    this.#mintQueued = true;
    this.#enqueue(async () => {
      this.#mintQueued = false;
      if (this.#state === 'running') await this.#mintDue();
    }).catch((err: unknown) => {
      // The next sync retries; an outage is reported by the sync loop.
      this.#log.debug('Could not mint X.509-SVIDs on demand', { error: errText(err) });
    });
  }

  async #synchronize(): Promise<void> {
    const entries = await this.#api.syncAuthorizedEntries(this.#known);
    if (!Array.isArray(entries)) throw new Error('SyncAuthorizedEntries returned no entry list');
    const bundle = await this.#api.getBundle();
    if (bundle?.trustDomain !== this.trustDomain) throw new Error(`the server returned the bundle of ${JSON.stringify(bundle?.trustDomain)}, expected ${this.trustDomain}`);

    // A sync that changed nothing hands back the very entry objects of the last one (the
    // client reuses what it holds at the same revision): with ten thousand entries, checking,
    // indexing and copying them all again every few seconds blocked the Workload API for
    // ~0.1 s and left megabytes of old-generation garbage per sync.
    // The client hands back the very array of the last sync when the server's revision pages
    // are byte for byte the same: then not even the ten thousand lookups are needed.
    const unchanged =
      entries.length === this.#known.size &&
      (entries === this.#lastEntries || entries.every((e) => typeof e?.id === 'string' && this.#known.get(e.id) === e));
    let accepted: { entry: AgentEntry; view: WorkloadEntry }[] | undefined;
    let rejected = this.#rejected;
    let tds = this.#federatedTds;
    if (!unchanged) {
      accepted = [];
      rejected = new Map<string, string>();
      for (const entry of entries) {
        const view = toWorkloadEntry(entry, this.trustDomain);
        if (typeof view === 'string') {
          const id = typeof entry?.id === 'string' ? entry.id : '';
          rejected.set(id, view);
          if (this.#rejected.get(id) !== view) this.#log.warn('Ignoring registration entry', { entry_id: id, spiffe_id: entry?.spiffeId, error: view });
        } else if (!entry.storeSvid) {
          accepted.push({ entry, view });
        }
      }
      const found = new Set<string>();
      for (const { view } of accepted) for (const td of view.federatesWith) if (td !== this.trustDomain) found.add(td);
      tds = [...found];
    }
    const federated = new Map<string, Bundle>();
    await Promise.all(
      tds.map(async (td) => {
        const b = await this.#api.getFederatedBundle(td);
        if (b === undefined) return;
        if (b.trustDomain !== td) throw new Error(`the server returned the bundle of ${JSON.stringify(b.trustDomain)} for federated trust domain ${td}`);
        federated.set(td, b);
      }),
    );

    // Everything fetched and checked: commit.
    if (!unchanged) this.#known = new Map(entries.filter((e) => typeof e?.id === 'string').map((e) => [e.id, e]));
    this.#lastEntries = entries;
    this.#rejected = rejected;
    this.#federatedTds = tds;
    if (this.#cache.setBundles(bundle, federated) && this.#bundleListeners.size > 0) {
      queueMicrotask(() => {
        this.#bundleListeners.forEach((l) => {
          try {
            l();
          } catch (err) {
            this.#log.warn('Bundle change listener failed', { error: (err as Error)?.message ?? String(err) });
          }
        });
      });
    }
    if (accepted) {
      const { added, updated } = this.#cache.replaceEntries(accepted);
      this.#garbage.add(added.length + updated.length);
    }
    for (const id of this.#mintFailures.keys()) if (!this.#cache.record(id)) this.#mintFailures.delete(id);
    // As in SPIRE, the cache is trimmed before minting, so an SVID minted on demand survives until the next sync.
    this.#cache.evict();
    // The decoded entries' garbage goes before minting adds its own.
    this.#garbage.collectIfDue();
    await this.#mintDue();
    this.#lastSync = this.#clock.now();
  }

  /** Issues every due SVID, batch by batch; rejects when a batch call fails (earlier batches stay stored). */
  async #mintDue(): Promise<void> {
    const due = this.#cache.due(this.#clock.now().getTime());
    for (let i = 0; i < due.length; i += this.#batchSize) {
      const batch = due.slice(i, i + this.#batchSize);
      for (const d of batch) this.#logMint(d);
      const outcomes = await mintX509Batch(this.#api, batch, this.#keyType, () => this.#clock.now());
      this.#garbage.add(batch.length);
      this.#garbage.collectIfDue();
      for (const o of outcomes) {
        const fields = { entry_id: o.due.entryId, spiffe_id: o.due.spiffeId };
        if (!o.ok) {
          const msg = `${o.code}: ${o.message}`;
          if (this.#mintFailures.get(o.due.entryId) !== msg) this.#log.warn('Failed to issue X509-SVID; will retry on the next sync', { ...fields, code: o.code, error: o.message });
          this.#mintFailures.set(o.due.entryId, msg);
          continue;
        }
        this.#mintFailures.delete(o.due.entryId);
        const lifetime = o.notAfter.getTime() - o.notBefore.getTime();
        // SPIRE renews when the remaining lifetime drops under a half-life jittered by ±10 %.
        const halfLife = (lifetime / 2) * (1 - BACKOFF_JITTER + 2 * BACKOFF_JITTER * this.#random());
        const stored = this.#cache.store(o.due, { ...o, rotateAt: o.notAfter.getTime() - halfLife });
        if (!stored) this.#log.debug('Discarding X509-SVID issued for an entry that changed or went away', fields);
      }
    }
  }

  #logMint(d: DueSvid): void {
    const fields = { entry_id: d.entryId, spiffe_id: d.spiffeId };
    if (d.currentExpiresAt) this.#log.info('Renewing X509-SVID', { ...fields, expires_at: d.currentExpiresAt.toISOString(), reason: d.reason });
    else this.#log.info('Creating X509-SVID', fields);
  }
}
