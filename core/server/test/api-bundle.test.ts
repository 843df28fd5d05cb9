// The Bundle API service over a real SQL DataStore plugin (SQLite) and a real
// memory KeyManager + CA manager: handlers called directly, and a round trip
// over a LeanGrpcServer on a Unix socket with a grpc-js client.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeanGrpcServer, Status, addService } from '@spire-ts/plugin-sdk';
import { createClient, type apiTypes } from '@spire-ts/proto';
import type { CAManager, DataStoreV1 } from '../src/index.js';
import { setCaller } from '../src/api/caller.js';
import type { ApiDeps, EntryIndex } from '../src/api/deps.js';
import { bundleService } from '../src/api/bundle.js';
import { caCert } from './plugins.js';
import { TD, r, startApiEnv, type ApiEnv } from './api-env.js';

const noEntries: EntryIndex = {
  authorizedEntries: () => [],
  lookupAuthorizedEntries: () => new Map(),
  entriesWithSpiffeId: () => [],
  agent: () => undefined,
  refresh: () => Promise.resolve(),
};

function keyPair(): { spki: Buffer; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { spki: publicKey.export({ format: 'der', type: 'spki' }), privateKey };
}

const caDer = async (td: string): Promise<Buffer> => Buffer.from(await caCert(td));

const jwtKey = (kid: string, expiresAt = 0): apiTypes.JWTKey => ({ public_key: keyPair().spki, key_id: kid, expires_at: expiresAt });
const call = (): never => {
  const c = {};
  setCaller(c, { kind: 'local' });
  return c as never;
};

let env: ApiEnv;
let ds: DataStoreV1;
let deps: ApiDeps;
let svc: ReturnType<typeof bundleService>;
let m: CAManager;

beforeAll(async () => {
  env = await startApiEnv('api-bundle', () => noEntries, async (store, manager) => {
    await store.setBundle(manager.bundle());
  });
  ({ ds, deps, manager: m } = env);
  svc = bundleService(deps);
}, 60_000);
afterAll(() => env?.close());

const fed = async (td: string, extra: Partial<apiTypes.Bundle> = {}): Promise<apiTypes.Bundle> => ({
  trust_domain: td, x509_authorities: [{ asn1: await caDer(td) }], jwt_authorities: [], refresh_hint: 60, sequence_number: 1, ...extra,
});

describe('Bundle API: own bundle', () => {
  it('GetBundle answers the published bundle, masked', async () => {
    const b = await svc.GetBundle!(r({}), call());
    const own = m.bundle();
    expect(b.trust_domain).toBe(TD);
    expect(b.x509_authorities?.map((x) => Buffer.from(x.asn1 as Buffer).toString('hex'))).toEqual(own.x509Authorities.map((d) => Buffer.from(d).toString('hex')));
    expect(b.jwt_authorities?.map((k) => k.key_id)).toEqual(own.jwtAuthorities.map((k) => k.keyId));
    const masked = await svc.GetBundle!(r({ output_mask: { jwt_authorities: true } as never }), call());
    expect(masked.x509_authorities).toEqual([]);
    expect(masked.jwt_authorities).toHaveLength(own.jwtAuthorities.length);
  });

  it('AppendBundle adds authorities to the stored bundle once; validates them first', async () => {
    const cert = await caDer(TD);
    const key = jwtKey('appended-kid', 2_000_000_000);
    const before = await ds.fetchBundle(TD);
    const res = await svc.AppendBundle!(r({ x509_authorities: [{ asn1: cert, tainted: false }], jwt_authorities: [key as never], output_mask: null }), call());
    expect(res.x509_authorities).toHaveLength((before?.x509Authorities.length ?? 0) + 1);
    expect(res.jwt_authorities?.find((k) => k.key_id === 'appended-kid')).toMatchObject({ expires_at: 2_000_000_000 });
    const again = await svc.AppendBundle!(r({ x509_authorities: [{ asn1: cert, tainted: false }], jwt_authorities: [] }), call());
    expect(again.x509_authorities).toHaveLength((before?.x509Authorities.length ?? 0) + 1);

    const stored = await ds.fetchBundle(TD);
    await expect(svc.AppendBundle!(r({ x509_authorities: [], jwt_authorities: [] }), call())).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT, message: 'no authorities to append',
    });
    await expect(svc.AppendBundle!(r({ x509_authorities: [{ asn1: Buffer.from('junk'), tainted: false }], jwt_authorities: [] }), call())).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT, message: expect.stringMatching(/^failed to convert X.509 authority: /),
    });
    await expect(svc.AppendBundle!(r({ x509_authorities: [], jwt_authorities: [{ ...jwtKey(''), key_id: '' } as never] }), call())).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT, message: 'failed to convert JWT authority: missing key ID',
    });
    await expect(svc.AppendBundle!(r({ x509_authorities: [], jwt_authorities: [{ public_key: Buffer.from([1, 2]), key_id: 'k' } as never] }), call())).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT, message: expect.stringMatching(/^failed to convert JWT authority: failed to parse public key/),
    });
    // A bad item anywhere means nothing is appended.
    await expect(svc.AppendBundle!(r({ x509_authorities: [{ asn1: await caDer(TD), tainted: false }], jwt_authorities: [{ public_key: Buffer.from([1]), key_id: 'k' } as never] }), call())).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
    expect(await ds.fetchBundle(TD)).toEqual(stored);
  });

  it('PublishJWTAuthority appends one key and answers the JWT authorities', async () => {
    const res = await svc.PublishJWTAuthority!(r({ jwt_authority: jwtKey('downstream-kid', 2_000_000_000) as never }), call());
    expect(res.jwt_authorities?.map((k) => k.key_id)).toContain('downstream-kid');
    expect((await ds.fetchBundle(TD))?.jwtAuthorities.map((k) => k.keyId)).toContain('downstream-kid');
    await expect(svc.PublishJWTAuthority!(r({ jwt_authority: null }), call())).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, message: 'missing JWT authority' });
    await expect(svc.PublishJWTAuthority!(r({ jwt_authority: { public_key: Buffer.alloc(0), key_id: 'x' } as never }), call())).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT, message: expect.stringMatching(/^invalid JWT authority: /),
    });
    await expect(svc.PublishWITAuthority!(r({}), call())).rejects.toMatchObject({ code: Status.UNIMPLEMENTED });
  });
});

describe('Bundle API: federated bundles', () => {
  it('BatchCreateFederatedBundle: per-item OK, ALREADY_EXISTS, own trust domain and invalid input', async () => {
    const res = await svc.BatchCreateFederatedBundle!(r({
      bundle: [await fed('a.org'), await fed('b.org'), await fed('a.org'), await fed(TD), { ...(await fed('x.org')), trust_domain: 'Bad TD' }, { ...(await fed('c.org')), x509_authorities: [{ asn1: Buffer.from('x') }] }] as never,
      output_mask: { refresh_hint: true } as never,
    }), call());
    expect(res.results?.map((x) => [x.status?.code, x.status?.message])).toEqual([
      [0, 'OK'], [0, 'OK'], [Status.ALREADY_EXISTS, 'bundle already exists'],
      [Status.INVALID_ARGUMENT, "creating a federated bundle for the server's own trust domain is not allowed"],
      [Status.INVALID_ARGUMENT, expect.stringMatching(/^trust domain argument is not valid: /)],
      [Status.INVALID_ARGUMENT, expect.stringMatching(/^failed to convert bundle: unable to parse X.509 authority: /)],
    ]);
    expect(res.results?.[0]?.bundle).toMatchObject({ trust_domain: 'a.org', refresh_hint: 60, x509_authorities: [], sequence_number: 0 });
    expect(await ds.fetchBundle('c.org')).toBeUndefined();
  });

  it('Count, List (own trust domain left out, paging) and GetFederatedBundle', async () => {
    expect((await svc.CountBundles!(r({}), call())).count).toBe(3);
    const all = await svc.ListFederatedBundles!(r({}), call());
    expect(all.bundles?.map((b) => b.trust_domain).sort()).toEqual(['a.org', 'b.org']);
    const seen: string[] = [];
    let token = '';
    do {
      const page = await svc.ListFederatedBundles!(r({ page_size: 1, page_token: token, output_mask: { x509_authorities: false } as never }), call());
      for (const b of page.bundles ?? []) {
        expect(b.x509_authorities).toEqual([]);
        seen.push(b.trust_domain ?? '');
      }
      token = page.next_page_token ?? '';
    } while (token);
    expect(seen.sort()).toEqual(['a.org', 'b.org']);

    const a = await svc.GetFederatedBundle!(r({ trust_domain: 'spiffe://a.org' }), call());
    expect(a).toMatchObject({ trust_domain: 'a.org', refresh_hint: 60, sequence_number: 1 });
    expect(a.x509_authorities).toHaveLength(1);
    await expect(svc.GetFederatedBundle!(r({ trust_domain: TD }), call())).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT, message: "getting a federated bundle for the server's own trust domain is not allowed",
    });
    await expect(svc.GetFederatedBundle!(r({ trust_domain: 'nope.org' }), call())).rejects.toMatchObject({ code: Status.NOT_FOUND, message: 'bundle not found' });
    await expect(svc.GetFederatedBundle!(r({ trust_domain: '' }), call())).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
  });

  it('BatchUpdateFederatedBundle honours the input mask; unknown bundle NOT_FOUND', async () => {
    const newCert = await caDer('a.org');
    const res = await svc.BatchUpdateFederatedBundle!(r({
      bundle: [{ trust_domain: 'a.org', x509_authorities: [{ asn1: newCert }], jwt_authorities: [jwtKey('k1')], refresh_hint: 999, sequence_number: 7 }, await fed('zzz.org')] as never,
      input_mask: { refresh_hint: true, jwt_authorities: true } as never,
    }), call());
    expect(res.results?.[0]?.status?.code).toBe(0);
    expect(res.results?.[0]?.bundle).toMatchObject({ refresh_hint: 999, sequence_number: 1 });
    expect(res.results?.[0]?.bundle?.jwt_authorities?.map((k) => k.key_id)).toEqual(['k1']);
    expect(Buffer.from(res.results?.[0]?.bundle?.x509_authorities?.[0]?.asn1 as Buffer).equals(newCert)).toBe(false);
    expect(res.results?.[1]?.status).toMatchObject({ code: Status.NOT_FOUND, message: 'bundle not found' });
    const own = await svc.BatchUpdateFederatedBundle!(r({ bundle: [await fed(TD)] as never }), call());
    expect(own.results?.[0]?.status?.message).toBe("updating a federated bundle for the server's own trust domain is not allowed");
  });

  it('BatchSetFederatedBundle creates or replaces', async () => {
    const res = await svc.BatchSetFederatedBundle!(r({ bundle: [await fed('b.org', { refresh_hint: 5 }), await fed('d.org'), await fed(TD)] as never }), call());
    expect(res.results?.map((x) => x.status?.code)).toEqual([0, 0, Status.INVALID_ARGUMENT]);
    expect((await ds.fetchBundle('b.org'))?.refreshHint).toBe(5);
    expect(await ds.fetchBundle('d.org')).toBeDefined();
  });

  it('BatchDeleteFederatedBundle: modes, RESTRICT while entries federate, own trust domain, unknown', async () => {
    const entry = await ds.createEntry({
      spiffeId: 'spiffe://example.org/w', parentId: 'spiffe://example.org/spire/agent/x', selectors: [{ type: 'unix', value: 'uid:1' }], federatesWith: ['b.org', 'd.org'],
    });
    const restricted = await svc.BatchDeleteFederatedBundle!(r({ trust_domains: ['b.org'], mode: 'RESTRICT' }), call());
    expect(restricted.results?.[0]?.status?.code).toBe(Status.FAILED_PRECONDITION);
    expect(restricted.results?.[0]?.status?.message).toMatch(/^failed to delete federated bundle: /);
    const res = await svc.BatchDeleteFederatedBundle!(r({ trust_domains: ['b.org', TD, 'gone.org', 'bad td'], mode: 'DISSOCIATE' }), call());
    expect(res.results?.map((x) => [x.trust_domain, x.status?.code])).toEqual([
      ['b.org', 0], [TD, Status.INVALID_ARGUMENT], ['gone.org', Status.NOT_FOUND], ['bad td', Status.INVALID_ARGUMENT],
    ]);
    expect(res.results?.[1]?.status?.message).toBe('removing the bundle for the server trust domain is not allowed');
    expect((await ds.fetchEntry(entry.id))?.federatesWith).toEqual(['d.org']);
    const del = await svc.BatchDeleteFederatedBundle!(r({ trust_domains: ['d.org'], mode: 'DELETE' }), call());
    expect(del.results?.[0]?.status?.code).toBe(0);
    expect(await ds.fetchEntry(entry.id)).toBeUndefined();
    await expect(svc.BatchDeleteFederatedBundle!(r({ trust_domains: ['a.org'], mode: 'BOGUS' as never }), call())).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
    expect(await ds.fetchBundle('a.org')).toBeDefined();
  });
});

describe('Bundle API over a LeanGrpcServer on a Unix socket', () => {
  it('round trips GetBundle, BatchCreateFederatedBundle and a NOT_FOUND status', async () => {
    const socket = join(env.dir, 'api.sock');
    const server = new LeanGrpcServer();
    const impl = bundleService(deps) as Record<string, (...args: unknown[]) => unknown>;
    addService(server, 'spire.api.server.bundle.v1.Bundle', Object.fromEntries(Object.entries(impl).map(([name, fn]) => [name, (...args: unknown[]) => {
      setCaller((args.length === 1 ? args[0] : args[1]) as object, { kind: 'local' });
      return fn(...args);
    }])));
    await server.listen(socket);
    const client = createClient('spire.api.server.bundle.v1.Bundle', `unix:${socket}`, grpc.credentials.createInsecure());
    const unary = <Q, A>(fn: (req: Q, cb: (err: grpc.ServiceError | null, res?: A) => void) => unknown, req: Q): Promise<A> =>
      new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res as A))));
    try {
      const own = await unary(client.GetBundle.bind(client), {});
      expect(own.trust_domain).toBe(TD);
      expect(own.x509_authorities.length).toBeGreaterThan(0);
      const created = await unary(client.BatchCreateFederatedBundle.bind(client), { bundle: [await fed('wire.org')] });
      expect(created.results[0]?.status).toEqual({ code: 0, message: 'OK' });
      expect(created.results[0]?.bundle?.x509_authorities).toHaveLength(1);
      const got = await unary(client.GetFederatedBundle.bind(client), { trust_domain: 'wire.org' });
      expect(got.refresh_hint).toBe(60);
      await expect(unary(client.GetFederatedBundle.bind(client), { trust_domain: 'none.org' })).rejects.toMatchObject({
        code: grpc.status.NOT_FOUND, details: 'bundle not found',
      });
    } finally {
      client.close();
      await server.close();
    }
  });
});
