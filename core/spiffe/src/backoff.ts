/** Exponential backoff for reconnecting to the Workload API. */

/** Reconnect timing. */
export interface BackoffOptions {
  /** First delay (default 1000 ms). */
  initialMs?: number;
  /** Largest delay (default 30000 ms). */
  maxMs?: number;
}

/** Doubling delays from `initialMs` up to `maxMs`, with ±10% jitter; `reset()` after a success. */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  #next: number;

  constructor(opts: BackoffOptions = {}) {
    this.#initial = Math.max(1, opts.initialMs ?? 1000);
    this.#max = Math.max(this.#initial, opts.maxMs ?? 30_000);
    this.#next = this.#initial;
  }

  /** The delay before the next attempt. */
  next(): number {
    const d = this.#next;
    this.#next = Math.min(this.#max, this.#next * 2);
    return Math.round(d * (0.9 + Math.random() * 0.2));
  }

  reset(): void {
    this.#next = this.#initial;
  }
}
