// Method-level authorization over the real SQL DataStore plugin (SQLite) and
// the real entry cache: every caller kind against every rule kind, SPIRE's
// agent checks with their PermissionDeniedDetails reasons, and the promotion
// of an agent's renewed SVID serial.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as Protobuf from 'protobufjs';
import { memoryLogger } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { DataStoreV1 } from '../src/index.js';
import { DEFAULT_POLICY, authorize, authorizeAgent, type Rule } from '../src/api/authz.js';
import type { Caller } from '../src/api/caller.js';
import type { DataStore, NewNode } from '../src/plugin/datastore/datastore.js';
import { createEntryCache, type EntryCache } from '../src/entrycache/index.js';
import type { DataStorePlugin } from './plugins.js';
import { sqlDataStore } from './plugins.js';

const TD = 'example.org';
const SERVER = `spiffe://${TD}/spire/server`;
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const NOW_S = NOW / 1000;

// ---- independent decoding of grpc-status-details-bin -------------------------------
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof Protobuf;
const root = new protobuf.Root();
const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../proto');
root.resolvePath = (_o, t) => (t.startsWith('google/protobuf/') ? t : join(PROTO_DIR, t));
root.loadSync(['google/rpc/status.proto', 'spire/api/types/status.proto'], { keepCase: true });
const StatusMsg = root.lookupType('google.rpc.Status');
const Details = root.lookupType('spire.api.types.PermissionDeniedDetails');

interface Denial {
  code: number;
  message: string;
  /** From grpc-status-details-bin; undefined when there is none. */
  status?: { code: number; message: string; reasons: string[] };
}

async function denial(p: Promise<void>): Promise<Denial> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) throw new Error('expected the call to be denied, it was allowed');
  const e = err as { code: number; message: string; metadata?: { get(k: string): unknown[] } };
  const bin = e.metadata?.get('grpc-status-details-bin') ?? [];
  expect(bin.length).toBeLessThanOrEqual(1);
  const out: Denial = { code: e.code, message: e.message };
  if (bin.length === 1) {
    const s = StatusMsg.toObject(StatusMsg.decode(bin[0] as Buffer), { defaults: true, arrays: true }) as {
      code: number; message: string; details: { type_url: string; value: Uint8Array }[];
    };
    const reasons = s.details.map((d) => {
      expect(d.type_url).toBe('type.googleapis.com/spire.api.types.PermissionDeniedDetails');
      return (Details.toObject(Details.decode(d.value), { defaults: true, enums: String }) as { reason: string }).reason;
    });
    out.status = { code: s.code, message: s.message, reasons };
  }
  return out;
}

/** A PERMISSION_DENIED from authorize() with the agent check's reason attached. */
function deniedFor(method: string, reason?: string): Denial {
  const message = `authorization denied for method ${method}`;
  return { code: Status.PERMISSION_DENIED, message, ...(reason ? { status: { code: 7, message, reasons: [reason] } } : {}) };
}

// ---- the store, the cache and the deps -------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'authz-'));
let plugin: DataStorePlugin;
let ds: DataStoreV1;
let cache: EntryCache;
const clock = { t: NOW, now: (): Date => new Date(clock.t) };
const log = memoryLogger();
const ADMIN_ID = `spiffe://${TD}/admin-by-config`;
const deps = (over: { ds?: DataStore } = {}) => ({ trustDomain: TD, clock, ds: over.ds ?? ds, entries: cache, adminIds: [ADMIN_ID], log });

const wl = (p: string): string => `spiffe://${TD}/${p}`;
const agentId = (name: string): string => `spiffe://${TD}/spire/agent/test/${name}`;
const node = (id: string, serial: string, extra: Partial<NewNode> = {}): NewNode => ({
  spiffeId: id, attestationDataType: 'test', certSerialNumber: serial, certNotAfter: NOW_S + 3600, newCertSerialNumber: '', newCertNotAfter: 0,
  canReattest: false, agentVersion: '1.0.0', selectors: [{ type: 't', value: 'v' }], ...extra,
});

const LOCAL: Caller = { kind: 'local' };
const ANON: Caller = { kind: 'anonymous', address: '127.0.0.1:5000' };
type X509Caller = Extract<Caller, { kind: 'x509' }>;
const x509 = (spiffeId: string, serialNumber = '1', notAfter = NOW_S + 3600): X509Caller => ({
  kind: 'x509', address: '127.0.0.1:5001', spiffeId, serialNumber, notAfter, chain: [],
});

beforeAll(async () => {
  plugin = sqlDataStore(join(dir, 'ds.sqlite3'), { log: memoryLogger() });
  await plugin.start();
  ds = new DataStoreV1(plugin);
  const sel = [{ type: 'unix', value: 'uid:0' }];
  await ds.createEntry({ spiffeId: wl('admin-entry'), parentId: SERVER, selectors: sel, admin: true });
  await ds.createEntry({ spiffeId: wl('downstream'), parentId: SERVER, selectors: sel, downstream: true });
  await ds.createEntry({ spiffeId: wl('workload'), parentId: agentId('main'), selectors: sel });
  await ds.createNode(node(agentId('main'), '100'));
  cache = await createEntryCache({ ds, clock, log: memoryLogger(), trustDomain: TD, pollIntervalMs: 3_600_000 });
}, 30_000);

afterAll(async () => {
  await cache?.close();
  await plugin?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// ---- rules × callers ---------------------------------------------------------------------
const POLICY = new Map<string, Rule>([
  ['/t.S/Any', { any: true }],
  ['/t.S/Local', { local: true }],
  ['/t.S/Admin', { admin: true, local: true }],
  ['/t.S/AdminOnly', { admin: true }],
  ['/t.S/Downstream', { downstream: true }],
  ['/t.S/Agent', { agent: true }],
  ['/t.S/Nobody', {}],
]);

type Who = 'local' | 'anonymous' | 'adminId' | 'adminEntry' | 'downstream' | 'agent' | 'workload' | 'foreignAgent';
const CALLERS: Record<Who, () => Caller> = {
  local: () => LOCAL,
  anonymous: () => ANON,
  adminId: () => x509(ADMIN_ID),
  adminEntry: () => x509(wl('admin-entry')),
  downstream: () => x509(wl('downstream')),
  agent: () => x509(agentId('main'), '100'),
  workload: () => x509(wl('workload')),
  // An agent path of another trust domain is not an agent of this one.
  foreignAgent: () => x509('spiffe://other.org/spire/agent/test/main', '100'),
};
const ALLOWED: Record<string, Who[]> = {
  '/t.S/Any': ['local', 'anonymous', 'adminId', 'adminEntry', 'downstream', 'agent', 'workload', 'foreignAgent'],
  '/t.S/Local': ['local'],
  '/t.S/Admin': ['local', 'adminId', 'adminEntry'],
  '/t.S/AdminOnly': ['adminId', 'adminEntry'],
  '/t.S/Downstream': ['downstream'],
  '/t.S/Agent': ['agent'],
  '/t.S/Nobody': [],
  '/t.S/NotInPolicy': [],
};

describe('authorize: callers × rules', () => {
  const cases = Object.entries(ALLOWED).flatMap(([method, allowed]) =>
    (Object.keys(CALLERS) as Who[]).map((who) => ({ method, who, allowed: allowed.includes(who) })),
  );
  it.each(cases)('$method by $who: allowed=$allowed', async ({ method, who, allowed }) => {
    const p = authorize(deps(), method, CALLERS[who](), POLICY);
    if (allowed) await expect(p).resolves.toBeUndefined();
    // A plain denial: no agent reason attached.
    else expect(await denial(p)).toEqual(deniedFor(method));
  });

  it('uses SPIRE default policy when none is given', async () => {
    const getBundle = '/spire.api.server.bundle.v1.Bundle/GetBundle';
    const listEntries = '/spire.api.server.entry.v1.Entry/ListEntries';
    const getInfo = '/spire.api.server.debug.v1.Debug/GetInfo';
    const renew = '/spire.api.server.agent.v1.Agent/RenewAgent';
    const downstreamCa = '/spire.api.server.svid.v1.SVID/NewDownstreamX509CA';
    await expect(authorize(deps(), getBundle, ANON)).resolves.toBeUndefined();
    await expect(authorize(deps(), listEntries, x509(ADMIN_ID))).resolves.toBeUndefined();
    expect(await denial(authorize(deps(), listEntries, CALLERS.agent()))).toEqual(deniedFor(listEntries));
    expect(await denial(authorize(deps(), getInfo, x509(ADMIN_ID)))).toEqual(deniedFor(getInfo));
    await expect(authorize(deps(), getInfo, LOCAL)).resolves.toBeUndefined();
    await expect(authorize(deps(), renew, CALLERS.agent())).resolves.toBeUndefined();
    expect(await denial(authorize(deps(), renew, LOCAL))).toEqual(deniedFor(renew));
    await expect(authorize(deps(), downstreamCa, CALLERS.downstream())).resolves.toBeUndefined();
    expect(await denial(authorize(deps(), downstreamCa, x509(ADMIN_ID)))).toEqual(deniedFor(downstreamCa));
  });

  it('denies a method missing from the default policy to everyone, local admin included', async () => {
    const method = '/spire.api.server.entry.v1.Entry/DropAllEntries';
    expect(DEFAULT_POLICY.has(method)).toBe(false);
    for (const who of Object.keys(CALLERS) as Who[]) {
      expect(await denial(authorize(deps(), method, CALLERS[who]())), who).toEqual(deniedFor(method));
    }
  });

  it('sees an admin entry once the cache has read its event', async () => {
    await ds.createEntry({ spiffeId: wl('late-admin'), parentId: SERVER, selectors: [{ type: 'unix', value: 'uid:7' }], admin: true });
    expect(await denial(authorize(deps(), '/t.S/AdminOnly', x509(wl('late-admin')), POLICY))).toEqual(deniedFor('/t.S/AdminOnly'));
    await cache.refresh();
    await expect(authorize(deps(), '/t.S/AdminOnly', x509(wl('late-admin')), POLICY)).resolves.toBeUndefined();
  });
});

// ---- agent checks ------------------------------------------------------------------------
describe('agent checks', () => {
  const AGENT_METHOD = '/spire.api.server.agent.v1.Agent/RenewAgent';

  it('expired SVID: AGENT_EXPIRED (checked before anything else), the second it expires', async () => {
    const id = agentId('main');
    await expect(authorizeAgent(deps(), x509(id, '100', NOW_S))).resolves.toBeUndefined();
    const d = await denial(authorizeAgent(deps(), x509(id, '100', NOW_S - 1)));
    expect(d.code).toBe(Status.PERMISSION_DENIED);
    expect(d.message).toBe(`agent "${id}" SVID is expired`);
    expect(d.status).toEqual({ code: 7, message: d.message, reasons: ['AGENT_EXPIRED'] });
    // Even an unknown agent is told its SVID expired first.
    expect((await denial(authorizeAgent(deps(), x509(agentId('nobody'), '1', NOW_S - 1)))).status?.reasons).toEqual(['AGENT_EXPIRED']);
    expect(await denial(authorize(deps(), AGENT_METHOD, x509(id, '100', NOW_S - 1)))).toEqual(deniedFor(AGENT_METHOD, 'AGENT_EXPIRED'));
  });

  it('unknown agent: AGENT_NOT_ATTESTED', async () => {
    const id = agentId('unknown');
    const d = await denial(authorizeAgent(deps(), x509(id, '5')));
    expect(d).toEqual({ code: 7, message: `agent "${id}" is not attested`, status: { code: 7, message: `agent "${id}" is not attested`, reasons: ['AGENT_NOT_ATTESTED'] } });
    expect(await denial(authorize(deps(), AGENT_METHOD, x509(id, '5')))).toEqual(deniedFor(AGENT_METHOD, 'AGENT_NOT_ATTESTED'));
    expect(log.lines).toContainEqual(expect.objectContaining({
      level: 'error', msg: 'Failed to authenticate caller', fields: expect.objectContaining({ caller_id: id, method: AGENT_METHOD }),
    }));
  });

  it('banned agent: AGENT_BANNED, from the store and from the cache', async () => {
    const id = agentId('banned');
    await ds.createNode(node(id, '300'));
    const { selectors: _s, ...plain } = node(id, '');
    await ds.updateNode(plain);
    const d = await denial(authorizeAgent(deps(), x509(id, '300')));
    expect(d.message).toBe(`agent "${id}" is banned`);
    expect(d.status?.reasons).toEqual(['AGENT_BANNED']);
    await cache.refresh();
    expect(cache.agent(id)?.banned).toBe(true);
    expect(await denial(authorize(deps(), AGENT_METHOD, x509(id, '300')))).toEqual(deniedFor(AGENT_METHOD, 'AGENT_BANNED'));
  });

  it('current serial: allowed, whether the cache knows the agent yet or not', async () => {
    const id = agentId('fresh');
    await ds.createNode(node(id, '400'));
    expect(cache.agent(id)).toBeUndefined();
    await expect(authorizeAgent(deps(), x509(id, '400'))).resolves.toBeUndefined();
    await cache.refresh();
    expect(cache.agent(id)?.certSerialNumber).toBe('400');
    await expect(authorize(deps(), AGENT_METHOD, x509(id, '400'))).resolves.toBeUndefined();
  });

  it('another serial: AGENT_NOT_ACTIVE naming both serials', async () => {
    const id = agentId('main');
    const d = await denial(authorizeAgent(deps(), x509(id, '999')));
    expect(d.message).toBe(`agent "${id}" expected to have serial number "100"; has "999"`);
    expect(d.status?.reasons).toEqual(['AGENT_NOT_ACTIVE']);
    expect(await denial(authorize(deps(), AGENT_METHOD, x509(id, '999')))).toEqual(deniedFor(AGENT_METHOD, 'AGENT_NOT_ACTIVE'));
  });

  it('the new serial from RenewAgent is promoted on first use; the old one is then refused', async () => {
    const id = agentId('renewing');
    await ds.createNode(node(id, '500', { certNotAfter: NOW_S + 600, newCertSerialNumber: '501', newCertNotAfter: NOW_S + 7200 }));
    await cache.refresh();
    // Both serials are accepted until the new one is used.
    await expect(authorize(deps(), AGENT_METHOD, x509(id, '500'))).resolves.toBeUndefined();
    await expect(authorize(deps(), AGENT_METHOD, x509(id, '501', NOW_S + 7200))).resolves.toBeUndefined();
    expect(await ds.fetchNode(id)).toMatchObject({
      certSerialNumber: '501', certNotAfter: NOW_S + 7200, newCertSerialNumber: '', newCertNotAfter: 0, banned: false,
    });
    // The cache was refreshed by the promotion, not at its next poll.
    expect(cache.agent(id)).toMatchObject({ certSerialNumber: '501', newCertSerialNumber: '' });
    const d = await denial(authorizeAgent(deps(), x509(id, '500')));
    expect(d.message).toBe(`agent "${id}" expected to have serial number "501"; has "500"`);
    expect(d.status?.reasons).toEqual(['AGENT_NOT_ACTIVE']);
    expect(await denial(authorize(deps(), AGENT_METHOD, x509(id, '500')))).toEqual(deniedFor(AGENT_METHOD, 'AGENT_NOT_ACTIVE'));
    await expect(authorize(deps(), AGENT_METHOD, x509(id, '501', NOW_S + 7200))).resolves.toBeUndefined();
  });

  it('a DataStore failure is INTERNAL, not a denial', async () => {
    const broken = Object.create(ds) as DataStore;
    broken.fetchNode = () => Promise.reject(Object.assign(new Error('datastore(sql): database is locked'), { grpcCode: 14 }));
    const id = agentId('not-cached');
    const err = (await authorize(deps({ ds: broken }), AGENT_METHOD, x509(id, '1')).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code: number; message: string } | undefined;
    expect(err?.code).toBe(Status.INTERNAL);
    expect(err?.message).toBe('unable to look up agent information: datastore(sql): database is locked');
  });
});
