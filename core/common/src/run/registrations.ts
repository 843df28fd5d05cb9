/**
 * A set of registrations that come and go one call at a time (listeners of a
 * long-lived object, open streams to end at shutdown), kept as a doubly
 * linked list instead of a `Set`.
 *
 * The owner lives long, so V8 keeps it, and a `Set` it owns, in the old
 * generation. A `Set` with steady additions and deletions rebuilds its table
 * every few operations; for an old `Set` the new table is allocated in the
 * old generation, and each replaced table lingers there, still pointing at
 * the registrations it held, until a full collection. Every registration
 * caught in one (and all it references: a call, its handler, its response)
 * is then promoted instead of dying young, and the old generation fills at
 * the call rate. Linking and unlinking allocates nothing, and an unlinked
 * node points at nothing, so a registration lives exactly as long as it is
 * registered.
 */
interface Link<T> {
  value: T | undefined;
  prev: Link<T> | undefined;
  next: Link<T> | undefined;
}

export class Registrations<T> {
  readonly #head: Link<T>;
  #size = 0;

  constructor() {
    const head: Link<T> = { value: undefined, prev: undefined, next: undefined };
    head.prev = head;
    head.next = head;
    this.#head = head;
  }

  get size(): number {
    return this.#size;
  }

  /** Registers `value` (the same value may be registered twice); returns its unregistration, which is idempotent. */
  add(value: T): () => void {
    const head = this.#head;
    const link: Link<T> = { value, prev: head.prev, next: head };
    head.prev!.next = link;
    head.prev = link;
    this.#size++;
    return () => this.#unlink(link);
  }

  /** The registered values, oldest first, as a snapshot (safe to unregister from while walking it). */
  values(): T[] {
    const out: T[] = [];
    for (let l = this.#head.next!; l !== this.#head; l = l.next!) out.push(l.value as T);
    return out;
  }

  /**
   * Calls `fn` with each value registered now, oldest first. `fn` may
   * register and unregister: values registered meanwhile wait for the next
   * walk, and values unregistered meanwhile are skipped.
   */
  forEach(fn: (value: T) => void): void {
    const links: Link<T>[] = [];
    for (let l = this.#head.next!; l !== this.#head; l = l.next!) links.push(l);
    for (const l of links) if (l.prev !== undefined) fn(l.value as T);
  }

  #unlink(link: Link<T>): void {
    const { prev, next } = link;
    if (prev === undefined || next === undefined) return;
    prev.next = next;
    next.prev = prev;
    link.prev = undefined;
    link.next = undefined;
    link.value = undefined;
    this.#size--;
  }
}
