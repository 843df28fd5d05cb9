/**
 * An in-memory {@link WorkloadCache}: entries, their X.509-SVIDs and the
 * bundles are set by the owner (a test, a fixed deployment, or a manager that
 * keeps it up to date); subscribers whose view changed are notified once per
 * batch of synchronous changes.
 */
import { parseSpiffeId, parseTrustDomain, Registrations, type Bundle } from '@spire-ts/common';
import {
  compareEntries,
  entryMatches,
  selectorKey,
  type JwtSvid,
  type Selector,
  type WorkloadCache,
  type WorkloadEntry,
  type WorkloadIdentity,
  type WorkloadUpdate,
  type WorkloadUpdateListener,
} from './cache.js';

/** Mints a JWT-SVID for an entry (e.g. through the SPIRE server's NewJWTSVID, or a local key in tests). */
export type JwtSvidMinter = (entry: WorkloadEntry, audience: readonly string[]) => Promise<JwtSvid>;

/** An X.509-SVID to install for an entry. */
export interface X509SvidMaterial {
  certChainDer: readonly Uint8Array[];
  privateKeyPkcs8Der: Uint8Array;
  expiresAt: Date;
}

export interface StaticWorkloadCacheOptions {
  /** The agent's trust domain (bare name). */
  trustDomain: string;
  /** Mints JWT-SVIDs; without it `fetchJwtSvid` fails. */
  mintJwtSvid?: JwtSvidMinter;
  /** Clock for the JWT-SVID cache (tests). */
  now?: () => Date;
}

interface Subscription {
  readonly selectors: ReadonlySet<string>;
  readonly listener: WorkloadUpdateListener;
  /** What the subscriber last saw, by object identity (all stored objects are immutable). */
  seen: readonly object[];
}

interface CachedJwt {
  svid: JwtSvid;
  /** Reuse until then: half the token's lifetime. */
  refreshAt: number;
}

const copyBytes = (b: Uint8Array): Uint8Array => new Uint8Array(b);

function freezeBundle(b: Bundle): Bundle {
  return Object.freeze({
    trustDomain: b.trustDomain,
    x509Authorities: Object.freeze(b.x509Authorities.map(copyBytes)) as Uint8Array[],
    jwtAuthorities: Object.freeze(
      b.jwtAuthorities.map((a) => Object.freeze({ keyId: a.keyId, publicKeyDer: copyBytes(a.publicKeyDer), expiresAt: a.expiresAt })),
    ) as Bundle['jwtAuthorities'],
    refreshHint: b.refreshHint,
    sequenceNumber: b.sequenceNumber,
  });
}

/**
 * @example
 * ```ts
 * const cache = new StaticWorkloadCache({ trustDomain: 'example.org' });
 * cache.setBundle(ownBundle);
 * cache.setEntry({ entryId: 'e1', spiffeId: 'spiffe://example.org/web', selectors: [{ type: 'unix', value: 'uid:1000' }],
 *   hint: '', federatesWith: [], createdAt: 0 }, { certChainDer, privateKeyPkcs8Der, expiresAt });
 * ```
 */
export class StaticWorkloadCache implements WorkloadCache {
  readonly trustDomain: string;
  readonly #entries = new Map<string, WorkloadEntry>();
  readonly #svids = new Map<string, WorkloadIdentity>();
  readonly #bundles = new Map<string, Bundle>();
  readonly #subscriptions = new Registrations<Subscription>();
  readonly #jwts = new Map<string, CachedJwt>();
  readonly #mint: JwtSvidMinter | undefined;
  readonly #now: () => Date;
  #flushScheduled = false;

  constructor(options: StaticWorkloadCacheOptions) {
    this.trustDomain = parseTrustDomain(options.trustDomain);
    this.#mint = options.mintJwtSvid;
    this.#now = options.now ?? (() => new Date());
  }

  /** Adds or replaces an entry; with `svid`, also its X.509-SVID (without, any previous SVID of the entry is dropped). */
  setEntry(entry: WorkloadEntry, svid?: X509SvidMaterial): void {
    if (typeof entry.entryId !== 'string' || entry.entryId === '') throw new TypeError('entry ID must be a non-empty string');
    const id = parseSpiffeId(entry.spiffeId);
    if (entry.selectors.length === 0) throw new TypeError(`entry ${entry.entryId}: selectors must not be empty`);
    for (const s of entry.selectors) {
      if (typeof s.type !== 'string' || s.type === '' || typeof s.value !== 'string' || s.value === '') {
        throw new TypeError(`entry ${entry.entryId}: selector ${JSON.stringify(s)} needs a non-empty type and value`);
      }
    }
    const federatesWith = entry.federatesWith.map((td) => parseTrustDomain(td));
    if (!Number.isFinite(entry.createdAt)) throw new TypeError(`entry ${entry.entryId}: createdAt must be a number`);
    if (svid) {
      if (svid.certChainDer.length === 0) throw new TypeError(`entry ${entry.entryId}: the X.509-SVID chain is empty`);
      if (svid.privateKeyPkcs8Der.length === 0) throw new TypeError(`entry ${entry.entryId}: the X.509-SVID key is empty`);
      if (!(svid.expiresAt instanceof Date) || Number.isNaN(svid.expiresAt.getTime())) throw new TypeError(`entry ${entry.entryId}: expiresAt must be a valid Date`);
    }
    const stored: WorkloadEntry = Object.freeze({
      entryId: entry.entryId,
      spiffeId: id.toString(),
      selectors: Object.freeze(entry.selectors.map((s) => Object.freeze({ type: s.type, value: s.value }))),
      hint: entry.hint ?? '',
      federatesWith: Object.freeze(federatesWith),
      createdAt: entry.createdAt,
    });
    this.#entries.set(stored.entryId, stored);
    this.#dropJwts(stored.entryId);
    if (svid) {
      this.#svids.set(
        stored.entryId,
        Object.freeze({
          entryId: stored.entryId,
          spiffeId: stored.spiffeId,
          hint: stored.hint,
          createdAt: stored.createdAt,
          certChainDer: Object.freeze(svid.certChainDer.map(copyBytes)),
          privateKeyPkcs8Der: copyBytes(svid.privateKeyPkcs8Der),
          expiresAt: new Date(svid.expiresAt.getTime()),
        }),
      );
    } else {
      this.#svids.delete(stored.entryId);
    }
    this.#changed();
  }

  /** Replaces the X.509-SVID of a known entry (rotation). */
  setX509Svid(entryId: string, svid: X509SvidMaterial): void {
    const entry = this.#entries.get(entryId);
    if (!entry) throw new Error(`no entry ${JSON.stringify(entryId)}`);
    this.setEntry(entry, svid);
  }

  /** Removes an entry and its SVIDs; false if it was not there. */
  removeEntry(entryId: string): boolean {
    if (!this.#entries.delete(entryId)) return false;
    this.#svids.delete(entryId);
    this.#dropJwts(entryId);
    this.#changed();
    return true;
  }

  /** Sets the bundle of a trust domain: the agent's own, or a federated one. */
  setBundle(bundle: Bundle): void {
    const td = parseTrustDomain(bundle.trustDomain);
    this.#bundles.set(td, freezeBundle({ ...bundle, trustDomain: td }));
    this.#changed();
  }

  /** Removes a federated bundle; false if absent. The own bundle can only be replaced. */
  removeBundle(trustDomain: string): boolean {
    const td = parseTrustDomain(trustDomain);
    if (td === this.trustDomain) throw new Error(`the bundle of the agent's own trust domain ${td} cannot be removed`);
    const removed = this.#bundles.delete(td);
    if (removed) this.#changed();
    return removed;
  }

  matchingEntries(selectors: readonly Selector[]): WorkloadEntry[] {
    return this.#matching(new Set(selectors.map(selectorKey)));
  }

  fetchWorkloadUpdate(selectors: readonly Selector[]): WorkloadUpdate {
    return this.#update(new Set(selectors.map(selectorKey)));
  }

  async fetchJwtSvid(entry: WorkloadEntry, audience: readonly string[]): Promise<JwtSvid> {
    const known = this.#entries.get(entry.entryId);
    if (!known || known.spiffeId !== entry.spiffeId) throw new Error(`no entry ${JSON.stringify(entry.entryId)} for ${entry.spiffeId}`);
    if (!this.#mint) throw new Error('this cache has no JWT-SVID minter');
    const key = `${known.entryId}\0${[...new Set(audience)].sort().join('\0')}`;
    const now = this.#now().getTime();
    const hit = this.#jwts.get(key);
    if (hit && now < hit.refreshAt) return hit.svid;
    const svid = await this.#mint(known, [...audience]);
    if (this.#entries.get(known.entryId) === known) {
      this.#jwts.set(key, { svid, refreshAt: now + (svid.expiresAt.getTime() - now) / 2 });
    }
    return svid;
  }

  subscribe(selectors: readonly Selector[], listener: WorkloadUpdateListener): () => void {
    const set = new Set(selectors.map(selectorKey));
    const sub: Subscription = { selectors: set, listener, seen: this.#view(this.#update(set)) };
    return this.#subscriptions.add(sub);
  }

  /** Number of live subscriptions (for health and tests). */
  get subscriberCount(): number {
    return this.#subscriptions.size;
  }

  #matching(selectors: ReadonlySet<string>): WorkloadEntry[] {
    return [...this.#entries.values()].filter((e) => entryMatches(e.selectors, selectors)).sort(compareEntries);
  }

  #update(selectors: ReadonlySet<string>): WorkloadUpdate {
    const entries = this.#matching(selectors);
    const identities = entries.map((e) => this.#svids.get(e.entryId)).filter((i): i is WorkloadIdentity => i !== undefined);
    const federated = new Set<string>();
    for (const e of entries) for (const td of e.federatesWith) if (td !== this.trustDomain) federated.add(td);
    const federatedBundles = [...federated]
      .sort()
      .map((td) => this.#bundles.get(td))
      .filter((b): b is Bundle => b !== undefined);
    return { identities, bundle: this.#bundles.get(this.trustDomain), federatedBundles };
  }

  #view(u: WorkloadUpdate): readonly object[] {
    return [...u.identities, u.bundle ?? NO_BUNDLE, ...u.federatedBundles];
  }

  #dropJwts(entryId: string): void {
    for (const key of this.#jwts.keys()) if (key.startsWith(`${entryId}\0`)) this.#jwts.delete(key);
  }

  #changed(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#subscriptions.forEach((sub) => {
        const update = this.#update(sub.selectors);
        const view = this.#view(update);
        if (view.length === sub.seen.length && view.every((o, i) => o === sub.seen[i])) return;
        sub.seen = view;
        try {
          sub.listener(update);
        } catch {
          // A listener's failure is its own; the others still hear about the change.
        }
      });
    });
  }
}

const NO_BUNDLE: object = Object.freeze({});
