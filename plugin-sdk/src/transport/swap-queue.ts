/**
 * A queue drained in batches, for objects that live as long as a connection
 * or a server: two arrays kept for the owner's life, emptied in place, never
 * replaced. The owner is soon in V8's old generation; an old array dropped
 * while it still pointed at a call's objects would keep them (and what they
 * reference) from dying young, until a full collection.
 */
export class SwapQueue<T> {
  #items: T[] = [];
  /** The other array; undefined while a drain uses it. */
  #spare: T[] | undefined = [];

  get length(): number {
    return this.#items.length;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /**
   * Hands everything queued so far to `use` (which must not keep the array),
   * then empties it; items pushed meanwhile wait for the next drain. Nothing
   * queued: `use` is not called.
   */
  drain(use: (items: readonly T[]) => void): void {
    const items = this.#items;
    if (items.length === 0) return;
    this.#items = this.#spare ?? [];
    this.#spare = undefined;
    try {
      use(items);
    } finally {
      items.length = 0;
      this.#spare = items;
    }
  }
}
