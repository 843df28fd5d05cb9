/**
 * The DataStore contract: one suite, parameterised by a factory, that every
 * DataStore implementation must pass — the SQL library in-process on each
 * dialect, and any DataStore plugin over the wire ({@link WireDataStore},
 * `spire-conformance --plugin server:DataStore:<name>`). Errors are checked
 * by gRPC code only, so the suite does not depend on any error class.
 */
import { afterEach, beforeEach, describe } from 'vitest';
import type { DataStore } from '@spire-ts/server-datastore-sql/wire';
import { bundleTests } from './bundles.js';
import { concurrencyTests } from './concurrency.js';
import { entryTests } from './entries.js';
import { filterTests } from './filters.js';
import { miscTests } from './misc.js';
import { nodeTests } from './nodes.js';
import { FakeClock } from './fixtures.js';

export interface StoreFactory {
  /** Opens a DataStore on an empty database. */
  fresh(opts: { now: () => number }): Promise<DataStore>;
  /** Opens another DataStore on the same database as the latest fresh() one (a second server). */
  another(opts: { now: () => number }): Promise<DataStore>;
  /**
   * A DataStore whose database cannot be reached; errors must name `host`.
   * Absent when the factory cannot make one (that case is then skipped).
   */
  unreachable?(): { open: () => Promise<DataStore>; host: string };
}

/** What each group of contract tests works with. */
export class Harness {
  clock = new FakeClock();
  private store: DataStore | undefined;
  private readonly opened: DataStore[] = [];

  constructor(readonly factory: StoreFactory) {}

  get ds(): DataStore {
    if (!this.store) throw new Error('no store: the contract harness opens one per test');
    return this.store;
  }

  async open(): Promise<void> {
    this.clock = new FakeClock();
    this.store = await this.factory.fresh({ now: this.clock.now });
    this.opened.push(this.store);
  }

  async another(): Promise<DataStore> {
    const ds = await this.factory.another({ now: this.clock.now });
    this.opened.push(ds);
    return ds;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.opened.splice(0).map((ds) => ds.close().catch(() => undefined)));
    this.store = undefined;
  }
}

/**
 * Registers the contract as vitest suites: a fresh store before each test,
 * every store closed after it.
 *
 * @example
 * ```ts
 * datastoreContract('sqlite3', { fresh: ({ now }) => open(newPath(), now), another: ({ now }) => open(current, now) });
 * ```
 */
export function datastoreContract(name: string, factory: StoreFactory): void {
  describe(`DataStore contract: ${name}`, () => {
    const h = new Harness(factory);
    beforeEach(() => h.open());
    afterEach(() => h.closeAll());
    entryTests(h);
    filterTests(h);
    nodeTests(h);
    bundleTests(h);
    miscTests(h);
    concurrencyTests(h);
  });
}
