import { describe, expect, it } from 'vitest';
import { StreamTable } from '../src/transport/stream-table.js';

interface S {
  readonly id: number;
  readonly tag: string;
}
const s = (id: number, tag = `s${id}`): S => ({ id, tag });

describe('StreamTable', () => {
  it('finds, counts and removes streams by id', () => {
    const t = new StreamTable<S>(4);
    const a = s(1);
    const b = s(3);
    t.add(a);
    t.add(b);
    expect(t.size).toBe(2);
    expect(t.get(1)).toBe(a);
    expect(t.get(3)).toBe(b);
    expect(t.get(5)).toBeUndefined();
    expect(t.delete(s(1))).toBe(false); // another object with the same id is not the entry
    expect(t.delete(a)).toBe(true);
    expect(t.delete(a)).toBe(false);
    expect(t.get(1)).toBeUndefined();
    expect(t.size).toBe(1);
  });

  it('a stream still open when its slot comes round again sends the newcomer to the overflow', () => {
    const t = new StreamTable<S>(4); // slots for ids 1,3,5,7; id 9 lands on id 1's slot
    const watch = s(1, 'watch');
    t.add(watch);
    const later = [3, 5, 7, 9, 11].map((id) => s(id));
    for (const x of later) t.add(x);
    expect(t.size).toBe(6);
    for (const x of [watch, ...later]) expect(t.get(x.id)).toBe(x);
    expect(t.values().map((x) => x.id).sort((p, q) => p - q)).toEqual([1, 3, 5, 7, 9, 11]);
    expect(t.delete(later[3]!)).toBe(true); // id 9, from the overflow
    expect(t.get(9)).toBeUndefined();
    expect(t.get(1)).toBe(watch);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.values()).toEqual([]);
    expect(t.get(1)).toBeUndefined();
  });

  it('agrees with a Map through a random run of opens and closes', () => {
    const t = new StreamTable<S>(8);
    const model = new Map<number, S>();
    let next = 1;
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 5000; i++) {
      if (model.size === 0 || rand() < 0.55) {
        const x = s(next);
        next += 2;
        t.add(x);
        model.set(x.id, x);
      } else {
        const ids = [...model.keys()];
        const id = ids[Math.floor(rand() * ids.length)]!;
        expect(t.delete(model.get(id)!)).toBe(true);
        model.delete(id);
      }
      expect(t.size).toBe(model.size);
      if (i % 97 === 0) {
        expect(new Set(t.values())).toEqual(new Set(model.values()));
        for (const [id, x] of model) expect(t.get(id)).toBe(x);
      }
    }
  });
});
