// The entry cache's pure in-memory index: SPIRE's authorized-entry rule
// (direct children, node aliases by selector subset, recursion by SPIFFE ID,
// cycles, expiry), updates and removals, and a 10k-entry / 1k-agent scale run.
import { describe, expect, it } from 'vitest';
import { MemoryEntryIndex } from '../src/entrycache/index.js';
import type { AttestedNode, RegistrationEntry, Selector } from '../src/plugin/datastore/datastore.js';

const TD = 'example.org';
const SERVER = `spiffe://${TD}/spire/server`;
const agentId = (n: number | string): string => `spiffe://${TD}/spire/agent/x/${n}`;
const wl = (name: string): string => `spiffe://${TD}/${name}`;
const sel = (...vs: string[]): Selector[] => vs.map((v) => ({ type: 't', value: v }));

let seq = 0;
function entry(spiffeId: string, parentId: string, over: Partial<RegistrationEntry> = {}): RegistrationEntry {
  seq++;
  return {
    id: `e${seq}`, spiffeId, parentId, selectors: sel(`s${seq}`), x509SvidTtl: 0, jwtSvidTtl: 0, federatesWith: [], admin: false,
    downstream: false, expiresAt: 0, dnsNames: [], revisionNumber: 0, storeSvid: false, hint: '', createdAt: 1, ...over,
  };
}

function node(spiffeId: string, selectors: Selector[], over: Partial<AttestedNode> = {}): AttestedNode {
  return {
    spiffeId, attestationDataType: 'x', certSerialNumber: '1', certNotAfter: 5000, newCertSerialNumber: '', newCertNotAfter: 0,
    canReattest: false, agentVersion: '', banned: false, selectors, ...over,
  };
}

function setup(): { idx: MemoryEntryIndex; clock: { now: number } } {
  const clock = { now: 1000 };
  return { idx: new MemoryEntryIndex(TD, () => clock.now), clock };
}

const spiffeIds = (es: readonly RegistrationEntry[]): string[] => es.map((e) => e.spiffeId).sort();
const entryIds = (es: readonly RegistrationEntry[]): string[] => es.map((e) => e.id).sort();

describe('MemoryEntryIndex.authorizedEntries', () => {
  it('answers entries parented by the agent, and nothing for a stranger', () => {
    const { idx } = setup();
    idx.upsertEntry(entry(wl('a'), agentId(1)));
    idx.upsertEntry(entry(wl('b'), agentId(1)));
    idx.upsertEntry(entry(wl('c'), agentId(2)));
    expect(spiffeIds(idx.authorizedEntries(agentId(1)))).toEqual([wl('a'), wl('b')]);
    expect(idx.authorizedEntries(agentId(3))).toEqual([]);
  });

  it('follows node aliases whose selectors are all among the agent\'s (the alias itself is not returned)', () => {
    const { idx } = setup();
    const alias = entry(wl('cluster'), SERVER, { selectors: sel('a', 'b') });
    idx.upsertEntry(alias);
    idx.upsertEntry(entry(wl('w1'), wl('cluster')));
    idx.upsertAgent(node(agentId('super'), sel('a', 'b', 'c')));
    idx.upsertAgent(node(agentId('exact'), sel('b', 'a')));
    idx.upsertAgent(node(agentId('partial'), sel('a', 'c')));
    idx.upsertAgent(node(agentId('none'), []));
    expect(spiffeIds(idx.authorizedEntries(agentId('super')))).toEqual([wl('w1')]);
    expect(spiffeIds(idx.authorizedEntries(agentId('exact')))).toEqual([wl('w1')]);
    expect(idx.authorizedEntries(agentId('partial'))).toEqual([]);
    expect(idx.authorizedEntries(agentId('none'))).toEqual([]);
    expect(idx.authorizedEntries(agentId('unknown'))).toEqual([]);
    expect(idx.aliasesOf(agentId('super')).map((e) => e.id)).toEqual([alias.id]);
  });

  it('recurses through the SPIFFE IDs of included entries', () => {
    const { idx } = setup();
    idx.upsertEntry(entry(wl('l1'), agentId(1)));
    idx.upsertEntry(entry(wl('l2'), wl('l1')));
    idx.upsertEntry(entry(wl('l3'), wl('l2')));
    idx.upsertEntry(entry(wl('l3b'), wl('l2')));
    idx.upsertEntry(entry(wl('other'), wl('unrelated')));
    expect(spiffeIds(idx.authorizedEntries(agentId(1)))).toEqual([wl('l1'), wl('l2'), wl('l3'), wl('l3b')]);
  });

  it('ends cycles, returning each entry once', () => {
    const { idx } = setup();
    idx.upsertEntry(entry(wl('x'), agentId(1)));
    idx.upsertEntry(entry(wl('y'), wl('x')));
    idx.upsertEntry(entry(wl('x'), wl('y')));
    idx.upsertEntry(entry(agentId(1), wl('y')));
    idx.upsertEntry(entry(wl('self'), wl('self')));
    idx.upsertEntry(entry(wl('self'), wl('x')));
    const got = idx.authorizedEntries(agentId(1));
    expect(got).toHaveLength(6);
    expect(new Set(entryIds(got)).size).toBe(6);
  });

  it('leaves out expired entries and what is reachable only through them', () => {
    const { idx, clock } = setup();
    idx.upsertEntry(entry(wl('old'), agentId(1), { expiresAt: 1000 }));
    idx.upsertEntry(entry(wl('kid'), wl('old')));
    idx.upsertEntry(entry(wl('soon'), agentId(1), { expiresAt: 1001 }));
    idx.upsertEntry(entry(wl('soon-kid'), wl('soon')));
    expect(spiffeIds(idx.authorizedEntries(agentId(1)))).toEqual([wl('soon'), wl('soon-kid')]);
    // Another live entry with the same SPIFFE ID still reaches the children.
    idx.upsertEntry(entry(wl('old'), agentId(1)));
    expect(spiffeIds(idx.authorizedEntries(agentId(1)))).toEqual([wl('kid'), wl('old'), wl('soon'), wl('soon-kid')]);
    clock.now = 1001;
    expect(spiffeIds(idx.authorizedEntries(agentId(1)))).toEqual([wl('kid'), wl('old')]);
  });

  it('ignores expired node aliases', () => {
    const { idx, clock } = setup();
    idx.upsertEntry(entry(wl('cluster'), SERVER, { selectors: sel('a'), expiresAt: 2000 }));
    idx.upsertEntry(entry(wl('w'), wl('cluster')));
    idx.upsertAgent(node(agentId(1), sel('a')));
    expect(spiffeIds(idx.authorizedEntries(agentId(1)))).toEqual([wl('w')]);
    clock.now = 2000;
    expect(idx.authorizedEntries(agentId(1))).toEqual([]);
  });

  it('never authorizes through entries outside the trust domain', () => {
    const { idx } = setup();
    const foreign = entry('spiffe://other.org/w', agentId(1));
    idx.upsertEntry(foreign);
    idx.upsertEntry(entry(wl('w'), 'spiffe://other.org/spire/agent/x/1'));
    expect(idx.authorizedEntries(agentId(1))).toEqual([]);
    expect(idx.authorizedEntries('spiffe://other.org/spire/agent/x/1')).toEqual([]);
    expect(idx.entriesWithSpiffeId('spiffe://other.org/w').map((e) => e.id)).toEqual([foreign.id]);
  });
});

describe('MemoryEntryIndex.lookupAuthorizedEntries', () => {
  /** A deterministic pseudo-random generator (tests must be repeatable). */
  function rng(seed: number): () => number {
    let x = seed >>> 0 || 1;
    return () => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x / 2 ** 32;
    };
  }

  it('agrees with authorizedEntries on random graphs with aliases, cycles, duplicates, expiry and foreign IDs', () => {
    for (let round = 0; round < 40; round++) {
      const rand = rng(round + 1);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const { idx, clock } = setup();
      const agents = [agentId(1), agentId(2), agentId(3)];
      idx.upsertAgent(node(agents[0]!, sel('a', 'b')));
      idx.upsertAgent(node(agents[1]!, sel('b')));
      idx.upsertAgent(node(agents[2]!, []));
      // A small name space, so SPIFFE IDs repeat and parents form chains and cycles.
      const names = [...Array.from({ length: 12 }, (_, i) => wl(`n${i}`)), ...agents, 'spiffe://other.org/x'];
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const r = rand();
        const e =
          r < 0.1
            ? entry(pick(names), SERVER, { selectors: rand() < 0.5 ? sel('a') : sel('a', 'b') })
            : entry(pick(names), pick([...names, ...agents, ...agents]), { expiresAt: rand() < 0.15 ? 1000 + Math.floor(rand() * 3) : 0 });
        idx.upsertEntry(e);
        ids.push(e.id);
      }
      for (const now of [999, 1000, 1001, 1002]) {
        clock.now = now;
        for (const a of agents) {
          const want = entryIds(idx.authorizedEntries(a));
          // All ids at once, one at a time, and unknown ids mixed in.
          expect([...idx.lookupAuthorizedEntries(a, [...ids, 'nope']).keys()].sort()).toEqual(want);
          const oneByOne = ids.filter((id) => idx.lookupAuthorizedEntries(a, [id]).has(id)).sort();
          expect(oneByOne).toEqual(want);
        }
      }
    }
  });

  it('answers from the entries themselves: an id repeated once, an unknown agent nothing', () => {
    const { idx } = setup();
    const e = entry(wl('w'), agentId(1));
    idx.upsertEntry(e);
    const got = idx.lookupAuthorizedEntries(agentId(1), [e.id, e.id]);
    expect([...got.keys()]).toEqual([e.id]);
    expect(got.get(e.id)?.spiffeId).toBe(wl('w'));
    expect(idx.lookupAuthorizedEntries(agentId(9), [e.id]).size).toBe(0);
  });
});

describe('MemoryEntryIndex updates', () => {
  it('moves a re-parented entry and forgets a removed one', () => {
    const { idx } = setup();
    const e = entry(wl('w'), agentId(1));
    idx.upsertEntry(e);
    idx.upsertEntry({ ...e, parentId: agentId(2), revisionNumber: 1 });
    expect(idx.authorizedEntries(agentId(1))).toEqual([]);
    expect(idx.authorizedEntries(agentId(2)).map((x) => x.revisionNumber)).toEqual([1]);
    idx.removeEntry(e.id);
    idx.removeEntry('never-there');
    expect(idx.authorizedEntries(agentId(2))).toEqual([]);
    expect(idx.entry(e.id)).toBeUndefined();
    expect(idx.stats()).toEqual({ entries: 0, aliases: 0, agents: 0 });
  });

  it('re-indexes an alias whose selectors change, and turns an alias into a plain entry', () => {
    const { idx } = setup();
    const alias = entry(wl('cluster'), SERVER, { selectors: sel('a') });
    idx.upsertEntry(alias);
    idx.upsertEntry(entry(wl('w'), wl('cluster')));
    idx.upsertAgent(node(agentId(1), sel('a')));
    idx.upsertAgent(node(agentId(2), sel('b')));
    idx.upsertEntry({ ...alias, selectors: sel('b') });
    expect(idx.authorizedEntries(agentId(1))).toEqual([]);
    expect(spiffeIds(idx.authorizedEntries(agentId(2)))).toEqual([wl('w')]);
    idx.upsertEntry({ ...alias, parentId: agentId(1) });
    expect(idx.stats().aliases).toBe(0);
    expect(spiffeIds(idx.authorizedEntries(agentId(1)))).toEqual([wl('cluster'), wl('w')]);
    expect(idx.authorizedEntries(agentId(2))).toEqual([]);
  });

  it('keeps agents with their selectors, serials and banned flag; removing one drops its aliases only', () => {
    const { idx } = setup();
    idx.upsertEntry(entry(wl('cluster'), SERVER, { selectors: sel('a') }));
    idx.upsertEntry(entry(wl('w'), wl('cluster')));
    idx.upsertEntry(entry(wl('direct'), agentId(1)));
    idx.upsertAgent(node(agentId(1), sel('a'), { banned: true, certSerialNumber: '', newCertSerialNumber: '9', canReattest: true }));
    expect(idx.agent(agentId(1))).toEqual({
      spiffeId: agentId(1), attestationType: 'x', selectors: sel('a'), banned: true, certSerialNumber: '', newCertSerialNumber: '9',
      certNotAfter: 5000, canReattest: true,
    });
    idx.removeAgent(agentId(1));
    expect(idx.agent(agentId(1))).toBeUndefined();
    expect(spiffeIds(idx.authorizedEntries(agentId(1)))).toEqual([wl('direct')]);
  });

  it('answers entries by SPIFFE ID (aliases included, expired left out)', () => {
    const { idx } = setup();
    const a = entry(wl('admin'), agentId(1), { admin: true });
    const b = entry(wl('admin'), SERVER);
    idx.upsertEntry(a);
    idx.upsertEntry(b);
    idx.upsertEntry(entry(wl('admin'), agentId(2), { expiresAt: 10 }));
    expect(entryIds(idx.entriesWithSpiffeId(wl('admin')))).toEqual([a.id, b.id].sort());
    expect(idx.entriesWithSpiffeId(wl('nobody'))).toEqual([]);
  });

  it('keeps its own frozen copies', () => {
    const { idx } = setup();
    const e = entry(wl('w'), agentId(1), { dnsNames: ['a.example'] });
    idx.upsertEntry(e);
    e.selectors.push({ type: 't', value: 'late' });
    e.dnsNames[0] = 'evil.example';
    const [got] = idx.authorizedEntries(agentId(1));
    expect(got?.selectors).toHaveLength(1);
    expect(got?.dnsNames).toEqual(['a.example']);
    expect(() => (got as RegistrationEntry).selectors.push({ type: 'x', value: 'y' })).toThrow(TypeError);
    expect(() => {
      (got as RegistrationEntry).admin = true;
    }).toThrow(TypeError);
  });
});

describe('MemoryEntryIndex at scale', () => {
  it('builds 10k entries / 1k agents and answers every agent', () => {
    const idx = new MemoryEntryIndex(TD, () => 1000);
    // 1000 agents in 100 clusters of 10: each matches its cluster's alias
    // (2 selectors) and has 4 direct entries; each cluster alias parents 50
    // entries, 10 of which parent one more entry each.
    for (let a = 0; a < 1000; a++) {
      const cluster = a % 100;
      idx.upsertAgent(node(agentId(a), [...sel(`cluster:${cluster}`, 'region:eu', `agent:${a}`)]));
      for (let i = 0; i < 4; i++) idx.upsertEntry(entry(wl(`a${a}/w${i}`), agentId(a)));
    }
    for (let c = 0; c < 100; c++) {
      idx.upsertEntry(entry(wl(`c${c}`), SERVER, { selectors: sel(`cluster:${c}`, 'region:eu') }));
      for (let i = 0; i < 50; i++) {
        idx.upsertEntry(entry(wl(`c${c}/w${i}`), wl(`c${c}`)));
        if (i < 10) idx.upsertEntry(entry(wl(`c${c}/w${i}/sub`), wl(`c${c}/w${i}`)));
      }
    }
    expect(idx.stats()).toEqual({ entries: 4000 + 100 + 5000 + 1000, aliases: 100, agents: 1000 });
    let total = 0;
    for (let round = 0; round < 3; round++) {
      for (let a = 0; a < 1000; a++) total += idx.authorizedEntries(agentId(a)).length;
    }
    expect(total).toBe(3 * 1000 * (4 + 50 + 10));
  });
});
