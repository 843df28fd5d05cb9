/**
 * The open streams of one HTTP/2 connection, by stream id, without a
 * hash-table rebuild per stream.
 *
 * A connection lives for minutes or days, so V8 soon moves it, and any `Map`
 * it owns, to its old generation. A `Map` whose entries come and go one
 * stream at a time rebuilds its table every few insertions and deletions (it
 * appends; deleted slots are reclaimed only by a rebuild). The rebuilt table
 * of an old `Map` is itself allocated in the old generation, and the table it
 * replaces stays there, still pointing at the entries it held, until a full
 * collection. So every short-lived stream that happened to be in a replaced
 * table, and everything it references (the call, its headers, its handler's
 * closures), survives the young-generation collections and is promoted. At a
 * thousand calls a second that was most of the Workload API's garbage, and a
 * full mark-compact every one or two seconds, which was the tail of its
 * latency.
 *
 * Stream ids of one side of a connection increase by two per stream, so slot
 * `(id >>> 1) % size` of a fixed array holds each new stream until `size`
 * newer ones have opened: assigning and clearing a slot allocates nothing.
 * A stream still open when its slot comes round again (a long-lived watch
 * among many short calls) moves the newcomer to a small overflow `Map`,
 * which only such collisions touch.
 */
export class StreamTable<T extends { readonly id: number }> {
  readonly #slots: Array<T | undefined>;
  readonly #mask: number;
  #overflow: Map<number, T> | undefined;
  #size = 0;

  /** `slots` is rounded up to a power of two. */
  constructor(slots = 256) {
    let n = 1;
    while (n < slots) n *= 2;
    this.#slots = new Array<T | undefined>(n).fill(undefined);
    this.#mask = n - 1;
  }

  get size(): number {
    return this.#size;
  }

  get(id: number): T | undefined {
    const s = this.#slots[(id >>> 1) & this.#mask];
    if (s !== undefined && s.id === id) return s;
    return this.#overflow?.get(id);
  }

  /** Adds `value` under `value.id`, which must not be in the table. */
  add(value: T): void {
    const i = (value.id >>> 1) & this.#mask;
    if (this.#slots[i] === undefined) this.#slots[i] = value;
    else (this.#overflow ??= new Map()).set(value.id, value);
    this.#size++;
  }

  /** Removes `value` if it is the table's entry for its id; returns whether it was. */
  delete(value: T): boolean {
    const i = (value.id >>> 1) & this.#mask;
    if (this.#slots[i] === value) {
      this.#slots[i] = undefined;
    } else if (this.#overflow?.get(value.id) === value) {
      this.#overflow.delete(value.id);
      if (this.#overflow.size === 0) this.#overflow = undefined;
    } else {
      return false;
    }
    this.#size--;
    return true;
  }

  /** A snapshot of the entries (safe to delete from while walking it). */
  values(): T[] {
    const out: T[] = [];
    if (this.#size === 0) return out;
    const inSlots = this.#size - (this.#overflow?.size ?? 0);
    for (let i = 0; out.length < inSlots; i++) {
      const s = this.#slots[i];
      if (s !== undefined) out.push(s);
    }
    if (this.#overflow) for (const s of this.#overflow.values()) out.push(s);
    return out;
  }

  clear(): void {
    if (this.#size === 0) return;
    this.#slots.fill(undefined);
    this.#overflow = undefined;
    this.#size = 0;
  }
}
