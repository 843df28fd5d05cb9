/**
 * AgentServerApi over the agent's mTLS connection to a real spire-server:
 * SyncAuthorizedEntries in its single-response and paged forms (more entries
 * than the server's page size of 500, then an incremental sync that fetches
 * only changed entries), BatchNewX509SVID, NewJWTSVID and bundles.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCSR, decodeJwtUnverified, validateX509Svid } from '@spire-ts/common';
import type { NodeIdentity } from '../src/node/identity.js';
import type { AgentEntry } from '../src/node/server-api.js';
import { bundleFile, identity, joinToken, startServer, tempDir, TD, unary, type Harness } from './node-fixtures.js';

let h: Harness;
let agent: NodeIdentity;
let parentPath: string;
const dataDir = tempDir();

beforeAll(async () => {
  h = await startServer();
  agent = identity(h, { dataDir, joinToken: await joinToken(h), trustBundle: { kind: 'path', path: await bundleFile(h, dataDir), format: 'pem' } });
  await agent.start();
  parentPath = new URL(agent.svid.spiffeId).pathname;
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await h?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function createEntries(specs: { path: string; uid: number; extra?: Record<string, unknown> }[]): Promise<string[]> {
  const c = h.local('spire.api.server.entry.v1.Entry');
  const ids: string[] = [];
  for (let i = 0; i < specs.length; i += 100) {
    const res = await unary(c.BatchCreateEntry.bind(c), {
      entries: specs.slice(i, i + 100).map((s) => ({
        spiffe_id: { trust_domain: TD, path: s.path },
        parent_id: { trust_domain: TD, path: parentPath },
        selectors: [{ type: 'unix', value: `uid:${s.uid}` }],
        ...s.extra,
      })),
    });
    for (const r of res.results) {
      expect(r.status?.code, r.status?.message).toBe(0);
      ids.push(r.entry!.id);
    }
  }
  return ids;
}

/** Waits until a sync returns `n` entries (the server's entry cache refreshes asynchronously). */
async function syncUntil(n: number, known?: ReadonlyMap<string, AgentEntry>): Promise<readonly AgentEntry[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const got = await agent.api.syncAuthorizedEntries(known);
    if (got.length === n) return got;
    if (Date.now() > deadline) throw new Error(`sync returned ${got.length} entries, expected ${n}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('AgentServerApi', () => {
  let first: readonly AgentEntry[];
  let webId: string;

  it('syncs a few entries in one response, with the fields of the agent output mask', async () => {
    [webId] = await createEntries([
      { path: '/web', uid: 1000, extra: { admin: true, hint: 'web', store_svid: false, dns_names: ['web.example.org'] } },
      { path: '/db', uid: 1001, extra: { downstream: true } },
    ]);
    first = await syncUntil(2);
    const web = first.find((e) => e.id === webId)!;
    expect(web).toMatchObject({
      spiffeId: `spiffe://${TD}/web`,
      selectors: [{ type: 'unix', value: 'uid:1000' }],
      admin: true,
      downstream: false,
      hint: 'web',
      federatesWith: [],
      disableX509SvidPrefetch: false,
    });
    expect(web.createdAt).toBeGreaterThan(0);
    expect(first.find((e) => e.spiffeId.endsWith('/db'))?.downstream).toBe(true);
  });

  it('syncs more entries than a page through revisions, then fetches only new or changed ones', async () => {
    await createEntries(Array.from({ length: 510 }, (_, i) => ({ path: `/bulk/${i}`, uid: 2000 + i })));
    const all = await syncUntil(512, new Map(first.map((e) => [e.id, e])));
    // Known, unchanged entries are reused as they were (never transferred again).
    expect(all.find((e) => e.id === webId)).toBe(first.find((e) => e.id === webId));
    expect(new Set(all.map((e) => e.id)).size).toBe(512);

    const known = new Map(all.map((e) => [e.id, e]));
    const c = h.local('spire.api.server.entry.v1.Entry');
    const bulk = all.find((e) => e.spiffeId === `spiffe://${TD}/bulk/7`)!;
    const upd = await unary(c.BatchUpdateEntry.bind(c), { entries: [{ id: bulk.id, hint: 'changed' }], input_mask: { hint: true } });
    expect(upd.results[0]?.status?.code, upd.results[0]?.status?.message).toBe(0);
    const del = all.find((e) => e.spiffeId === `spiffe://${TD}/bulk/8`)!;
    await unary(c.BatchDeleteEntry.bind(c), { ids: [del.id] });
    const deadline = Date.now() + 15_000;
    let next: readonly AgentEntry[];
    for (;;) {
      next = await agent.api.syncAuthorizedEntries(known);
      if (next.length === 511 && next.find((e) => e.id === bulk.id)?.hint === 'changed') break;
      if (Date.now() > deadline) throw new Error('the update and delete never reached the agent');
      await new Promise((r) => setTimeout(r, 200));
    }
    const changed = next.find((e) => e.id === bulk.id)!;
    expect(changed).not.toBe(bulk);
    expect(changed.revisionNumber).toBeGreaterThan(bulk.revisionNumber);
    expect(next.some((e) => e.id === del.id)).toBe(false);
    const other = all.find((e) => e.spiffeId === `spiffe://${TD}/bulk/9`)!;
    expect(next.find((e) => e.id === other.id)).toBe(other);

    // Nothing changed since: the revision pages are the last sync's byte for byte, so the
    // answer is the last sync's entries, as they were, whatever the caller says it holds.
    const again = await agent.api.syncAuthorizedEntries(new Map());
    expect(again).toHaveLength(511);
    expect(again.every((e, i) => e === next[i])).toBe(true);
    // A change makes the pages differ: decoded and fetched again.
    const upd2 = await unary(c.BatchUpdateEntry.bind(c), { entries: [{ id: other.id, hint: 'changed too' }], input_mask: { hint: true } });
    expect(upd2.results[0]?.status?.code, upd2.results[0]?.status?.message).toBe(0);
    const deadline2 = Date.now() + 15_000;
    let third: readonly AgentEntry[];
    for (;;) {
      third = await agent.api.syncAuthorizedEntries(new Map(next.map((e) => [e.id, e])));
      if (third.find((e) => e.id === other.id)?.hint === 'changed too') break;
      if (Date.now() > deadline2) throw new Error('the second update never reached the agent');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(third).toHaveLength(511);
    expect(third.find((e) => e.id === bulk.id)).toBe(changed);
  }, 60_000);

  it('signs X.509-SVIDs for its entries (per-entry errors for others) and JWT-SVIDs', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const csr = buildCSR(privateKey);
    const res = await agent.api.batchNewX509Svid([{ entryId: webId, csr }, { entryId: 'no-such-entry', csr }]);
    expect(res).toHaveLength(2);
    const ok = res[0]!;
    if (!ok.ok) throw new Error(`expected an SVID: ${ok.message}`);
    const [leaf, ...rest] = ok.certChain;
    expect(validateX509Svid(leaf!, rest, agent.bundle.x509Authorities, new Date()).spiffeId).toBe(`spiffe://${TD}/web`);
    expect(new X509Certificate(leaf!).subjectAltName).toContain('DNS:web.example.org');
    expect(ok.expiresAt * 1000).toBe(Date.parse(new X509Certificate(leaf!).validTo));
    expect(res[1]).toMatchObject({ ok: false, entryId: 'no-such-entry' });
    expect((res[1] as { code: number }).code).not.toBe(0);

    const jwt = await agent.api.newJwtSvid(webId, ['db', 'cache']);
    const decoded = decodeJwtUnverified(jwt.token);
    expect(decoded.claims.sub).toBe(`spiffe://${TD}/web`);
    expect(decoded.claims.aud).toEqual(['db', 'cache']);
    expect(jwt.expiresAt).toBeGreaterThan(jwt.issuedAt);
    await expect(agent.api.newJwtSvid('no-such-entry', ['db'])).rejects.toMatchObject({ code: expect.any(Number) });
  });

  it('gets its bundle (with JWT keys) and no bundle for an unknown trust domain', async () => {
    const b = await agent.api.getBundle();
    expect(b.trustDomain).toBe(TD);
    expect(b.x509Authorities.length).toBeGreaterThan(0);
    expect(b.jwtAuthorities.length).toBeGreaterThan(0);
    expect(await agent.api.getFederatedBundle('unknown.example')).toBeUndefined();
  });
});
