/**
 * The DataStore contract: one suite, parameterised by a factory, that every
 * DataStore implementation must pass (SQLite, PostgreSQL, MySQL here; later,
 * any plugin over the wire via conformance/). Errors are checked by gRPC code
 * only, so the suite does not depend on this package's error classes.
 */
import { afterEach, beforeEach, describe } from 'vitest';
import type { DataStore } from '../src/index.js';
import { bundleTests } from './contract-bundles.js';
import { concurrencyTests } from './contract-concurrency.js';
import { entryTests } from './contract-entries.js';
import { filterTests } from './contract-filters.js';
import { miscTests } from './contract-misc.js';
import { nodeTests } from './contract-nodes.js';
import { FakeClock } from './fixtures.js';

export interface StoreFactory {
  /** Opens a DataStore on an empty database. */
  fresh(opts: { now: () => number }): Promise<DataStore>;
  /** Opens another DataStore on the same database as the latest fresh() one (a second server). */
  another(opts: { now: () => number }): Promise<DataStore>;
  /** A DataStore whose database cannot be reached; errors must name `host`. */
  unreachable(): { open: () => Promise<DataStore>; host: string };
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
