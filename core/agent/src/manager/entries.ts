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

/** Which entries carry each selector; finds the entries a caller's selector set matches without scanning them all. */
export class SelectorIndex {
  readonly #bySelector = new Map<string, Set<string>>();

  add(e: WorkloadEntry): void {
    for (const k of selectorKeys(e)) {
      let ids = this.#bySelector.get(k);
      if (!ids) this.#bySelector.set(k, (ids = new Set()));
      ids.add(e.entryId);
    }
  }

  remove(e: WorkloadEntry): void {
    for (const k of selectorKeys(e)) {
      const ids = this.#bySelector.get(k);
      if (!ids) continue;
      ids.delete(e.entryId);
      if (ids.size === 0) this.#bySelector.delete(k);
    }
  }

  /** IDs of the entries (looked up with `get`) all of whose selectors are in `caller`. */
  matching(caller: ReadonlySet<string>, get: (id: string) => WorkloadEntry | undefined): string[] {
    const seen = new Set<string>();
    const out: string[] = [];
    for (const k of caller) {
      for (const id of this.#bySelector.get(k) ?? []) {
        if (seen.has(id)) continue;
        seen.add(id);
        const e = get(id);
        if (e && entryMatches(e.selectors, caller)) out.push(id);
      }
    }
    return out;
  }
}
