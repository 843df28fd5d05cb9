/**
 * What the Workload API needs from the agent's identity cache (SPIRE's
 * `workload.Manager`, pkg/agent/endpoints/workload/handler.go): the entries
 * and X.509-SVIDs a set of selectors is entitled to, the bundles that go with
 * them, JWT-SVIDs on demand, and change notifications. The agent's
 * sync/rotation manager implements it; {@link StaticWorkloadCache} is an
 * in-memory implementation.
 */
import type { Bundle } from '@spire-ts/common';

/** A workload selector, e.g. `{ type: 'unix', value: 'uid:1000' }`. */
export interface Selector {
  readonly type: string;
  readonly value: string;
}

/** A registration entry as the Workload API sees it. */
export interface WorkloadEntry {
  readonly entryId: string;
  /** `spiffe://td/path`. */
  readonly spiffeId: string;
  /** The entry matches a caller that has every one of these. */
  readonly selectors: readonly Selector[];
  /** Workload-facing hint; '' for none. */
  readonly hint: string;
  /** Bare names of the trust domains whose bundles the workload also receives. */
  readonly federatesWith: readonly string[];
  /** Unix seconds; the older entry wins when two share a hint. */
  readonly createdAt: number;
}

/** An X.509-SVID with its key, issued for one entry. */
export interface WorkloadIdentity {
  readonly entryId: string;
  readonly spiffeId: string;
  readonly hint: string;
  /** Of the entry; tie-break for duplicate hints. */
  readonly createdAt: number;
  /** DER certificates, leaf first. */
  readonly certChainDer: readonly Uint8Array[];
  /** Unencrypted PKCS#8 DER private key of the leaf. */
  readonly privateKeyPkcs8Der: Uint8Array;
  /** notAfter of the leaf. */
  readonly expiresAt: Date;
}

/**
 * Everything a caller with some selectors is entitled to, at one moment.
 * `bundle` is the agent's own trust domain bundle (undefined only before the
 * first sync); `federatedBundles` are those of the trust domains the matching
 * entries federate with (X.509 roots and JWT keys alike).
 */
export interface WorkloadUpdate {
  readonly identities: readonly WorkloadIdentity[];
  readonly bundle: Bundle | undefined;
  readonly federatedBundles: readonly Bundle[];
}

/** A minted JWT-SVID. */
export interface JwtSvid {
  readonly token: string;
  readonly expiresAt: Date;
}

/** Called with a fresh {@link WorkloadUpdate} whenever what the selectors see may have changed. */
export type WorkloadUpdateListener = (update: WorkloadUpdate) => void;

/**
 * The agent's identity cache, as the Workload API uses it. Implementations
 * must treat `selectors` as a set and must not keep references to it.
 */
export interface WorkloadCache {
  /** Entries whose selectors are all among `selectors`, oldest first. */
  matchingEntries(selectors: readonly Selector[]): WorkloadEntry[];
  /** The current X.509 identities and bundles for `selectors`. */
  fetchWorkloadUpdate(selectors: readonly Selector[]): WorkloadUpdate;
  /** A JWT-SVID for `entry` with the given audience (cached or newly minted). */
  fetchJwtSvid(entry: WorkloadEntry, audience: readonly string[]): Promise<JwtSvid>;
  /**
   * The cached JWT-SVID {@link fetchJwtSvid} would answer at once (fresh, and
   * the entry's tokens may be shared), or undefined: then call fetchJwtSvid.
   * Optional; lets a caller skip a promise per entry on the common path.
   */
  cachedJwtSvid?(entry: WorkloadEntry, audience: readonly string[]): JwtSvid | undefined;
  /**
   * Calls `listener` after every change that may alter what `selectors` see
   * (SVID rotation, entry or bundle change). Returns the unsubscribe function
   * (idempotent). The listener is never called synchronously from
   * `subscribe` itself: fetch the first snapshot with {@link fetchWorkloadUpdate}.
   */
  subscribe(selectors: readonly Selector[], listener: WorkloadUpdateListener): () => void;
}

/** `type:value`, the rendering SPIRE logs and matches with. */
export function selectorKey(s: Selector): string {
  return `${s.type}:${s.value}`;
}

/**
 * SPIRE's workload matching: an entry with selectors S matches a caller with
 * selectors C when S is non-empty and S ⊆ C.
 *
 * @example
 * ```ts
 * entryMatches([{ type: 'unix', value: 'uid:0' }], callerSelectors);
 * ```
 */
export function entryMatches(entrySelectors: readonly Selector[], caller: ReadonlySet<string> | readonly Selector[]): boolean {
  if (entrySelectors.length === 0) return false;
  const set = caller instanceof Set ? caller : new Set((caller as readonly Selector[]).map(selectorKey));
  return entrySelectors.every((s) => set.has(selectorKey(s)));
}

/** Orders entries as SPIRE breaks hint ties: older `createdAt` first, then entry ID. */
export function compareEntries(a: { createdAt: number; entryId: string }, b: { createdAt: number; entryId: string }): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.entryId < b.entryId ? -1 : a.entryId > b.entryId ? 1 : 0;
}

/**
 * Drops all but one of the items sharing a non-empty hint (SPIRE's
 * hintsfilter): the oldest entry, then the lowest entry ID, stays. Order is
 * otherwise kept. Returns the kept items and the dropped ones.
 */
export function filterDuplicateHints<T extends { hint: string; createdAt: number; entryId: string }>(items: readonly T[]): { kept: T[]; dropped: T[] } {
  const winner = new Map<string, T>();
  for (const item of items) {
    if (item.hint === '') continue;
    const current = winner.get(item.hint);
    if (!current || compareEntries(item, current) < 0) winner.set(item.hint, item);
  }
  const kept: T[] = [];
  const dropped: T[] = [];
  for (const item of items) {
    if (item.hint === '' || winner.get(item.hint) === item) kept.push(item);
    else dropped.push(item);
  }
  return { kept, dropped };
}
