/**
 * The agent's entry and X.509-SVID cache (SPIRE's LRU cache,
 * pkg/agent/manager/cache/lru_cache.go): the entries the agent is authorised
 * for, an X.509-SVID for at most `maxSvids` of them, the bundles, and the
 * subscribers. SVIDs of entries an active subscriber matches are never
 * evicted; the others go least recently requested first. Subscribers hear
 * (asynchronously, once per batch of changes) when the identities or bundles
 * they can see change.
 */
import { Registrations, type Bundle, type Logger } from '@spire-ts/common';
import { compareEntries, selectorKey, type Selector, type WorkloadEntry, type WorkloadIdentity, type WorkloadUpdate, type WorkloadUpdateListener } from '../workload/cache.js';
import type { AgentEntry } from '../node/server-api.js';
import { bundlesEqual, freezeBundle } from './bundles.js';
import { SelectorIndex } from './entries.js';

/** An X.509-SVID held for an entry. */
export interface CachedSvid {
  readonly identity: WorkloadIdentity;
  /** Unix ms (the identity's `expiresAt`). */
  readonly notAfter: number;
  /** When it is due for renewal (about half its lifetime). */
  readonly rotateAt: number;
  /** Revision of the entry it was issued for. */
  readonly revision: number;
}

/** Why an entry needs a new X.509-SVID. */
export type DueReason = 'subscribed' | 'requested' | 'prefetch' | 'revision' | 'rotation';

/** An entry that needs an X.509-SVID now. */
export interface DueSvid {
  readonly entryId: string;
  readonly spiffeId: string;
  readonly revision: number;
  readonly reason: DueReason;
  /** Expiry of the SVID being replaced. */
  readonly currentExpiresAt?: Date;
}

function dueSvid(r: Rec, reason: DueReason, currentExpiresAt?: Date): DueSvid {
  const base = { entryId: r.view.entryId, spiffeId: r.view.spiffeId, revision: r.entry.revisionNumber, reason };
  return currentExpiresAt === undefined ? base : { ...base, currentExpiresAt };
}

/** An X.509-SVID held past its renewal time, for messages. */
export interface OverdueSvid {
  readonly entryId: string;
  readonly spiffeId: string;
  /** Unix ms. */
  readonly expiresAt: number;
}

/** The X.509-SVIDs held past their renewal time ({@link IdentityCache.overdue}). */
export interface OverdueSvids {
  /** Past their renewal time, not yet expired. */
  readonly renewalOverdue: number;
  /** Of those, the one that expires first. */
  readonly soonest: OverdueSvid | undefined;
  /** Expired. */
  readonly expired: number;
  /** Of those, the one that expired first. */
  readonly firstExpired: OverdueSvid | undefined;
}

const NONE_OVERDUE: OverdueSvids = Object.freeze({ renewalOverdue: 0, soonest: undefined, expired: 0, firstExpired: undefined });

/** Newly issued SVID material for {@link IdentityCache.store}. */
export interface SvidMaterial {
  readonly certChainDer: readonly Uint8Array[];
  readonly privateKeyPkcs8Der: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly rotateAt: number;
}

/**
 * An entry and its SVID. The SVID's bookkeeping lives here rather than in a
 * {@link CachedSvid} of its own: one object fewer for each of what may be
 * tens of thousands of entries. The SVID's notBefore is not kept (nothing
 * reads it); its notAfter is the identity's `expiresAt`.
 */
interface Rec {
  entry: AgentEntry;
  view: WorkloadEntry;
  /** The SVID, if the entry has one. */
  identity: WorkloadIdentity | undefined;
  /** Of the SVID: when it is due for renewal (Unix ms), and the entry revision it was issued for. */
  rotateAt: number;
  revision: number;
  /** Unix ms of the last time a workload asked for it (0: never). */
  lastAccess: number;
  /** A workload asked for it while it had no SVID: mint it regardless of prefetch and size. */
  wanted: boolean;
}

interface Subscription {
  readonly selectors: ReadonlySet<string>;
  readonly listener: WorkloadUpdateListener;
  seen: readonly object[];
}

export interface IdentityCacheOptions {
  trustDomain: string;
  /** SPIRE's `x509_svid_cache_max_size`. */
  maxSvids: number;
  /** Unix ms. */
  now: () => number;
  log: Logger;
}

const NO_BUNDLE: object = Object.freeze({});
const DUE_ORDER: Record<DueReason, number> = { subscribed: 0, requested: 1, revision: 2, rotation: 3, prefetch: 4 };

function identityOf(view: WorkloadEntry, chain: readonly Uint8Array[], key: Uint8Array, notAfter: Date): WorkloadIdentity {
  return Object.freeze({
    entryId: view.entryId,
    spiffeId: view.spiffeId,
    hint: view.hint,
    createdAt: view.createdAt,
    certChainDer: chain,
    privateKeyPkcs8Der: key,
    expiresAt: notAfter,
  });
}

/** What a selector set matches and sees, computed once per cache generation. */
interface Memo {
  readonly generation: number;
  readonly recs: readonly Rec[];
  update: WorkloadUpdate | undefined;
}

/** Selector sets remembered at most (the map starts over beyond). */
const MAX_MEMOS = 4096;

export class IdentityCache {
  readonly #o: IdentityCacheOptions;
  readonly #records = new Map<string, Rec>();
  readonly #index = new SelectorIndex();
  readonly #subs = new Registrations<Subscription>();
  #bundle: Bundle | undefined;
  #federated = new Map<string, Bundle>();
  #svidCount = 0;
  #flushScheduled = false;
  #holds = 0;
  #dirty = false;
  /** Bumped on every change that can alter what a selector set matches or sees. */
  #generation = 0;
  /** Matches and updates by selector set, valid for {@link #generation}. */
  readonly #memo = new Map<string, Memo>();
  /** Bumped when a workload wants an entry without an SVID, by a request or a new subscriber. */
  #requests = 0;
  /**
   * Left by a {@link due} that found nothing due: until `until` (the earliest
   * renewal time), and while neither the cache nor the requests change, nothing is.
   */
  #nothingDue: { generation: number; requests: number; until: number } | undefined;

  constructor(options: IdentityCacheOptions) {
    this.#o = options;
  }

  get bundle(): Bundle | undefined {
    return this.#bundle;
  }

  get federatedBundles(): ReadonlyMap<string, Bundle> {
    return this.#federated;
  }

  get entryCount(): number {
    return this.#records.size;
  }

  get svidCount(): number {
    return this.#svidCount;
  }

  get subscriberCount(): number {
    return this.#subs.size;
  }

  /** The entry and its workload view, if held. */
  record(entryId: string): { entry: AgentEntry; view: WorkloadEntry; svid: CachedSvid | undefined } | undefined {
    const r = this.#records.get(entryId);
    if (!r) return undefined;
    const svid = r.identity && { identity: r.identity, notAfter: r.identity.expiresAt.getTime(), rotateAt: r.rotateAt, revision: r.revision };
    return { entry: r.entry, view: r.view, svid };
  }

  /**
   * Replaces the entry set. An entry whose SPIFFE ID changed loses its SVID
   * at once; one whose revision changed keeps serving its SVID (with the new
   * hint) until the re-issued one arrives. Returns the IDs added, changed and removed.
   */
  replaceEntries(entries: readonly { entry: AgentEntry; view: WorkloadEntry }[]): { added: string[]; updated: string[]; removed: string[] } {
    const next = new Map(entries.map((e) => [e.view.entryId, e]));
    const added: string[] = [];
    const updated: string[] = [];
    const removed: string[] = [];
    for (const [id, rec] of this.#records) {
      if (next.has(id)) continue;
      this.#index.remove(rec.view);
      if (rec.identity) this.#svidCount--;
      this.#records.delete(id);
      removed.push(id);
    }
    for (const { entry, view } of next.values()) {
      const rec = this.#records.get(view.entryId);
      if (!rec) {
        this.#records.set(view.entryId, { entry, view, identity: undefined, rotateAt: 0, revision: 0, lastAccess: 0, wanted: false });
        this.#index.add(view);
        added.push(view.entryId);
        continue;
      }
      if (rec.entry.revisionNumber === entry.revisionNumber && rec.entry === entry) continue;
      const old = rec.view;
      const changed = rec.entry.revisionNumber !== entry.revisionNumber || !sameView(old, view);
      rec.entry = entry;
      if (!changed) continue;
      this.#index.remove(old);
      rec.view = view;
      this.#index.add(view);
      updated.push(view.entryId);
      const i = rec.identity;
      if (i && i.spiffeId !== view.spiffeId) {
        rec.identity = undefined;
        this.#svidCount--;
      } else if (i && (old.hint !== view.hint || old.createdAt !== view.createdAt)) {
        rec.identity = identityOf(view, i.certChainDer, i.privateKeyPkcs8Der, i.expiresAt);
      }
    }
    if (added.length + updated.length + removed.length > 0) this.#changed();
    return { added, updated, removed };
  }

  /** Sets the own and federated bundles; only bundles whose content changed are replaced (and notified). */
  setBundles(own: Bundle, federated: ReadonlyMap<string, Bundle>): boolean {
    let changed = false;
    if (!this.#bundle || !bundlesEqual(this.#bundle, own)) {
      this.#bundle = freezeBundle(own);
      changed = true;
    }
    const next = new Map<string, Bundle>();
    for (const [td, b] of federated) {
      const cur = this.#federated.get(td);
      if (cur && bundlesEqual(cur, b)) next.set(td, cur);
      else {
        next.set(td, freezeBundle(b));
        changed = true;
      }
    }
    if (next.size !== this.#federated.size) changed = true;
    this.#federated = next;
    if (changed) this.#changed();
    return changed;
  }

  /** Entries whose selectors are all in `selectors`, oldest first. */
  matching(selectors: ReadonlySet<string>): WorkloadEntry[] {
    return this.#matchingRecs(selectors).map((r) => r.view);
  }

  /**
   * The identities and bundles `selectors` see. Until the cache changes, the
   * same selector set gets the same (frozen) update: every Workload API call
   * asks several times, and callers of one workload share their selectors.
   */
  update(selectors: ReadonlySet<string>): WorkloadUpdate {
    const memo = this.#memoFor(selectors);
    if (memo.update) return memo.update;
    const recs = memo.recs;
    const identities = recs.map((r) => r.identity).filter((i): i is WorkloadIdentity => i !== undefined);
    const tds = new Set<string>();
    for (const r of recs) for (const td of r.view.federatesWith) if (td !== this.#o.trustDomain) tds.add(td);
    const federatedBundles = [...tds]
      .sort()
      .map((td) => this.#federated.get(td))
      .filter((b): b is Bundle => b !== undefined);
    memo.update = Object.freeze({ identities: Object.freeze(identities), bundle: this.#bundle, federatedBundles: Object.freeze(federatedBundles) });
    return memo.update;
  }

  /**
   * Records that a workload with `selectors` asked: the matching entries
   * become recently used, and those without an SVID are wanted. Returns
   * whether any of them lacks an SVID.
   */
  touch(selectors: ReadonlySet<string>): boolean {
    const now = this.#o.now();
    let missing = false;
    for (const r of this.#matchingRecs(selectors)) {
      r.lastAccess = now;
      if (!r.identity) {
        r.wanted = true;
        missing = true;
      }
    }
    if (missing) this.#requests++;
    return missing;
  }

  /**
   * The entries that need an X.509-SVID at `now` (SPIRE's stale entries),
   * most urgent first: those a subscriber or a request is waiting for, then
   * outdated revisions, then SVIDs past their renewal time, then prefetches
   * up to the remaining cache capacity.
   */
  due(now: number): DueSvid[] {
    // Runs after every sync. In the steady state nothing is due until the earliest renewal:
    // then the records are not even walked (with ten thousand of them, scattered over the
    // heap, the walk alone blocked the event loop for several milliseconds per sync).
    const quiet = this.#nothingDue;
    if (quiet && quiet.generation === this.#generation && quiet.requests === this.#requests && now < quiet.until) return [];
    let subscribed: Set<string> | undefined;
    const out: DueSvid[] = [];
    const prefetch: Rec[] = [];
    let forced = 0;
    let until = Infinity;
    for (const r of this.#records.values()) {
      const i = r.identity;
      if (i) {
        if (r.revision !== r.entry.revisionNumber) out.push(dueSvid(r, 'revision', i.expiresAt));
        else if (now >= r.rotateAt) out.push(dueSvid(r, 'rotation', i.expiresAt));
        else if (r.rotateAt < until) until = r.rotateAt;
        continue;
      }
      subscribed ??= this.#subscribedIds();
      if (subscribed.has(r.view.entryId)) {
        out.push(dueSvid(r, 'subscribed'));
        forced++;
      } else if (r.wanted) {
        out.push(dueSvid(r, 'requested'));
        forced++;
      } else if (!r.entry.disableX509SvidPrefetch) {
        prefetch.push(r);
      }
    }
    const room = this.#o.maxSvids - this.#svidCount - forced;
    prefetch.sort((a, b) => b.lastAccess - a.lastAccess || compareEntries(a.view, b.view));
    for (const r of prefetch.slice(0, Math.max(0, room))) out.push(dueSvid(r, 'prefetch'));
    this.#nothingDue = out.length === 0 ? { generation: this.#generation, requests: this.#requests, until } : undefined;
    return out.sort((a, b) => DUE_ORDER[a.reason] - DUE_ORDER[b.reason]);
  }

  /**
   * The SVIDs held past their renewal time at `now` (not renewed: the server
   * could not be reached, or refused them), counted, with the most urgent of
   * each kind. While nothing came due since the last {@link due} found
   * nothing due, the records are not walked.
   */
  overdue(now: number): OverdueSvids {
    const quiet = this.#nothingDue;
    if (quiet && quiet.generation === this.#generation && now < quiet.until) return NONE_OVERDUE;
    let renewalOverdue = 0;
    let expired = 0;
    let soonest: Rec | undefined;
    let firstExpired: Rec | undefined;
    for (const r of this.#records.values()) {
      const i = r.identity;
      if (!i || now < r.rotateAt) continue;
      const exp = i.expiresAt.getTime();
      if (now >= exp) {
        expired++;
        if (!firstExpired || exp < (firstExpired.identity as WorkloadIdentity).expiresAt.getTime()) firstExpired = r;
      } else {
        renewalOverdue++;
        if (!soonest || exp < (soonest.identity as WorkloadIdentity).expiresAt.getTime()) soonest = r;
      }
    }
    if (renewalOverdue === 0 && expired === 0) return NONE_OVERDUE;
    const describe = (r: Rec | undefined): OverdueSvid | undefined =>
      r && { entryId: r.view.entryId, spiffeId: r.view.spiffeId, expiresAt: (r.identity as WorkloadIdentity).expiresAt.getTime() };
    return { renewalOverdue, soonest: describe(soonest), expired, firstExpired: describe(firstExpired) };
  }

  /**
   * Installs an SVID issued for `due`. Refused (false) when the entry is gone
   * or now has another SPIFFE ID; an SVID for an older revision is kept but
   * stays due. The cache takes the chain and key bytes as they are (they are
   * views of the minted batch's slab, not copied again): the caller must not
   * change them afterwards.
   */
  store(due: DueSvid, m: SvidMaterial): boolean {
    const r = this.#records.get(due.entryId);
    if (!r || r.view.spiffeId !== due.spiffeId) return false;
    if (!r.identity) this.#svidCount++;
    const chain = Object.isFrozen(m.certChainDer) ? m.certChainDer : Object.freeze([...m.certChainDer]);
    r.identity = identityOf(r.view, chain, m.privateKeyPkcs8Der, new Date(m.notAfter.getTime()));
    r.rotateAt = m.rotateAt;
    r.revision = due.revision;
    r.wanted = false;
    this.#changed();
    return true;
  }

  /**
   * Drops SVIDs beyond `maxSvids`, least recently requested first, never one
   * an active subscriber matches. Returns the entry IDs whose SVID was dropped.
   */
  evict(): string[] {
    let extra = this.#svidCount - this.#o.maxSvids;
    if (extra <= 0) return [];
    const subscribed = this.#subscribedIds();
    const candidates = [...this.#records.values()]
      .filter((r) => r.identity && !subscribed.has(r.view.entryId))
      .sort((a, b) => a.lastAccess - b.lastAccess || compareEntries(b.view, a.view));
    const evicted: string[] = [];
    for (const r of candidates) {
      if (extra <= 0) break;
      r.identity = undefined;
      r.wanted = false;
      this.#svidCount--;
      extra--;
      evicted.push(r.view.entryId);
      this.#generation++;
      this.#o.log.debug('Removing SVID record', { entry_id: r.view.entryId, spiffe_id: r.view.spiffeId, last_access: r.lastAccess });
    }
    return evicted;
  }

  subscribe(selectors: readonly Selector[], listener: WorkloadUpdateListener): { unsubscribe: () => void; set: ReadonlySet<string> } {
    const set = new Set(selectors.map(selectorKey));
    const sub: Subscription = { selectors: set, listener, seen: this.#view(this.update(set)) };
    const remove = this.#subs.add(sub);
    // A subscriber's entries that lack an SVID are minted first, outside the size bound: they
    // make something due. One whose entries all have SVIDs changes nothing {@link due} decides
    // (and neither does a subscriber leaving: while nothing is due, no subscribed entry lacks an
    // SVID, so none counted against the prefetch room). Each Workload API stream subscribes
    // and unsubscribes; were every one counted, under load every sync would walk all records.
    if (this.#matchingRecs(set).some((r) => !r.identity)) this.#requests++;
    return { unsubscribe: remove, set };
  }

  #matchingRecs(selectors: ReadonlySet<string>): readonly Rec[] {
    return this.#memoFor(selectors).recs;
  }

  /** The memo of a selector set for the current generation (computed if missing or stale). */
  #memoFor(selectors: ReadonlySet<string>): Memo {
    // In the set's own order, unsorted: the same workload's selectors come in the same
    // order; another order of the same set only costs a second memo with the same answer.
    let key = '';
    for (const k of selectors) key = key === '' ? k : `${key}\n${k}`;
    const found = this.#memo.get(key);
    if (found && found.generation === this.#generation) return found;
    const recs = this.#index
      .matching(selectors, (id) => this.#records.get(id)?.view)
      .map((id) => this.#records.get(id) as Rec)
      .sort((a, b) => compareEntries(a.view, b.view));
    // Selector sets are as many as distinct workloads; a bound keeps a churn of them from growing the map.
    if (!found && this.#memo.size >= MAX_MEMOS) this.#memo.clear();
    const memo: Memo = { generation: this.#generation, recs, update: undefined };
    this.#memo.set(key, memo);
    return memo;
  }

  #subscribedIds(): Set<string> {
    const ids = new Set<string>();
    this.#subs.forEach((s) => {
      for (const id of this.#index.matching(s.selectors, (i) => this.#records.get(i)?.view)) ids.add(id);
    });
    return ids;
  }

  #view(u: WorkloadUpdate): readonly object[] {
    return [...u.identities, u.bundle ?? NO_BUNDLE, ...u.federatedBundles];
  }

  /**
   * Defers notifications until the returned release function is called (a
   * sync's entry, bundle and SVID changes then reach subscribers as one update).
   */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      if (this.#holds === 0 && this.#dirty) this.#changed();
    };
  }

  #changed(): void {
    this.#generation++;
    if (this.#holds > 0) {
      this.#dirty = true;
      return;
    }
    this.#dirty = false;
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#subs.forEach((sub) => {
        const update = this.update(sub.selectors);
        const view = this.#view(update);
        if (view.length === sub.seen.length && view.every((o, i) => o === sub.seen[i])) return;
        sub.seen = view;
        try {
          sub.listener(update);
        } catch (err) {
          this.#o.log.warn('Workload update listener failed', { error: (err as Error)?.message ?? String(err) });
        }
      });
    });
  }
}

function sameView(a: WorkloadEntry, b: WorkloadEntry): boolean {
  return (
    a.spiffeId === b.spiffeId &&
    a.hint === b.hint &&
    a.createdAt === b.createdAt &&
    a.selectors.length === b.selectors.length &&
    a.selectors.every((s, i) => s.type === b.selectors[i]?.type && s.value === b.selectors[i]?.value) &&
    a.federatesWith.length === b.federatesWith.length &&
    a.federatesWith.every((td, i) => td === b.federatesWith[i])
  );
}
