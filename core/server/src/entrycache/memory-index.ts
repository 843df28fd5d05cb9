/**
 * The in-memory index behind the entry cache (SPIRE's
 * pkg/server/authorizedentries): registration entries by id, parent and
 * SPIFFE ID, node aliases by selector, and attested agents. Pure: no I/O, no
 * timers; the refresher (cache.ts) feeds it. Answers are O(result): an
 * agent's authorized entries are found by walking the parent index from the
 * agent and its node aliases, never by scanning all entries.
 */
import type { CachedAgent, EntryIndex } from '../api/deps.js';
import type { AttestedNode, RegistrationEntry, Selector } from '../plugin/datastore/datastore.js';

/** The read side of {@link EntryIndex} (everything but `refresh`). */
export type EntryIndexReader = Omit<EntryIndex, 'refresh'>;

export interface EntryIndexStats {
  entries: number;
  aliases: number;
  agents: number;
}

interface AliasRecord {
  entry: RegistrationEntry;
  selectorKeys: ReadonlySet<string>;
}

interface AgentRecord {
  agent: CachedAgent;
  selectorKeys: ReadonlySet<string>;
}

/** Selector types never contain ':', so `type:value` is unambiguous. */
const selectorKey = (s: Selector): string => `${s.type}:${s.value}`;

function addTo<K, V>(m: Map<K, Map<string, V>>, key: K, id: string, v: V): void {
  let inner = m.get(key);
  if (!inner) m.set(key, (inner = new Map()));
  inner.set(id, v);
}

function removeFrom<K, V>(m: Map<K, Map<string, V>>, key: K, id: string): void {
  const inner = m.get(key);
  if (!inner) return;
  inner.delete(id);
  if (inner.size === 0) m.delete(key);
}

function freezeEntry(e: RegistrationEntry): RegistrationEntry {
  const copy: RegistrationEntry = {
    ...e,
    selectors: Object.freeze(e.selectors.map((s) => Object.freeze({ type: s.type, value: s.value }))) as Selector[],
    federatesWith: Object.freeze([...e.federatesWith]) as string[],
    dnsNames: Object.freeze([...e.dnsNames]) as string[],
  };
  if (e.additionalAttributes) copy.additionalAttributes = Object.freeze({ ...e.additionalAttributes });
  return Object.freeze(copy);
}

export class MemoryEntryIndex implements EntryIndexReader {
  /** `spiffe://<td>/spire/server`: the parent of node alias entries. */
  readonly serverId: string;
  private readonly tdPrefix: string;

  private readonly entriesById = new Map<string, RegistrationEntry>();
  /** Workload entries (not aliases) in the trust domain, by parent ID. */
  private readonly byParent = new Map<string, Map<string, RegistrationEntry>>();
  private readonly bySpiffeId = new Map<string, Map<string, RegistrationEntry>>();
  private readonly aliasesById = new Map<string, AliasRecord>();
  private readonly aliasesBySelector = new Map<string, Map<string, AliasRecord>>();
  private readonly agents = new Map<string, AgentRecord>();

  /**
   * @param trustDomain the bare trust domain name (`example.org`)
   * @param nowSeconds the current Unix time in seconds (entry expiry)
   */
  constructor(trustDomain: string, private readonly nowSeconds: () => number) {
    this.tdPrefix = `spiffe://${trustDomain}/`;
    this.serverId = `${this.tdPrefix}spire/server`;
  }

  private inTrustDomain(id: string): boolean {
    return id.startsWith(this.tdPrefix);
  }

  private expired(e: RegistrationEntry, now: number): boolean {
    return e.expiresAt !== 0 && e.expiresAt <= now;
  }

  // ---- writes -----------------------------------------------------------------

  /** Adds or replaces an entry (the index keeps its own frozen copy). */
  upsertEntry(entry: RegistrationEntry): void {
    this.removeEntry(entry.id);
    const e = freezeEntry(entry);
    this.entriesById.set(e.id, e);
    addTo(this.bySpiffeId, e.spiffeId, e.id, e);
    // Like SPIRE, entries outside the trust domain never authorize anything.
    if (!this.inTrustDomain(e.parentId) || !this.inTrustDomain(e.spiffeId)) return;
    if (e.parentId === this.serverId) {
      const rec: AliasRecord = { entry: e, selectorKeys: new Set(e.selectors.map(selectorKey)) };
      this.aliasesById.set(e.id, rec);
      for (const k of rec.selectorKeys) addTo(this.aliasesBySelector, k, e.id, rec);
    } else {
      addTo(this.byParent, e.parentId, e.id, e);
    }
  }

  /** Removes an entry; unknown ids are ignored. */
  removeEntry(id: string): void {
    const old = this.entriesById.get(id);
    if (!old) return;
    this.entriesById.delete(id);
    removeFrom(this.bySpiffeId, old.spiffeId, id);
    const alias = this.aliasesById.get(id);
    if (alias) {
      this.aliasesById.delete(id);
      for (const k of alias.selectorKeys) removeFrom(this.aliasesBySelector, k, id);
    } else {
      removeFrom(this.byParent, old.parentId, id);
    }
  }

  /** Adds or replaces an agent; a node fetched without selectors has none. */
  upsertAgent(node: AttestedNode): void {
    const selectors = Object.freeze((node.selectors ?? []).map((s) => Object.freeze({ type: s.type, value: s.value })));
    const agent: CachedAgent = Object.freeze({
      spiffeId: node.spiffeId, attestationType: node.attestationDataType, selectors, banned: node.banned,
      certSerialNumber: node.certSerialNumber, newCertSerialNumber: node.newCertSerialNumber, certNotAfter: node.certNotAfter,
      canReattest: node.canReattest,
    });
    this.agents.set(node.spiffeId, { agent, selectorKeys: new Set(selectors.map(selectorKey)) });
  }

  removeAgent(spiffeId: string): void {
    this.agents.delete(spiffeId);
  }

  // ---- reads ------------------------------------------------------------------

  entry(id: string): RegistrationEntry | undefined {
    return this.entriesById.get(id);
  }

  agent(agentId: string): CachedAgent | undefined {
    return this.agents.get(agentId)?.agent;
  }

  /** Unexpired entries with this SPIFFE ID (aliases included). */
  entriesWithSpiffeId(spiffeId: string): readonly RegistrationEntry[] {
    const m = this.bySpiffeId.get(spiffeId);
    if (!m) return [];
    const now = this.nowSeconds();
    const out: RegistrationEntry[] = [];
    for (const e of m.values()) if (!this.expired(e, now)) out.push(e);
    return out;
  }

  /**
   * The unexpired node alias entries whose selectors are all among the
   * agent's (an unknown agent has no selectors, hence no aliases).
   */
  aliasesOf(agentId: string): readonly RegistrationEntry[] {
    const agent = this.agents.get(agentId);
    if (!agent || agent.selectorKeys.size === 0) return [];
    const now = this.nowSeconds();
    const seen = new Set<string>();
    const out: RegistrationEntry[] = [];
    for (const k of agent.selectorKeys) {
      const candidates = this.aliasesBySelector.get(k);
      if (!candidates) continue;
      for (const [id, rec] of candidates) {
        if (seen.has(id)) continue;
        seen.add(id);
        if (this.expired(rec.entry, now) || rec.selectorKeys.size > agent.selectorKeys.size) continue;
        let all = true;
        for (const s of rec.selectorKeys) {
          if (!agent.selectorKeys.has(s)) {
            all = false;
            break;
          }
        }
        if (all) out.push(rec.entry);
      }
    }
    return out;
  }

  /**
   * SPIRE's rule: the entries parented by the agent, and by the SPIFFE ID of
   * each node alias the agent matches, then recursively those parented by
   * the SPIFFE ID of any entry already included. Each parent ID is walked
   * once (cycles end there). Expired entries are left out, and nothing is
   * reached through them. The alias entries themselves are not included.
   */
  authorizedEntries(agentId: string): readonly RegistrationEntry[] {
    const now = this.nowSeconds();
    const out: RegistrationEntry[] = [];
    const walked = new Set<string>();
    const stack: string[] = [agentId];
    for (const alias of this.aliasesOf(agentId)) stack.push(alias.spiffeId);
    for (let parent = stack.pop(); parent !== undefined; parent = stack.pop()) {
      if (walked.has(parent)) continue;
      walked.add(parent);
      const children = this.byParent.get(parent);
      if (!children) continue;
      for (const e of children.values()) {
        if (this.expired(e, now)) continue;
        out.push(e);
        if (!walked.has(e.spiffeId)) stack.push(e.spiffeId);
      }
    }
    return out;
  }

  /**
   * The entries among `ids` that {@link authorizedEntries} would answer for
   * the agent, found without walking the agent's whole tree (SPIRE's
   * LookupAuthorizedEntries): each entry is checked up its chain of
   * parents, so a call asking for a few entries costs the same for an agent
   * with ten entries or ten thousand. Unknown, expired, alias and
   * unauthorized ids are left out.
   */
  lookupAuthorizedEntries(agentId: string, ids: Iterable<string>): Map<string, RegistrationEntry> {
    const now = this.nowSeconds();
    const out = new Map<string, RegistrationEntry>();
    let roots: Set<string> | undefined;
    /** Parent IDs already decided during this call. */
    const decided = new Map<string, boolean>();
    for (const id of ids) {
      if (out.has(id)) continue;
      const e = this.entriesById.get(id);
      if (!e || this.expired(e, now) || this.byParent.get(e.parentId)?.get(e.id) !== e) continue;
      roots ??= new Set([agentId, ...this.aliasesOf(agentId).map((a) => a.spiffeId)]);
      if (this.parentReachable(e.parentId, roots, decided, now)) out.set(id, e);
    }
    return out;
  }

  /**
   * Whether `parent` is among the parent IDs {@link authorizedEntries} walks
   * from `roots`: a root itself, or the SPIFFE ID of an unexpired workload
   * entry whose own parent is reachable. Searched breadth-first upwards, each
   * ID once, so cycles end.
   */
  private parentReachable(parent: string, roots: ReadonlySet<string>, decided: Map<string, boolean>, now: number): boolean {
    const known = decided.get(parent);
    if (known !== undefined) return known;
    const seen = new Set<string>([parent]);
    const queue: string[] = [parent];
    let found = false;
    for (let i = 0; i < queue.length && !found; i++) {
      const p = queue[i]!;
      if (roots.has(p) || decided.get(p) === true) {
        found = true;
        break;
      }
      for (const x of this.bySpiffeId.get(p)?.values() ?? []) {
        if (this.expired(x, now) || this.byParent.get(x.parentId)?.get(x.id) !== x || seen.has(x.parentId)) continue;
        seen.add(x.parentId);
        queue.push(x.parentId);
      }
    }
    // Not found: nothing seen reaches a root either. Found: only the start is certain.
    if (found) decided.set(parent, true);
    else for (const p of seen) decided.set(p, false);
    return found;
  }

  stats(): EntryIndexStats {
    return { entries: this.entriesById.size, aliases: this.aliasesById.size, agents: this.agents.size };
  }
}
