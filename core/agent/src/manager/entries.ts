/**
 * Registration entries as the agent receives them, checked and turned into
 * the immutable {@link WorkloadEntry} the Workload API sees, and the selector
 * index that finds the entries a set of selectors matches.
 */
import { parseSpiffeId, parseTrustDomain } from '@spire-ts/common';
import { entryMatches, type WorkloadEntry } from '../workload/cache.js';
import type { AgentEntry } from '../node/server-api.js';

/**
 * The workload view of `e`, or a reason why the agent cannot serve it (a
 * malformed entry, or one outside the agent's trust domain). The returned
 * object is frozen and shares nothing with `e`.
 */
export function toWorkloadEntry(e: AgentEntry, trustDomain: string): WorkloadEntry | string {
  if (typeof e.id !== 'string' || e.id === '') return 'the entry has no ID';
  let spiffeId: string;
  try {
    const id = parseSpiffeId(e.spiffeId);
    if (id.trustDomain !== trustDomain) return `its SPIFFE ID ${e.spiffeId} is not in the agent's trust domain "${trustDomain}"`;
    spiffeId = id.toString();
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
    selectors: Object.freeze(e.selectors.map((s) => Object.freeze({ type: s.type, value: s.value }))),
    hint: typeof e.hint === 'string' ? e.hint : '',
    federatesWith: Object.freeze([...new Set(federatesWith)]),
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
 */
export class SelectorIndex {
  /** How many indexed entries carry each selector. */
  readonly #counts = new Map<string, number>();
  /** Entry IDs by anchor selector. */
  readonly #byAnchor = new Map<string, Set<string>>();
  /** The indexed selectors and anchor of each entry. */
  readonly #indexed = new Map<string, { keys: readonly string[]; anchor: string }>();

  /** Indexes `e` (replacing what was indexed under its ID). An entry without selectors matches nothing and is not indexed. */
  add(e: WorkloadEntry): void {
    this.remove(e);
    const keys = [...new Set(selectorKeys(e))];
    if (keys.length === 0) return;
    let anchor = keys[0]!;
    let fewest = Infinity;
    for (const k of keys) {
      const n = this.#counts.get(k) ?? 0;
      if (n < fewest) [anchor, fewest] = [k, n];
      this.#counts.set(k, n + 1);
    }
    let ids = this.#byAnchor.get(anchor);
    if (!ids) this.#byAnchor.set(anchor, (ids = new Set()));
    ids.add(e.entryId);
    this.#indexed.set(e.entryId, { keys, anchor });
  }

  /** Removes the entry with `e`'s ID (whatever selectors it was indexed with). */
  remove(e: WorkloadEntry): void {
    const rec = this.#indexed.get(e.entryId);
    if (!rec) return;
    this.#indexed.delete(e.entryId);
    for (const k of rec.keys) {
      const n = (this.#counts.get(k) ?? 1) - 1;
      if (n > 0) this.#counts.set(k, n);
      else this.#counts.delete(k);
    }
    const ids = this.#byAnchor.get(rec.anchor);
    ids?.delete(e.entryId);
    if (ids?.size === 0) this.#byAnchor.delete(rec.anchor);
  }

  /** IDs of the entries (looked up with `get`) all of whose selectors are in `caller`. */
  matching(caller: ReadonlySet<string>, get: (id: string) => WorkloadEntry | undefined): string[] {
    const out: string[] = [];
    for (const k of caller) {
      const ids = this.#byAnchor.get(k);
      if (!ids) continue;
      for (const id of ids) {
        const e = get(id);
        if (e && entryMatches(e.selectors, caller)) out.push(id);
      }
    }
    return out;
  }
}
