import { describe, expect, it } from 'vitest';
import { SwapQueue } from '../src/transport/swap-queue.js';

describe('SwapQueue', () => {
  it('drains in order; items pushed during a drain wait for the next one; an empty queue calls nothing', () => {
    const q = new SwapQueue<number>();
    let calls = 0;
    q.drain(() => calls++);
    expect(calls).toBe(0);
    q.push(1);
    q.push(2);
    const seen: number[][] = [];
    q.drain((items) => {
      seen.push([...items]);
      q.push(3);
      q.drain((inner) => seen.push([...inner])); // re-entrant: sees only what was pushed meanwhile
      q.push(4);
    });
    expect(seen).toEqual([[1, 2], [3]]);
    expect(q.length).toBe(1);
    q.drain((items) => seen.push([...items]));
    expect(seen.at(-1)).toEqual([4]);
    expect(q.length).toBe(0);
  });

  it('a throwing consumer still empties the queue', () => {
    const q = new SwapQueue<string>();
    q.push('x');
    expect(() =>
      q.drain(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(q.length).toBe(0);
    q.push('y');
    const got: string[] = [];
    q.drain((items) => got.push(...items));
    expect(got).toEqual(['y']);
  });
});
