/**
 * The sync loop's retry schedule: SPIRE's exponential backoff (cenkalti
 * style: multiplier 1.5, ±10 % jitter) starting at the sync interval and
 * capped at a maximum interval.
 */

/** SPIRE's backoff multiplier. */
export const BACKOFF_MULTIPLIER = 1.5;
/** SPIRE's randomization factor: each delay is the nominal one ±10 %. */
export const BACKOFF_JITTER = 0.1;

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
  /** Default {@link BACKOFF_MULTIPLIER}. */
  multiplier?: number;
  /** Default {@link BACKOFF_JITTER}. */
  jitter?: number;
}

/**
 * @example
 * ```ts
 * const b = new Backoff({ initialMs: 5000, maxMs: 25_000 });
 * b.next(); // ~5000 (±10 %), then ~7500, ~11250, ... up to ~25000
 * b.reset();
 * ```
 */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #random: () => number;
  readonly #multiplier: number;
  readonly #jitter: number;
  #current: number;

  constructor(o: BackoffOptions) {
    if (!Number.isFinite(o.initialMs) || o.initialMs <= 0) throw new RangeError(`backoff initial interval must be positive, got ${o.initialMs}`);
    if (!Number.isFinite(o.maxMs) || o.maxMs < o.initialMs) throw new RangeError(`backoff max interval must be at least the initial one (${o.initialMs}), got ${o.maxMs}`);
    this.#initial = o.initialMs;
    this.#max = o.maxMs;
    this.#random = o.random ?? Math.random;
    this.#multiplier = o.multiplier ?? BACKOFF_MULTIPLIER;
    this.#jitter = o.jitter ?? BACKOFF_JITTER;
    this.#current = this.#initial;
  }

  /** The nominal (un-jittered) interval the next call is based on. */
  get currentMs(): number {
    return this.#current;
  }

  /** The next delay: the current interval jittered; the interval then grows (up to the cap). */
  next(): number {
    const base = this.#current;
    const r = Math.min(Math.max(this.#random(), 0), 1);
    const delay = base * (1 - this.#jitter + 2 * this.#jitter * r);
    this.#current = Math.min(base * this.#multiplier, this.#max);
    return Math.round(delay);
  }

  reset(): void {
    this.#current = this.#initial;
  }
}
