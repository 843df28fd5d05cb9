/**
 * What a starting process has started, to stop in reverse order: on a
 * failed start, and on shutdown. A stop that fails is logged and the rest
 * still run.
 *
 * @module
 */

import type { Logger } from '../log/logger.js';

/** Stops one thing. */
export type StopFn = () => Promise<void> | void;

/**
 * A last-in-first-out list of stops.
 *
 * @example
 * ```ts
 * const stops = new StopStack();
 * await api.start(); stops.push(() => api.close());
 * await stops.stopAll(log); // closes the api, then anything pushed before it
 * ```
 */
export class StopStack {
  private stops: StopFn[] = [];

  /** Adds a stop, run before every stop pushed earlier. */
  push(stop: StopFn): void {
    this.stops.push(stop);
  }

  /** Runs and forgets every stop, newest first; failures are logged as warnings. */
  async stopAll(log: Logger): Promise<void> {
    const stops = this.stops.reverse();
    this.stops = [];
    for (const stop of stops) {
      try {
        await stop();
      } catch (err) {
        log.warn('Error while stopping', { error: (err as Error).message });
      }
    }
  }
}
