/**
 * Registration entries as the agent receives them, checked and turned into
 * the immutable {@link WorkloadEntry} the Workload API sees, and the selector
 * index that finds the entries a set of selectors matches.
 */
import { parseSpiffeId, parseTrustDomain } from '@spire-ts/common';
import { entryMatches, type WorkloadEntry } from '../workload/cache.js';
import type { AgentEntry } from '../node/server-api.js';

const NO_TRUST_DOMAINS: readonly string[] = Object.freeze([]);

/** Whether `selectors` is a frozen list of frozen selectors, which a view may share. */
function frozenSelectors(selectors: readonly { type: string; value: string }[]): boolean {
  return Object.isFrozen(selectors) && selectors.every((s) => Object.isFrozen(s));
}

/**
 * The workload view of `e`, or a reason why the agent cannot serve it (a
 * malformed entry, or one outside the agent's trust domain). The returned
 * object is frozen; it shares with `e` only what cannot change (strings,
 * and the selectors when `e` holds them frozen, as entries decoded from the
 * server do), so the agent does not keep every entry's selectors twice.
 */
export function toWorkloadEntry(e: AgentEntry, trustDomain: string): WorkloadEntry | string {
  if (typeof e.id !== 'string' || e.id === '') return 'the entry has no ID';
  let spiffeId: string;
  try {
    const id = parseSpiffeId(e.spiffeId);
    if (id.trustDomain !== trustDomain) return `its SPIFFE ID ${e.spiffeId} is not in the agent's trust domain "${trustDomain}"`;
    const canonical = id.toString();
    spiffeId = canonical === e.spiffeId ? e.spiffeId : canonical;
  } catch (err) {
    return `invalid SPIFFE ID: ${(err as Error).message}`;
  }
  if (!Array.isArray(e.selectors) || e.selectors.length === 0) return 'the entry has no selectors';
  for (const s of e.selectors) {
    if (typeof s?.type !== 'string' || s.type === '' || typeof s.value !== 'string' || s.value === '') {
      return `selector ${JSON.stringify(s)} needs a non-empty type and value`;
    }
  }
  const federatesWith: string[] = [];
  for (const td of e.federatesWith ?? []) {
    try {
      federatesWith.push(parseTrustDomain(td));
    } catch (err) {
      return `invalid federated trust domain: ${(err as Error).message}`;
    }
  }
  if (!Number.isFinite(e.revisionNumber)) return `invalid revision number ${String(e.revisionNumber)}`;
  const createdAt = Number.isFinite(e.createdAt) ? e.createdAt : 0;
  return Object.freeze({
    entryId: e.id,
    spiffeId,
    selectors: frozenSelectors(e.selectors) ? e.selectors : Object.freeze(e.selectors.map((s) => Object.freeze({ type: s.type, value: s.value }))),
    hint: typeof e.hint === 'string' ? e.hint : '',
    federatesWith: federatesWith.length === 0 ? NO_TRUST_DOMAINS : Object.freeze([...new Set(federatesWith)]),
    createdAt,
  });
}

/** The selectors of an entry as `type:value` keys. */
export function selectorKeys(e: WorkloadEntry): string[] {
  return e.selectors.map((s) => `${s.type}:${s.value}`);
}

/**
 * Finds the entries a caller's selector set matches without scanning them
 * all. Each entry is filed under one of its selectors, its anchor: the one
 * fewest indexed entries carried when it was added. An entry matches only
 * if the caller has all its selectors, its anchor among them, so looking in
 * the buckets of the caller's selectors finds every match, and a selector
 * many entries share (a namespace, a uid) costs nothing when those entries
 * are told apart by a rarer one.
 *
 * An agent may hold tens of thousands of entries, so the index keeps little
 * per entry: the (immutable) entry it was given, and a bucket that holds one
 * entry is the bare ID rather than a set. The selector keys of an entry, and
 * which of them is its anchor, are found again when it is removed.
 */
export class SelectorIndex {
  /** How many indexed entries carry each selector. */
  readonly #counts = new Map<string, number>();
  /** Entry IDs by anchor selector: one ID, or the set of them when several share the anchor. */
  readonly #byAnchor = new Map<string, string | Set<string>>();
  /** The entry indexed under each ID (its selectors are those counted). */
  readonly #indexed = new Map<string, WorkloadEntry>();

  /** Indexes `e` (replacing what was indexed under its ID). An entry without selectors matches nothing and is not indexed. */
  add(e: WorkloadEntry): void {
    this.remove(e);
    const keys = uniqueKeys(e);
    if (keys.length === 0) return;
    let anchor = keys[0]!;
    let fewest = Infinity;
    for (const k of keys) {
      const n = this.#counts.get(k) ?? 0;
      if (n < fewest) [anchor, fewest] = [k, n];
    }
    for (const k of keys) this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
    const ids = this.#byAnchor.get(anchor);
    if (ids === undefined) this.#byAnchor.set(anchor, e.entryId);
    else if (typeof ids === 'string') this.#byAnchor.set(anchor, new Set([ids, e.entryId]));
    else ids.add(e.entryId);
    this.#indexed.set(e.entryId, e);
  }

  /** Removes the entry with `e`'s ID (whatever selectors it was indexed with). */
  remove(e: WorkloadEntry): void {
    const id = e.entryId;
    const indexed = this.#indexed.get(id);
    if (!indexed) return;
    this.#indexed.delete(id);
    for (const k of uniqueKeys(indexed)) {
      const n = (this.#counts.get(k) ?? 1) - 1;
      if (n > 0) this.#counts.set(k, n);
      else this.#counts.delete(k);
      // The entry is filed under exactly one of its selectors.
      const ids = this.#byAnchor.get(k);
      if (ids === id) this.#byAnchor.delete(k);
      else if (typeof ids === 'object' && ids.delete(id) && ids.size === 1) this.#byAnchor.set(k, ids.values().next().value as string);
    }
  }

  /** IDs of the entries (looked up with `get`) all of whose selectors are in `caller`. */
  matching(caller: ReadonlySet<string>, get: (id: string) => WorkloadEntry | undefined): string[] {
    const out: string[] = [];
    const check = (id: string): void => {
      const e = get(id);
      if (e && entryMatches(e.selectors, caller)) out.push(id);
    };
    for (const k of caller) {
      const ids = this.#byAnchor.get(k);
      if (ids === undefined) continue;
      if (typeof ids === 'string') check(ids);
      else for (const id of ids) check(id);
    }
    return out;
  }
}

function uniqueKeys(e: WorkloadEntry): string[] {
  return [...new Set(selectorKeys(e))];
}
