/** What every repository function gets: the database, the clock and the logger. */
import type { Database } from './dialect/types.js';
import type { Logger } from './logger.js';

export interface Ctx {
  db: Database;
  /** Unix seconds. */
  now: () => number;
  log: Logger;
}
