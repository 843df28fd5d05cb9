// The SVID API over real components (SQL DataStore, memory KeyManager, CA
// manager, entry cache): admin minting, and agents' batch X.509-SVIDs and
// JWT-SVIDs for the entries they are authorized for, per-item statuses in order.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateJwtSvid } from '@spire-ts/common';
import { Status } from '@spire-ts/plugin-sdk';
import { svidService, wildcardOverlap } from '../src/api/svid.js';
import type { RegistrationEntry } from '../src/plugin/datastore/datastore.js';
import { T0, TD, agentCall, checkSvid, local, newCsr, startEnv, tamperedCsr, type Direct, direct, type TestEnv } from './agent-svid-support/env.js';

let env: TestEnv;
let api: Direct<'spire.api.server.svid.v1.SVID'>;
const AGENT = `spiffe://${TD}/spire/agent/join_token/svid-agent`;
const OTHER_AGENT = `spiffe://${TD}/spire/agent/join_token/other-agent`;
let web: RegistrationEntry;
let db: RegistrationEntry;
let foreign: RegistrationEntry;

beforeAll(async () => {
  env = await startEnv();
  api = direct(svidService(env.deps));
  for (const id of [AGENT, OTHER_AGENT]) {
    await env.ds.createNode({
      spiffeId: id, attestationDataType: 'join_token', certSerialNumber: '1', certNotAfter: T0 / 1000 + 3600,
      newCertSerialNumber: '', newCertNotAfter: 0, canReattest: false, agentVersion: '',
    });
  }
  web = await env.ds.createEntry({ spiffeId: `spiffe://${TD}/web`, parentId: AGENT, selectors: [{ type: 'unix', value: 'uid:1000' }], dnsNames: ['web.example.org', 'www.example.org'], x509SvidTtl: 600, jwtSvidTtl: 120 });
  db = await env.ds.createEntry({ spiffeId: `spiffe://${TD}/db`, parentId: AGENT, selectors: [{ type: 'unix', value: 'uid:1001' }] });
  foreign = await env.ds.createEntry({ spiffeId: `spiffe://${TD}/foreign`, parentId: OTHER_AGENT, selectors: [{ type: 'unix', value: 'uid:1002' }] });
  await env.cache.refresh();
});
afterAll(() => env?.close());

type ApiErr = Error & { code: number };
async function rejection(p: Promise<unknown>): Promise<ApiErr> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as ApiErr,
  );
  if (!err) throw new Error('expected a rejection');
  return err;
}

describe('MintX509SVID', () => {
  it('mints for the CSR URI SAN with its DNS names and TTL', async () => {
    const id = `spiffe://${TD}/minted`;
    const { key, csr } = newCsr({ uris: [id], dnsNames: ['a.example.org', 'b.example.org'] });
    const res = await api.MintX509SVID({ csr, ttl: 300 }, local());
    const leaf = checkSvid(env, res.svid, id, key);
    expect(leaf.subjectAltName).toContain('DNS:a.example.org');
    expect(leaf.subjectAltName).toContain('DNS:b.example.org');
    expect(res.svid?.expires_at).toBe(T0 / 1000 + 300);
    // Default TTL (1 h) when none is given; RSA keys work too.
    const rsa = newCsr({ uris: [id], rsa: true });
    const dflt = await api.MintX509SVID({ csr: rsa.csr, ttl: 0 }, local());
    checkSvid(env, dflt.svid, id, rsa.key);
    expect(dflt.svid?.expires_at).toBe(T0 / 1000 + 3600);
  });

  it('refuses bad CSRs with SPIRE messages', async () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.alloc(0), /^missing CSR$/],
      [Buffer.from('garbage'), /^malformed CSR: /],
      [tamperedCsr(), /^failed to verify CSR signature$/],
      [newCsr().csr, /^CSR URI SAN is required$/],
      [newCsr({ uris: [`spiffe://${TD}/a`, `spiffe://${TD}/b`] }).csr, /^only one URI SAN is expected$/],
      [newCsr({ uris: ['https://example.org/a'] }).csr, /^CSR URI SAN is invalid: /],
      [newCsr({ uris: [`spiffe://other.org/a`] }).csr, /^CSR URI SAN is invalid: .*not a member of trust domain/],
      [newCsr({ uris: [`spiffe://${TD}/spire/agent/x`] }).csr, /^CSR URI SAN is invalid: .*reserved namespace/],
      [newCsr({ uris: [`spiffe://${TD}`] }).csr, /^CSR URI SAN is invalid: .*path is empty/],
      [newCsr({ uris: [`spiffe://${TD}/a`], dnsNames: ['bad_label.example.org'] }).csr, /^CSR DNS name is invalid: /],
      [newCsr({ uris: [`spiffe://${TD}/a`], dnsNames: ['*.example.org', 'x.example.org'] }).csr, /^CSR DNS name contains a wildcard that covers another non-wildcard name: /],
    ];
    for (const [csr, want] of cases) {
      const err = await rejection(api.MintX509SVID({ csr, ttl: 0 }, local()));
      expect(err.code, String(want)).toBe(Status.INVALID_ARGUMENT);
      expect(err.message).toMatch(want);
    }
  });

  it('wildcardOverlap follows SPIRE', () => {
    expect(wildcardOverlap(['*.example.org', 'example.org'])).toBeUndefined();
    expect(wildcardOverlap(['*.example.org', 'a.b.example.org'])).toBeUndefined();
    expect(wildcardOverlap(['*.example.org', 'a.example.org'])).toMatch(/"a.example.org" overlaps/);
  });
});

describe('MintJWTSVID', () => {
  it('mints a JWT-SVID that validates against the bundle', async () => {
    const res = await api.MintJWTSVID({ id: { trust_domain: TD, path: '/jwt' }, audience: ['aud1', 'aud2'], ttl: 60 }, local());
    expect(res.svid).toMatchObject({ id: { trust_domain: TD, path: '/jwt' }, issued_at: T0 / 1000, expires_at: T0 / 1000 + 60 });
    const v = validateJwtSvid(res.svid?.token ?? '', { audience: 'aud2', bundles: new Map([[TD, env.manager.bundle()]]), now: env.now() });
    expect(v.spiffeId.toString()).toBe(`spiffe://${TD}/jwt`);
  });

  it('requires a workload ID and an audience', async () => {
    expect(await rejection(api.MintJWTSVID({ id: { trust_domain: TD, path: '/jwt' }, audience: [], ttl: 0 }, local()))).toMatchObject({
      code: Status.INVALID_ARGUMENT,
      message: 'at least one audience is required',
    });
    expect(await rejection(api.MintJWTSVID({ id: null, audience: ['a'], ttl: 0 }, local()))).toMatchObject({
      code: Status.INVALID_ARGUMENT,
      message: 'invalid SPIFFE ID: request must specify SPIFFE ID',
    });
    const reserved = await rejection(api.MintJWTSVID({ id: { trust_domain: TD, path: '/spire/server' }, audience: ['a'], ttl: 0 }, local()));
    expect(reserved.message).toMatch(/^invalid SPIFFE ID: .*reserved namespace/);
  });
});

describe('BatchNewX509SVID', () => {
  it('answers each item in order: authorized entries get SVIDs, the rest a status', async () => {
    const a = newCsr();
    const b = newCsr();
    const res = await api.BatchNewX509SVID(
      {
        params: [
          { entry_id: web.id, csr: a.csr },
          { entry_id: foreign.id, csr: newCsr().csr },
          { entry_id: '', csr: newCsr().csr },
          { entry_id: db.id, csr: Buffer.alloc(0) },
          { entry_id: db.id, csr: tamperedCsr() },
          { entry_id: 'no-such-entry', csr: newCsr().csr },
          { entry_id: db.id, csr: Buffer.from('garbage') },
          { entry_id: db.id, csr: b.csr },
        ],
      },
      agentCall(AGENT),
    );
    expect(res.results.map((r) => [r.status?.code, r.status?.message.replace(/: .*/, ': …')])).toEqual([
      [Status.OK, 'OK'],
      [Status.NOT_FOUND, 'entry not found or not authorized'],
      [Status.INVALID_ARGUMENT, 'missing entry ID'],
      [Status.INVALID_ARGUMENT, 'missing CSR'],
      [Status.INVALID_ARGUMENT, 'invalid CSR signature'],
      [Status.NOT_FOUND, 'entry not found or not authorized'],
      [Status.INVALID_ARGUMENT, 'malformed CSR: …'],
      [Status.OK, 'OK'],
    ]);
    const webLeaf = checkSvid(env, res.results[0]?.svid, web.spiffeId, a.key);
    expect(webLeaf.subjectAltName).toContain('DNS:web.example.org');
    expect(webLeaf.subject).toContain('CN=web.example.org');
    expect(res.results[0]?.svid?.expires_at).toBe(T0 / 1000 + 600);
    checkSvid(env, res.results[7]?.svid, db.spiffeId, b.key);
    expect(res.results[7]?.svid?.expires_at).toBe(T0 / 1000 + 3600);
    for (const i of [1, 2, 3, 4, 5, 6]) expect(res.results[i]?.svid).toBeFalsy();
  });

  it('signs a larger batch concurrently, each SVID distinct and valid', async () => {
    const csrs = Array.from({ length: 40 }, () => newCsr());
    const res = await api.BatchNewX509SVID({ params: csrs.map((c, i) => ({ entry_id: i % 2 ? web.id : db.id, csr: c.csr })) }, agentCall(AGENT));
    expect(res.results.every((r) => r.status?.code === Status.OK)).toBe(true);
    const serials = new Set(res.results.map((r) => new X509Certificate(r.svid?.cert_chain[0] ?? Buffer.alloc(0)).serialNumber));
    expect(serials.size).toBe(40);
    res.results.forEach((r, i) => checkSvid(env, r.svid, i % 2 ? web.spiffeId : db.spiffeId, csrs[i]?.key));
  });

  it('refuses an empty batch and non-agent callers', async () => {
    expect(await rejection(api.BatchNewX509SVID({ params: [] }, agentCall(AGENT)))).toMatchObject({ code: Status.INVALID_ARGUMENT, message: 'missing parameters' });
    expect((await rejection(api.BatchNewX509SVID({ params: [{ entry_id: web.id, csr: newCsr().csr }] }, local()))).code).toBe(Status.PERMISSION_DENIED);
    // Another agent is not authorized for this agent's entries.
    const res = await api.BatchNewX509SVID({ params: [{ entry_id: web.id, csr: newCsr().csr }] }, agentCall(OTHER_AGENT));
    expect(res.results[0]?.status?.code).toBe(Status.NOT_FOUND);
  });
});

describe('NewJWTSVID and NewDownstreamX509CA', () => {
  it('mints a JWT-SVID for an authorized entry with its TTL', async () => {
    const res = await api.NewJWTSVID({ entry_id: web.id, audience: ['svc'] }, agentCall(AGENT));
    expect(res.svid).toMatchObject({ id: { trust_domain: TD, path: '/web' }, expires_at: T0 / 1000 + 120 });
    const v = validateJwtSvid(res.svid?.token ?? '', { audience: 'svc', bundles: new Map([[TD, env.manager.bundle()]]), now: env.now() });
    expect(v.spiffeId.toString()).toBe(web.spiffeId);
    expect(await rejection(api.NewJWTSVID({ entry_id: foreign.id, audience: ['svc'] }, agentCall(AGENT)))).toMatchObject({
      code: Status.NOT_FOUND,
      message: 'entry not found or not authorized',
    });
    expect((await rejection(api.NewJWTSVID({ entry_id: web.id, audience: [] }, agentCall(AGENT)))).code).toBe(Status.INVALID_ARGUMENT);
  });

  it('NewDownstreamX509CA is UNIMPLEMENTED for now', async () => {
    const err = await rejection(api.NewDownstreamX509CA({ csr: newCsr().csr, preferred_ttl: 0 }, local()));
    expect(err.code).toBe(Status.UNIMPLEMENTED);
  });
});
