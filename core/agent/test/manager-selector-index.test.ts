// SelectorIndex (the agent cache's entry lookup): finds exactly the entries
// whose selectors are all among the caller's, through adds, re-adds with
// other selectors and removals, whatever selector each entry is filed under.
import { describe, expect, it } from 'vitest';
import { SelectorIndex } from '../src/manager/entries.js';
import { entryMatches, type Selector, type WorkloadEntry } from '../src/workload/index.js';

const entry = (entryId: string, values: string[]): WorkloadEntry => ({
  entryId,
  spiffeId: `spiffe://example.org/${entryId}`,
  selectors: values.map((v): Selector => ({ type: 'unix', value: v })),
  hint: '',
  federatesWith: [],
  createdAt: 0,
});
const keys = (...values: string[]): Set<string> => new Set(values.map((v) => `unix:${v}`));

function lookup(index: SelectorIndex, all: Map<string, WorkloadEntry>, caller: Set<string>): string[] {
  return index.matching(caller, (id) => all.get(id)).sort();
}

describe('SelectorIndex', () => {
  it('finds entries that share a common selector through their rare one, and the ones that only have the common one', () => {
    const index = new SelectorIndex();
    const all = new Map<string, WorkloadEntry>();
    const add = (e: WorkloadEntry): void => {
      all.set(e.entryId, e);
      index.add(e);
    };
    add(entry('only-uid', ['uid:0']));
    for (let i = 0; i < 50; i++) add(entry(`e${i}`, ['uid:0', `gid:${i}`]));
    add(entry('late', ['uid:0', 'gid:7']));
    expect(lookup(index, all, keys('uid:0', 'gid:7'))).toEqual(['e7', 'late', 'only-uid']);
    expect(lookup(index, all, keys('uid:0'))).toEqual(['only-uid']);
    expect(lookup(index, all, keys('gid:7'))).toEqual([]);
  });

  it('keeps finding an entry whose anchor became common, and forgets removed and re-added selectors', () => {
    const index = new SelectorIndex();
    const all = new Map<string, WorkloadEntry>();
    const put = (e: WorkloadEntry): void => {
      all.set(e.entryId, e);
      index.add(e);
    };
    put(entry('first', ['ns:a', 'sa:x'])); // filed under one of two then-unused selectors
    for (let i = 0; i < 20; i++) put(entry(`n${i}`, ['ns:a', `sa:${i}`]));
    for (let i = 0; i < 20; i++) put(entry(`s${i}`, [`ns:${i}`, 'sa:x']));
    expect(lookup(index, all, keys('ns:a', 'sa:x'))).toEqual(['first']);
    put(entry('first', ['ns:b'])); // same ID, other selectors
    expect(lookup(index, all, keys('ns:a', 'sa:x'))).toEqual([]);
    expect(lookup(index, all, keys('ns:b'))).toEqual(['first']);
    index.remove(all.get('first')!);
    all.delete('first');
    expect(lookup(index, all, keys('ns:b'))).toEqual([]);
    index.remove(entry('never-added', ['ns:b'])); // no-op
    expect(lookup(index, all, keys('ns:a', 'sa:3'))).toEqual(['n3']);
  });

  it('agrees with a full scan through random adds, updates and removals', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pool = Array.from({ length: 12 }, (_, i) => `s:${i}`);
    const index = new SelectorIndex();
    const all = new Map<string, WorkloadEntry>();
    for (let step = 0; step < 3000; step++) {
      const id = `id${rand(200)}`;
      if (rand(4) === 0 && all.has(id)) {
        index.remove(all.get(id)!);
        all.delete(id);
      } else {
        const e = entry(id, Array.from({ length: 1 + rand(3) }, () => pool[rand(pool.length)]!));
        all.set(id, e);
        index.add(e);
      }
      if (step % 50 === 0) {
        const caller = keys(...Array.from({ length: 1 + rand(6) }, () => pool[rand(pool.length)]!));
        const expected = [...all.values()].filter((e) => entryMatches(e.selectors, caller)).map((e) => e.entryId);
        expect(lookup(index, all, caller)).toEqual(expected.sort());
      }
    }
  });
});
