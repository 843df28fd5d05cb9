/**
 * The start of every X.509 identity stream (Workload API FetchX509SVID, SDS
 * StreamSecrets, Delegated Identity SubscribeToX509SVIDs): subscribe to the caller's cache updates, then send
 * the first snapshot — unless entries match the caller but none of their
 * SVIDs is cached yet (no prefetch, evicted, minting right now). Then, as
 * SPIRE's cache does, the stream waits for the SVIDs: empty updates are held
 * back until one carries identities, or until the wait ends and whatever the
 * cache has is sent.
 */
import type { Selector, WorkloadCache, WorkloadUpdate } from './cache.js';

type Source = Pick<WorkloadCache, 'subscribe' | 'fetchWorkloadUpdate' | 'matchingEntries'>;

/**
 * @example
 * ```ts
 * const sub = new SvidWaitingSubscription(cache, selectors, push, 30_000);
 * onEnd(() => sub.stop());
 * sub.start(() => log.debug('Waiting for SVID to get cached'));
 * ```
 */
export class SvidWaitingSubscription {
  readonly #source: Source;
  readonly #selectors: readonly Selector[];
  readonly #deliver: (update: WorkloadUpdate) => void;
  readonly #waitMs: number;
  readonly #unsubscribe: () => void;
  #waiting = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  /** Subscribes at once (so no change between now and {@link start} is missed); delivers nothing before {@link start}'s snapshot is due. */
  constructor(source: Source, selectors: readonly Selector[], deliver: (update: WorkloadUpdate) => void, waitMs: number) {
    this.#source = source;
    this.#selectors = selectors;
    this.#deliver = deliver;
    this.#waitMs = waitMs;
    this.#unsubscribe = source.subscribe(selectors, (update) => this.#onUpdate(update));
  }

  /** Sends the first snapshot now, or starts waiting for the SVIDs of matching entries (`onWait` says so). */
  start(onWait?: () => void): void {
    if (this.#stopped) return;
    const first = this.#source.fetchWorkloadUpdate(this.#selectors);
    if (first.identities.length > 0 || this.#source.matchingEntries(this.#selectors).length === 0) {
      this.#deliver(first);
      return;
    }
    this.#waiting = true;
    onWait?.();
    this.#timer = setTimeout(() => {
      this.#waiting = false;
      if (!this.#stopped) this.#deliver(this.#source.fetchWorkloadUpdate(this.#selectors));
    }, this.#waitMs);
    this.#timer.unref();
  }

  /** Unsubscribes and ends any wait; nothing is delivered afterwards. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#unsubscribe();
  }

  #onUpdate(update: WorkloadUpdate): void {
    if (this.#stopped) return;
    if (this.#waiting) {
      if (update.identities.length === 0) return;
      this.#waiting = false;
      clearTimeout(this.#timer);
    }
    this.#deliver(update);
  }
}
