// The TrustDomain API (federation relationships) over a real SQL DataStore
// plugin and CA manager: SPIRE's validation and per-item statuses, masks,
// paging, RefreshBundle outcomes, and method-level authorization (admin only).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@spire-ts/plugin-sdk';
import type { apiTypes, trustDomainV1 as tdv1 } from '@spire-ts/proto';
import { authorize, DEFAULT_POLICY } from '../src/api/authz.js';
import type { ApiDeps, EntryIndex } from '../src/api/deps.js';
import { trustDomainService, type BundleRefresher } from '../src/api/trustdomain.js';
import { caCert, failure } from './plugins.js';
import { TD, r, startApiEnv, type ApiEnv } from './api-env.js';

const noEntries: EntryIndex = { authorizedEntries: () => [],
  lookupAuthorizedEntries: () => new Map(), entriesWithSpiffeId: () => [], agent: () => undefined, refresh: () => Promise.resolve() };

class FakeRefresher implements BundleRefresher {
  reloads = 0;
  answer: boolean | Error = true;
  asked: string[] = [];
  triggerConfigReload(): void {
    this.reloads++;
  }
  refreshBundleFor(td: string): Promise<boolean> {
    this.asked.push(td);
    return this.answer instanceof Error ? Promise.reject(this.answer) : Promise.resolve(this.answer);
  }
}

let env: ApiEnv;
let deps: ApiDeps;
let refresher: FakeRefresher;
let svc: ReturnType<typeof trustDomainService>;

beforeAll(async () => {
  env = await startApiEnv('federation-api', () => noEntries);
  deps = env.deps;
  refresher = new FakeRefresher();
  svc = trustDomainService(deps, refresher);
}, 60_000);
afterAll(() => env?.close());

const spiffeRel = (td: string, extra: Partial<apiTypes.FederationRelationship> = {}): apiTypes.FederationRelationship => ({
  trust_domain: td,
  bundle_endpoint_url: `https://${td}:8443/`,
  https_spiffe: { endpoint_spiffe_id: `spiffe://${td}/spire/server` },
  ...extra,
});
const webRel = (td: string): apiTypes.FederationRelationship => ({ trust_domain: td, bundle_endpoint_url: `https://${td}/bundle`, https_web: {} });
/** The handlers with their answers typed as a client receives them. */
const call = <T>(v: unknown): Promise<T> => Promise.resolve(v as T);
const api = {
  create: (req: object) => call<tdv1.BatchCreateFederationRelationshipResponse__Output>(svc.BatchCreateFederationRelationship!(r(req), r({}))),
  update: (req: object) => call<tdv1.BatchUpdateFederationRelationshipResponse__Output>(svc.BatchUpdateFederationRelationship!(r(req), r({}))),
  delete: (req: object) => call<tdv1.BatchDeleteFederationRelationshipResponse__Output>(svc.BatchDeleteFederationRelationship!(r(req), r({}))),
  list: (req: object) => call<tdv1.ListFederationRelationshipsResponse__Output>(svc.ListFederationRelationships!(r(req), r({}))),
  get: (req: object) => call<apiTypes.FederationRelationship__Output>(svc.GetFederationRelationship!(r(req), r({}))),
  refresh: (req: object) => call<object>(svc.RefreshBundle!(r(req), r({}))),
};
const create = (rels: apiTypes.FederationRelationship[], output_mask: apiTypes.FederationRelationshipMask | null = null) =>
  api.create({ federation_relationships: rels, output_mask });

describe('TrustDomain API: BatchCreateFederationRelationship', () => {
  it('creates relationships with per-item statuses and triggers a config reload', async () => {
    const before = refresher.reloads;
    const res = await create([spiffeRel('one.test'), webRel('two.test')]);
    expect(res.results.map((x) => x.status?.code)).toEqual([0, 0]);
    expect(res.results[0]?.federation_relationship).toMatchObject({
      trust_domain: 'one.test', bundle_endpoint_url: 'https://one.test:8443/', bundle_endpoint_profile: 'https_spiffe', https_spiffe: { endpoint_spiffe_id: 'spiffe://one.test/spire/server' },
    });
    expect(res.results[1]?.federation_relationship).toMatchObject({ trust_domain: 'two.test', bundle_endpoint_profile: 'https_web' });
    expect(refresher.reloads).toBe(before + 1);
    expect(await env.ds.fetchFederationRelationship('one.test')).toMatchObject({ bundleEndpointProfile: { type: 'https_spiffe', endpointSpiffeId: 'spiffe://one.test/spire/server' } });
  });

  it("refuses invalid items with SPIRE's messages, keeps going, and does not reload when nothing was created", async () => {
    const before = refresher.reloads;
    const res = await create([
      spiffeRel(TD),
      spiffeRel('Bad TD'),
      spiffeRel('http.test', { bundle_endpoint_url: 'http://http.test/' }),
      spiffeRel('user.test', { bundle_endpoint_url: 'https://me:pw@user.test/' }),
      spiffeRel('nourl.test', { bundle_endpoint_url: 'not a url' }),
      { trust_domain: 'noprofile.test', bundle_endpoint_url: 'https://noprofile.test/' },
      spiffeRel('badid.test', { https_spiffe: { endpoint_spiffe_id: 'not-an-id' } }),
      spiffeRel('one.test'),
    ]);
    const st = res.results.map((x) => x.status);
    expect(st[0]).toEqual({ code: Status.INVALID_ARGUMENT, message: 'unable to create federation relationship for server trust domain' });
    expect(st[1]?.code).toBe(Status.INVALID_ARGUMENT);
    expect(st[1]?.message).toMatch(/^failed to convert federation relationship: failed to parse trust domain: /);
    expect(st[2]).toEqual({ code: Status.INVALID_ARGUMENT, message: 'failed to convert federation relationship: bundle endpoint URL must use the https scheme' });
    expect(st[3]).toEqual({ code: Status.INVALID_ARGUMENT, message: 'failed to convert federation relationship: bundle endpoint URL must not contain user info' });
    expect(st[4]?.message).toMatch(/^failed to convert federation relationship: failed to parse bundle endpoint URL/);
    expect(st[5]?.message).toMatch(/^failed to convert federation relationship: unsupported bundle endpoint profile type/);
    expect(st[6]?.message).toMatch(/^failed to convert federation relationship: failed to parse endpoint SPIFFE ID: /);
    expect(st[7]?.code).toBe(Status.ALREADY_EXISTS);
    expect(st[7]?.message).toMatch(/^failed to create federation relationship: /);
    expect(res.results.every((x) => x.federation_relationship === null)).toBe(true);
    expect(refresher.reloads).toBe(before);
  });

  it('stores a given trust domain bundle and refuses one of another trust domain', async () => {
    const der = Buffer.from(await caCert('three.test'));
    const res = await create([
      spiffeRel('three.test', { trust_domain_bundle: { trust_domain: 'three.test', x509_authorities: [{ asn1: der }] } }),
      spiffeRel('four.test', { trust_domain_bundle: { trust_domain: 'three.test', x509_authorities: [{ asn1: der }] } }),
    ]);
    expect(res.results[0]?.status?.code).toBe(0);
    expect(res.results[0]?.federation_relationship?.trust_domain_bundle?.x509_authorities.map((a) => Buffer.from(a.asn1).equals(der))).toEqual([true]);
    expect((await env.ds.fetchBundle('three.test'))?.x509Authorities.length).toBe(1);
    expect(res.results[1]?.status).toEqual({
      code: Status.INVALID_ARGUMENT,
      message: 'failed to convert federation relationship: trust domain bundle ("three.test") must match the trust domain of the federation relationship ("four.test")',
    });
  });

  it('applies the output mask', async () => {
    const res = await create([webRel('five.test')], { bundle_endpoint_url: false, bundle_endpoint_profile: false, trust_domain_bundle: false });
    const fr = res.results[0]?.federation_relationship;
    expect(fr?.trust_domain).toBe('five.test');
    expect(fr?.bundle_endpoint_url).toBe('');
    expect(fr?.bundle_endpoint_profile).toBeUndefined();
  });
});

describe('TrustDomain API: get, list, update, delete', () => {
  it('GetFederationRelationship: found, NOT_FOUND, INVALID_ARGUMENT', async () => {
    const fr = await api.get({ trust_domain: 'spiffe://one.test', output_mask: null });
    expect(fr).toMatchObject({ trust_domain: 'one.test', bundle_endpoint_profile: 'https_spiffe' });
    const missing = await failure(api.get({ trust_domain: 'nope.test', output_mask: null }));
    expect(missing.message).toBe('federation relationship does not exist');
    expect((missing as { code?: number }).code ?? missing.grpcCode).toBe(Status.NOT_FOUND);
    const bad = await failure(api.get({ trust_domain: 'Bad TD', output_mask: null }));
    expect(bad.message).toMatch(/^failed to parse trust domain: /);
  });

  it('ListFederationRelationships: all, or in pages', async () => {
    const all = await api.list({ page_size: 0, page_token: '', output_mask: null });
    expect(all.federation_relationships.map((f) => f.trust_domain).sort()).toEqual(['five.test', 'one.test', 'three.test', 'two.test']);
    expect(all.next_page_token).toBe('');
    const seen: string[] = [];
    let token = '';
    for (let i = 0; i < 10; i++) {
      const page = await api.list({ page_size: 3, page_token: token, output_mask: null });
      expect(page.federation_relationships.length).toBeLessThanOrEqual(3);
      seen.push(...page.federation_relationships.map((f) => f.trust_domain));
      token = page.next_page_token;
      if (token === '') break;
    }
    expect(seen.sort()).toEqual(['five.test', 'one.test', 'three.test', 'two.test']);
  });

  it('BatchUpdateFederationRelationship: updates the masked fields, NOT_FOUND for an unknown one', async () => {
    const before = refresher.reloads;
    const res = await api.update({ federation_relationships: [webRel('one.test'), webRel('ghost.test')], input_mask: null, output_mask: null });
    expect(res.results[0]?.status?.code).toBe(0);
    expect(res.results[0]?.federation_relationship).toMatchObject({ bundle_endpoint_url: 'https://one.test/bundle', bundle_endpoint_profile: 'https_web' });
    expect(res.results[1]?.status?.code).toBe(Status.NOT_FOUND);
    expect(res.results[1]?.status?.message).toMatch(/^failed to update federation relationship: /);
    expect(refresher.reloads).toBe(before + 1);
    // Only the URL: the profile stays.
    const onlyUrl = await api.update({
      federation_relationships: [spiffeRel('one.test', { bundle_endpoint_url: 'https://one.test:9443/' })],
      input_mask: { bundle_endpoint_url: true, bundle_endpoint_profile: false, trust_domain_bundle: false },
      output_mask: null,
    });
    expect(onlyUrl.results[0]?.federation_relationship).toMatchObject({ bundle_endpoint_url: 'https://one.test:9443/', bundle_endpoint_profile: 'https_web' });
  });

  it('BatchDeleteFederationRelationship: deleted, not found, missing, invalid', async () => {
    const res = await api.delete({ trust_domains: ['two.test', 'two.test', '', 'Bad TD'] });
    expect(res.results).toEqual([
      { trust_domain: 'two.test', status: { code: 0, message: 'OK' } },
      { trust_domain: 'two.test', status: { code: Status.NOT_FOUND, message: 'federation relationship not found' } },
      { trust_domain: '', status: { code: Status.INVALID_ARGUMENT, message: 'missing trust domain' } },
      { trust_domain: 'Bad TD', status: expect.objectContaining({ code: Status.INVALID_ARGUMENT }) as unknown },
    ]);
    expect(await env.ds.fetchFederationRelationship('two.test')).toBeUndefined();
  });
});

describe('TrustDomain API: RefreshBundle', () => {
  it('refreshes a managed trust domain; NOT_FOUND when unmanaged; INTERNAL on failure; INVALID_ARGUMENT on a bad name', async () => {
    refresher.answer = true;
    await expect(api.refresh({ trust_domain: 'one.test' })).resolves.toEqual({});
    expect(refresher.asked.at(-1)).toBe('one.test');
    refresher.answer = false;
    const nf = await failure(api.refresh({ trust_domain: 'ghost.test' }));
    expect(nf.message).toBe('no relationship with trust domain "ghost.test"');
    refresher.answer = new Error('endpoint down');
    const int = await failure(api.refresh({ trust_domain: 'one.test' }));
    expect(int.message).toBe('failed to refresh bundle: endpoint down');
    const bad = await failure(api.refresh({ trust_domain: '' }));
    expect(bad.message).toMatch(/^failed to parse trust domain/);
  });
});

describe('TrustDomain API: authorization', () => {
  const METHODS = ['ListFederationRelationships', 'GetFederationRelationship', 'BatchCreateFederationRelationship', 'BatchUpdateFederationRelationship', 'BatchDeleteFederationRelationship', 'RefreshBundle'];
  const adminId = `spiffe://${TD}/admin`;
  const authzDeps = (): Parameters<typeof authorize>[0] => ({ ...deps, adminIds: [adminId] });
  const x509 = (spiffeId: string) => ({ kind: 'x509' as const, address: '127.0.0.1:1', spiffeId, serialNumber: '1', notAfter: Math.floor(Date.now() / 1000) + 3600, chain: [] });

  it('admits local callers and admin IDs; denies other workloads and anonymous callers', async () => {
    for (const m of METHODS) {
      const path = `/spire.api.server.trustdomain.v1.TrustDomain/${m}`;
      await expect(authorize(authzDeps(), path, { kind: 'local' }, DEFAULT_POLICY)).resolves.toBeUndefined();
      await expect(authorize(authzDeps(), path, x509(adminId), DEFAULT_POLICY)).resolves.toBeUndefined();
      const denied = await failure(authorize(authzDeps(), path, x509(`spiffe://${TD}/workload`), DEFAULT_POLICY));
      expect(denied.message).toBe(`authorization denied for method ${path}`);
      const anon = await failure(authorize(authzDeps(), path, { kind: 'anonymous', address: '127.0.0.1:2' }, DEFAULT_POLICY));
      expect(anon.message).toBe(`authorization denied for method ${path}`);
    }
  });
});
