import { describe, expect, it } from 'vitest';
import { Registrations } from '../src/run/registrations.js';

describe('Registrations', () => {
  it('keeps registrations in order; unregistering is idempotent and leaves the others', () => {
    const r = new Registrations<string>();
    const offA = r.add('a');
    const offB = r.add('b');
    const offB2 = r.add('b');
    r.add('c');
    expect(r.size).toBe(4);
    expect(r.values()).toEqual(['a', 'b', 'b', 'c']);
    offB();
    offB();
    expect(r.values()).toEqual(['a', 'b', 'c']);
    expect(r.size).toBe(3);
    offA();
    offB2();
    const seen: string[] = [];
    r.forEach((v) => seen.push(v));
    expect(seen).toEqual(['c']);
    expect(r.size).toBe(1);
  });

  it('values() is a snapshot: unregistering while walking it is safe', () => {
    const r = new Registrations<number>();
    const offs = [1, 2, 3, 4].map((n) => r.add(n));
    const walked: number[] = [];
    for (const v of r.values()) {
      walked.push(v);
      for (const off of offs) off();
    }
    expect(walked).toEqual([1, 2, 3, 4]);
    expect(r.size).toBe(0);
    expect(r.values()).toEqual([]);
    r.add(5);
    expect(r.values()).toEqual([5]);
  });

  it('forEach skips what is unregistered during the walk and leaves what is registered for the next one', () => {
    const r = new Registrations<string>();
    const offs = new Map<string, () => void>();
    for (const v of ['a', 'b', 'c']) offs.set(v, r.add(v));
    const walked: string[] = [];
    r.forEach((v) => {
      walked.push(v);
      if (v === 'a') {
        offs.get('b')!();
        r.add('d');
      }
    });
    expect(walked).toEqual(['a', 'c']);
    expect(r.values()).toEqual(['a', 'c', 'd']);
  });
});
