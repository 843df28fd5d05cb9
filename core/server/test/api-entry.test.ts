// The Entry API service over a real SQL DataStore plugin (SQLite) and a real
// memory KeyManager + CA manager: handlers called directly with a caller set
// on a stand-in call, and round trips over a LeanGrpcServer on a Unix socket
// with a grpc-js client (SyncAuthorizedEntries paging included).
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nullLogger } from '@spire-ts/common';
import { LeanGrpcServer, Status, addService } from '@spire-ts/plugin-sdk';
import { createClient, type apiTypes, type serverApiEntryV1 } from '@spire-ts/proto';
import type { DataStoreV1 } from '../src/index.js';
import { setCaller, type Caller } from '../src/api/caller.js';
import type { ApiDeps } from '../src/api/deps.js';
import { createEntryCache, type EntryCache } from '../src/entrycache/index.js';
import { entryService, syncAuthorizedEntries } from '../src/api/entry.js';
import { caCert } from './plugins.js';
import { TD, id, r, sel, startApiEnv, type ApiEnv } from './api-env.js';

const AGENT = 'spiffe://example.org/spire/agent/test/node1';
const OTHER_AGENT = 'spiffe://example.org/spire/agent/test/node2';

let env: ApiEnv;
let ds: DataStoreV1;
let index: EntryCache;
let deps: ApiDeps;

beforeAll(async () => {
  env = await startApiEnv(
    'api-entry',
    // The real entry cache; the service refreshes it after each write.
    async (store, clock) => (index = await createEntryCache({ ds: store, clock, log: nullLogger, trustDomain: TD, pollIntervalMs: 60_000 })),
    async (store) => {
      for (const td of ['fed1.org', 'fed2.org']) {
        await store.createBundle({ trustDomain: td, x509Authorities: [await caCert(td)], jwtAuthorities: [], refreshHint: 0, sequenceNumber: 0 });
      }
    },
  );
  ({ ds, deps } = env);
}, 60_000);
afterAll(() => env?.close());

const callAs = (caller: Caller): object => {
  const call = {};
  setCaller(call, caller);
  return call;
};
const local = (): never => callAs({ kind: 'local' }) as never;
const agentCall = (spiffeId: string): never =>
  callAs({ kind: 'x509', address: 'ipv4:127.0.0.1:1', spiffeId, serialNumber: '1', notAfter: 0, chain: [] }) as never;

function svc() {
  return entryService(deps);
}

async function create(entries: apiTypes.Entry[], mask?: apiTypes.EntryMask) {
  const res = await svc().BatchCreateEntry!(r({ entries: entries as never, output_mask: (mask ?? null) as never }), local());
  return res.results ?? [];
}

const workload = (path: string, extra: Partial<apiTypes.Entry> = {}): apiTypes.Entry => ({
  spiffe_id: id(path), parent_id: { trust_domain: TD, path: '/spire/agent/test/node1' }, selectors: [sel('unix', 'uid:1000')], ...extra,
});

describe('Entry API: BatchCreateEntry', () => {
  it('creates entries, fills in ids, revision and creation time, applies the output mask', async () => {
    const [a, b] = await create([
      workload('/create/a', { dns_names: ['a.example.org', '*.svc.example.org'], federates_with: ['fed1.org'], hint: 'h', x509_svid_ttl: 60 }),
      workload('/create/b', { id: 'custom-id_1.b' }),
    ]);
    expect(a?.status).toEqual({ code: 0, message: 'OK' });
    expect(a?.entry).toMatchObject({
      spiffe_id: id('/create/a'), parent_id: { trust_domain: TD, path: '/spire/agent/test/node1' }, selectors: [sel('unix', 'uid:1000')],
      dns_names: ['a.example.org', '*.svc.example.org'], federates_with: ['fed1.org'], hint: 'h', x509_svid_ttl: 60, revision_number: 0,
    });
    expect(a?.entry?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(a?.entry?.created_at)).toBeGreaterThan(1_700_000_000);
    expect(b?.entry?.id).toBe('custom-id_1.b');

    const [masked] = await create([workload('/create/c')], { spiffe_id: true });
    expect(masked?.entry).toMatchObject({ spiffe_id: id('/create/c'), parent_id: null, selectors: [], created_at: 0 });
    expect(masked?.entry?.id).not.toBe('');
  });

  it('answers ALREADY_EXISTS with the existing entry for a similar one, and does not store it', async () => {
    const [first] = await create([workload('/similar', { selectors: [sel('unix', 'uid:1'), sel('unix', 'gid:2')] })]);
    const before = (await svc().CountEntries!(r({}), local())).count;
    const [again] = await create([workload('/similar', { selectors: [sel('unix', 'gid:2'), sel('unix', 'uid:1')], hint: 'different' })]);
    expect(again?.status).toEqual({ code: Status.ALREADY_EXISTS, message: 'similar entry already exists' });
    expect(again?.entry?.id).toBe(first?.entry?.id);
    expect(again?.entry?.hint).toBe('');
    expect((await svc().CountEntries!(r({}), local())).count).toBe(before);
    // A different selector set is not similar.
    const [other] = await create([workload('/similar', { selectors: [sel('unix', 'uid:1')] })]);
    expect(other?.status?.code).toBe(0);
  });

  it('rejects invalid entries per item with INVALID_ARGUMENT, storing none of them', async () => {
    const before = (await svc().CountEntries!(r({}), local())).count;
    const cases: [apiTypes.Entry, RegExp][] = [
      [{ ...workload('/x'), spiffe_id: null }, /^failed to convert entry: invalid spiffe ID: request must specify SPIFFE ID$/],
      [{ ...workload('/x'), spiffe_id: id('/spire/x') }, /invalid spiffe ID: .*reserved namespace/],
      [{ ...workload('/x'), spiffe_id: id('/x', 'other.org') }, /invalid spiffe ID: "spiffe:\/\/other.org\/x" is not a member of trust domain "example.org"/],
      [{ ...workload('/x'), spiffe_id: id('/x/../y') }, /invalid spiffe ID/],
      [{ ...workload('/x'), parent_id: id('') }, /invalid parent ID: .*path is empty/],
      [{ ...workload('/x'), parent_id: null }, /invalid parent ID: request must specify SPIFFE ID/],
      [{ ...workload('/x'), selectors: [] }, /selector list is empty/],
      [{ ...workload('/x'), selectors: [sel('unix', '')] }, /missing selector value/],
      [{ ...workload('/x'), selectors: [sel('', 'v')] }, /missing selector type/],
      [{ ...workload('/x'), selectors: [sel('a:b', 'v')] }, /selector type contains ':'/],
      [workload('/x', { x509_svid_ttl: -1 }), /X509SvidTtl is not set/],
      [workload('/x', { jwt_svid_ttl: -5 }), /JwtSvidTtl is not set/],
      [workload('/x', { dns_names: ['bad name'] }), /invalid DNS name/],
      [workload('/x', { dns_names: ['a.*.example.org'] }), /invalid DNS name: wildcard must be first label/],
      [workload('/x', { dns_names: ['example.org.'] }), /invalid DNS name: domain ends with dot/],
      [workload('/x', { federates_with: ['spiffe://fed1.org/path'] }), /invalid federated trust domain/],
      [workload('/x', { federates_with: ['Bad TD'] }), /invalid federated trust domain/],
      [workload('/x', { id: 'bad id!' }), /entry ID contains invalid characters/],
      [workload('/x', { id: 'a'.repeat(256) }), /entry ID too long/],
      [workload('/x', { hint: 'h'.repeat(1025) }), /hint is too long, max length is 1024 characters/],
      [workload('/x', { store_svid: true, selectors: [sel('unix', 'uid:1'), sel('k8s', 'ns:a')] }), /selector types must be the same/],
    ];
    const results = await create(cases.map(([e]) => e));
    expect(results).toHaveLength(cases.length);
    results.forEach((res, i) => {
      expect(res.status?.code, `case ${i}`).toBe(Status.INVALID_ARGUMENT);
      expect(res.status?.message, `case ${i}`).toMatch(cases[i]?.[1] as RegExp);
      expect(res.entry ?? null).toBeNull();
    });
    expect((await svc().CountEntries!(r({}), local())).count).toBe(before);
  });

  it('reports a federated trust domain without a bundle and a duplicate custom id with the DataStore code', async () => {
    const [noBundle, dup1] = await create([workload('/nofed', { federates_with: ['unknown.org'] }), workload('/dup1', { id: 'dup-id' })]);
    expect(noBundle?.status?.code).not.toBe(0);
    expect(noBundle?.status?.message).toMatch(/^failed to create entry: /);
    expect(dup1?.status?.code).toBe(0);
    const [dup2] = await create([workload('/dup2', { id: 'dup-id' })]);
    expect(dup2?.status?.code).toBe(Status.ALREADY_EXISTS);
    expect(dup2?.status?.message).toMatch(/^failed to create entry: /);
  });
});

describe('Entry API: GetEntry, ListEntries, CountEntries', () => {
  let ids: Record<string, string> = {};
  beforeAll(async () => {
    const res = await create([
      workload('/list/one', { selectors: [sel('k8s', 'ns:a'), sel('k8s', 'sa:x')], federates_with: ['fed1.org'], hint: 'blue' }),
      workload('/list/two', { selectors: [sel('k8s', 'ns:a')], federates_with: ['fed1.org', 'fed2.org'], downstream: true }),
      workload('/list/three', { selectors: [sel('k8s', 'ns:b')], parent_id: { trust_domain: TD, path: '/spire/agent/test/node2' }, hint: 'blue' }),
    ]);
    ids = Object.fromEntries(res.map((x) => [x.entry?.spiffe_id?.path ?? '', x.entry?.id ?? '']));
  });

  const list = async (filter: object, extra: object = {}) =>
    (await svc().ListEntries!(r({ filter: filter as never, ...extra }), local())).entries?.map((e) => e.spiffe_id?.path).sort() ?? [];
  const count = async (filter: object) => (await svc().CountEntries!(r({ filter: filter as never }), local())).count;

  it('GetEntry: by id with a mask; missing id and unknown id', async () => {
    const e = await svc().GetEntry!(r({ id: ids['/list/one'], output_mask: { hint: true } as never }), local());
    expect(e).toMatchObject({ id: ids['/list/one'], hint: 'blue', spiffe_id: null, selectors: [], federates_with: [] });
    await expect(svc().GetEntry!(r({ id: '' }), local())).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, message: 'missing ID' });
    await expect(svc().GetEntry!(r({ id: 'nope' }), local())).rejects.toMatchObject({ code: Status.NOT_FOUND, message: 'entry not found' });
  });

  it('filters by SPIFFE ID, parent, selectors (each match behaviour), federates_with, hint and downstream', async () => {
    expect(await list({ by_spiffe_id: id('/list/one') })).toEqual(['/list/one']);
    expect(await list({ by_parent_id: id('/spire/agent/test/node2') })).toEqual(['/list/three']);
    const s = (match: string, ...sels: apiTypes.Selector[]) => ({ by_selectors: { selectors: sels, match } });
    expect(await list(s('MATCH_EXACT', sel('k8s', 'ns:a')))).toEqual(['/list/two']);
    expect(await list(s('MATCH_SUBSET', sel('k8s', 'ns:a'), sel('k8s', 'sa:x')))).toEqual(['/list/one', '/list/two']);
    expect(await list(s('MATCH_SUPERSET', sel('k8s', 'ns:a')))).toEqual(['/list/one', '/list/two']);
    expect(await list(s('MATCH_ANY', sel('k8s', 'sa:x'), sel('k8s', 'ns:b')))).toEqual(['/list/one', '/list/three']);
    const f = (match: string, ...tds: string[]) => ({ by_federates_with: { trust_domains: tds, match } });
    expect(await list(f('MATCH_EXACT', 'fed1.org'))).toEqual(['/create/a', '/list/one']);
    expect(await list(f('MATCH_SUPERSET', 'spiffe://fed2.org'))).toEqual(['/list/two']);
    expect(await list({ by_hint: { value: 'blue' } })).toEqual(['/list/one', '/list/three']);
    expect(await list({ by_downstream: { value: true } })).toEqual(['/list/two']);
    expect(await list({ by_hint: { value: 'blue' }, by_parent_id: id('/spire/agent/test/node1') })).toEqual(['/list/one']);
    expect(await count({ by_hint: { value: 'blue' } })).toBe(2);
    expect(await count({ by_downstream: { value: true } })).toBe(1);
    expect(await count(s('MATCH_ANY', sel('k8s', 'ns:a'), sel('k8s', 'ns:b')))).toBe(3);
  });

  it('rejects malformed filters with SPIRE\'s messages', async () => {
    const bad: [object, RegExp][] = [
      [{ by_spiffe_id: id('/spire/agent/x') }, /^malformed SPIFFE ID filter: .*reserved namespace/],
      [{ by_parent_id: id('/p', 'other.org') }, /^malformed parent ID filter: /],
      [{ by_selectors: { selectors: [], match: 'MATCH_EXACT' } }, /^malformed selectors filter: empty selector set$/],
      [{ by_selectors: { selectors: [sel('k8s', '')], match: 'MATCH_EXACT' } }, /^malformed selectors filter: missing selector value$/],
      [{ by_federates_with: { trust_domains: [], match: 'MATCH_ANY' } }, /^malformed federates with filter: empty trust domain set$/],
      [{ by_federates_with: { trust_domains: ['not a td'], match: 'MATCH_ANY' } }, /^malformed federates with filter: /],
    ];
    for (const [filter, msg] of bad) {
      await expect(svc().ListEntries!(r({ filter: filter as never }), local())).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, message: expect.stringMatching(msg) });
      await expect(svc().CountEntries!(r({ filter: filter as never }), local())).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
    }
  });

  it('pages with page_size/page_token and lists everything without a page size', async () => {
    const total = Number(await count({}));
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const res = await svc().ListEntries!(r({ page_size: 2, page_token: token, output_mask: { spiffe_id: true } as never }), local());
      expect(res.entries?.length).toBeLessThanOrEqual(2);
      for (const e of res.entries ?? []) {
        expect(e.selectors).toEqual([]);
        seen.push(e.id ?? '');
      }
      token = res.next_page_token ?? '';
      pages++;
    } while (token);
    expect(new Set(seen).size).toBe(total);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(total / 2));
    const all = await svc().ListEntries!(r({}), local());
    expect(all.entries).toHaveLength(total);
    expect(all.next_page_token).toBe('');
  });
});

describe('Entry API: BatchUpdateEntry and BatchDeleteEntry', () => {
  it('updates only the input-mask fields, bumps the revision and applies the output mask', async () => {
    const [c] = await create([workload('/upd/a', { hint: 'old', x509_svid_ttl: 100, dns_names: ['a.example.org'] })]);
    const entryId = c?.entry?.id ?? '';
    const upd = await svc().BatchUpdateEntry!(
      r({ entries: [{ id: entryId, hint: 'new', x509_svid_ttl: 5 } as never], input_mask: { hint: true } as never, output_mask: null }), local(),
    );
    expect(upd.results?.[0]?.status?.code).toBe(0);
    expect(upd.results?.[0]?.entry).toMatchObject({ id: entryId, hint: 'new', x509_svid_ttl: 100, dns_names: ['a.example.org'], revision_number: 1 });
    const upd2 = await svc().BatchUpdateEntry!(
      r({ entries: [{ ...workload('/upd/b'), id: entryId } as never], input_mask: null, output_mask: { revision_number: true } as never }), local(),
    );
    expect(upd2.results?.[0]?.entry).toMatchObject({ id: entryId, revision_number: 2, spiffe_id: null, hint: '' });
    const stored = await ds.fetchEntry(entryId);
    expect(stored).toMatchObject({ spiffeId: 'spiffe://example.org/upd/b', hint: '', x509SvidTtl: 0, dnsNames: [], revisionNumber: 2 });
  });

  it('fails per item: unknown id NOT_FOUND, invalid input INVALID_ARGUMENT, entry unchanged', async () => {
    const [c] = await create([workload('/upd/c', { hint: 'keep' })]);
    const entryId = c?.entry?.id ?? '';
    const res = await svc().BatchUpdateEntry!(r({
      entries: [
        { id: 'missing', hint: 'x' } as never,
        { id: entryId, selectors: [] } as never,
        { id: entryId, spiffe_id: id('/spire/no') } as never,
      ],
      input_mask: { hint: true, selectors: true, spiffe_id: true } as never,
    }), local());
    expect(res.results?.map((x) => x.status?.code)).toEqual([Status.INVALID_ARGUMENT, Status.INVALID_ARGUMENT, Status.INVALID_ARGUMENT]);
    const res2 = await svc().BatchUpdateEntry!(r({ entries: [{ id: 'missing', hint: 'x' } as never], input_mask: { hint: true } as never }), local());
    expect(res2.results?.[0]?.status).toEqual({ code: Status.NOT_FOUND, message: 'failed to update entry: entry not found' });
    expect(await ds.fetchEntry(entryId)).toMatchObject({ hint: 'keep', revisionNumber: 0 });
  });

  it('deletes per id: OK, NOT_FOUND, missing id', async () => {
    const [c] = await create([workload('/del/a')]);
    const entryId = c?.entry?.id ?? '';
    const res = await svc().BatchDeleteEntry!(r({ ids: [entryId, entryId, ''] }), local());
    expect(res.results).toEqual([
      { id: entryId, status: { code: 0, message: 'OK' } },
      { id: entryId, status: { code: Status.NOT_FOUND, message: 'entry not found' } },
      { id: '', status: { code: Status.INVALID_ARGUMENT, message: 'missing entry ID' } },
    ]);
    expect(await ds.fetchEntry(entryId)).toBeUndefined();
  });
});

/** A stand-in bidi call: requests pushed in, responses collected. */
class FakeDuplex extends Duplex {
  sent: serverApiEntryV1.SyncAuthorizedEntriesResponse[] = [];
  status: { code: number; details: string } | undefined;
  readonly ended: Promise<void>;
  private readonly finish: () => void;
  constructor() {
    super({ objectMode: true });
    let finish: () => void = () => undefined;
    this.ended = new Promise<void>((resolve) => (finish = resolve));
    this.finish = finish;
    this.on('error', (e: { code: number; details: string }) => {
      this.status = e;
      this.finish();
    });
  }
  override _read(): void {}
  override _write(chunk: serverApiEntryV1.SyncAuthorizedEntriesResponse, _e: BufferEncoding, cb: () => void): void {
    this.sent.push(chunk);
    cb();
  }
  override end(): this {
    this.status = { code: 0, details: '' };
    this.finish();
    return this;
  }
}

describe('Entry API: authorized entries', () => {
  beforeAll(async () => {
    await create([
      workload('/auth/w1'),
      workload('/auth/w2', { parent_id: { trust_domain: TD, path: '/auth/w1' } }),
      workload('/auth/other', { parent_id: { trust_domain: TD, path: '/spire/agent/test/node2' } }),
    ]);
    await index.refresh();
  });

  it('GetAuthorizedEntries answers the calling agent\'s entries only, masked', async () => {
    const res = await svc().GetAuthorizedEntries!(r({ output_mask: { spiffe_id: true } as never }), agentCall(OTHER_AGENT));
    expect(res.entries?.map((e) => e.spiffe_id?.path).sort()).toEqual(['/auth/other', '/list/three']);
    expect(res.entries?.map((e) => e.selectors)).toEqual([[], []]);
    const mine = await svc().GetAuthorizedEntries!(r({}), agentCall(AGENT));
    expect(mine.entries?.map((e) => e.spiffe_id?.path)).toContain('/auth/w2');
    expect(mine.entries?.map((e) => e.spiffe_id?.path)).not.toContain('/auth/other');
    await expect(svc().GetAuthorizedEntries!(r({}), local())).rejects.toMatchObject({ code: Status.INTERNAL, message: 'caller ID missing from request context' });
  });

  it('SyncAuthorizedEntries (direct): one full response when the entries fit in a page; first-request checks', async () => {
    const entries = index.authorizedEntries(OTHER_AGENT);
    const call = new FakeDuplex();
    void syncAuthorizedEntries(call, () => entries, 500);
    call.push({ output_mask: { spiffe_id: true, revision_number: true }, ids: [] });
    await call.ended;
    expect(call.status?.code).toBe(0);
    expect(call.sent).toHaveLength(1);
    expect(call.sent[0]?.more).toBe(false);
    expect(call.sent[0]?.entries?.map((e) => [e.spiffe_id?.path, e.selectors]).sort()).toEqual([['/auth/other', []], ['/list/three', []]]);

    const bad = new FakeDuplex();
    void syncAuthorizedEntries(bad, () => entries, 500);
    bad.push({ output_mask: { spiffe_id: true }, ids: [] });
    await bad.ended;
    expect(bad.status).toEqual({ code: Status.INVALID_ARGUMENT, details: 'revision number cannot be masked' });

    const withIds = new FakeDuplex();
    void syncAuthorizedEntries(withIds, () => entries, 500);
    withIds.push({ output_mask: null, ids: ['x'] });
    await withIds.ended;
    expect(withIds.status).toEqual({ code: Status.INVALID_ARGUMENT, details: 'specifying IDs on initial request is not supported' });
  });
});

describe('Entry API over a LeanGrpcServer on a Unix socket', () => {
  const server = new LeanGrpcServer();
  let client: ReturnType<typeof createClient<'spire.api.server.entry.v1.Entry'>>;
  const caller: { current: Caller } = { current: { kind: 'local' } };

  beforeAll(async () => {
    const impl = entryService(deps, { entryPageSize: 3 }) as Record<string, (...args: unknown[]) => unknown>;
    const wrapped = Object.fromEntries(Object.entries(impl).map(([name, fn]) => [name, (...args: unknown[]) => {
      setCaller((args.length === 1 ? args[0] : args[1]) as object, caller.current);
      return fn(...args);
    }]));
    addService(server, 'spire.api.server.entry.v1.Entry', wrapped);
    const socket = join(env.dir, 'api.sock');
    await server.listen(socket);
    client = createClient('spire.api.server.entry.v1.Entry', `unix:${socket}`, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });

  const unary = <Q, A>(fn: (req: Q, cb: (err: grpc.ServiceError | null, res?: A) => void) => unknown, req: Q): Promise<A> =>
    new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res as A))));

  it('creates, gets and reports errors with gRPC statuses', async () => {
    caller.current = { kind: 'local' };
    const res = await unary(client.BatchCreateEntry.bind(client), { entries: [workload('/wire/a', { admin: true })] });
    expect(res.results[0]?.status).toEqual({ code: 0, message: 'OK' });
    const got = await unary(client.GetEntry.bind(client), { id: res.results[0]?.entry?.id ?? '' });
    expect(got).toMatchObject({ admin: true, spiffe_id: id('/wire/a') });
    await expect(unary(client.GetEntry.bind(client), { id: 'nope' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: 'entry not found' });
  });

  it('SyncAuthorizedEntries pages revisions then the requested entries', async () => {
    const agent = 'spiffe://example.org/spire/agent/test/sync';
    const created = await create(Array.from({ length: 7 }, (_, i) => workload(`/sync/${i}`, { parent_id: id('/spire/agent/test/sync'), hint: `h${i}` })));
    await index.refresh();
    caller.current = { kind: 'x509', address: 'unix:', spiffeId: agent, serialNumber: '1', notAfter: 0, chain: [] };
    const stream = client.SyncAuthorizedEntries();
    const received: serverApiEntryV1.SyncAuthorizedEntriesResponse__Output[] = [];
    const waiters: (() => void)[] = [];
    stream.on('data', (m: serverApiEntryV1.SyncAuthorizedEntriesResponse__Output) => {
      received.push(m);
      waiters.shift()?.();
    });
    const status = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.on('error', () => undefined);
    const waitFor = async (n: number) => {
      while (received.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    };

    stream.write({ output_mask: { hint: true, revision_number: true } });
    await waitFor(3);
    expect(received.map((m) => [m.entry_revisions.length, m.more, m.entries.length])).toEqual([[3, true, 0], [3, true, 0], [1, false, 0]]);
    const revisions = received.flatMap((m) => m.entry_revisions);
    expect(revisions.map((x) => x.id).sort()).toEqual(created.map((c) => c.entry?.id).sort());
    expect(revisions.every((x) => x.revision_number === 0 && x.created_at > 0)).toBe(true);

    received.length = 0;
    stream.write({ ids: [...revisions.map((x) => x.id)].reverse().concat(['unknown']) });
    await waitFor(3);
    expect(received.map((m) => [m.entries.length, m.more])).toEqual([[3, true], [3, true], [1, false]]);
    const got = received.flatMap((m) => m.entries);
    expect(got.map((e) => e.id)).toEqual(revisions.map((x) => x.id).sort());
    expect(got.every((e) => e.spiffe_id === null && /^h\d$/.test(e.hint))).toBe(true);

    received.length = 0;
    stream.write({ ids: [revisions[0]?.id ?? ''] });
    await waitFor(1);
    expect(received[0]?.entries.map((e) => e.id)).toEqual([revisions[0]?.id]);
    expect(received[0]?.more).toBe(false);
    stream.end();
    expect((await status).code).toBe(grpc.status.OK);
  });

  it('SyncAuthorizedEntries fails with INVALID_ARGUMENT over the wire when revision_number is masked', async () => {
    caller.current = { kind: 'x509', address: 'unix:', spiffeId: AGENT, serialNumber: '1', notAfter: 0, chain: [] };
    const stream = client.SyncAuthorizedEntries();
    const err = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    stream.on('data', () => undefined);
    stream.write({ output_mask: { hint: true } });
    expect(await err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'revision number cannot be masked' });
  });
});
