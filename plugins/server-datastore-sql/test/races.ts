// Races between several servers sharing one database, for the dialects with concurrent writers.
import { expect } from 'vitest';
import { fakeCert } from '@spire-ts/conformance/datastore';
import { openSqlDataStore, type SqlConfig } from '../src/index.js';
import { quietLogger } from './databases.js';

/**
 * Four servers publish the first bundle of a trust domain at once
 * (AppendBundle, then SetBundle): a locking read of a row that does not exist
 * yet locks nothing, so all but one lose the insert and must retry as updates.
 */
export async function firstBundleRace(config: () => Promise<SqlConfig>): Promise<void> {
  const cfg = await config();
  const stores = await Promise.all([1, 2, 3, 4].map(() => openSqlDataStore(cfg, { logger: quietLogger() })));
  try {
    const der = (n: number) => fakeCert({ notAfter: 4_000_000_000, ski: `0${n}`.padStart(40, 'a') });
    const appended = await Promise.all(stores.map((s, i) => s.appendBundle({ trustDomain: 'spiffe://race.test', x509Authorities: [{ asn1: der(i), tainted: false }], jwtAuthorities: [] })));
    expect(appended).toHaveLength(4);
    expect((await stores[0]!.fetchBundle('spiffe://race.test'))?.x509Authorities).toHaveLength(4);
    await Promise.all(stores.map((s, i) => s.setBundle({ trustDomain: 'spiffe://set-race.test', x509Authorities: [{ asn1: der(i), tainted: false }], jwtAuthorities: [] })));
    expect((await stores[1]!.fetchBundle('spiffe://set-race.test'))?.x509Authorities).toHaveLength(1);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
}
