// The Delegated Identity API on the agent's admin socket: a grpc-js client
// over the real Unix socket (the caller identified by SO_PEERCRED and attested
// in-process from /proc), answered from the real AgentManager whose server
// side is a real CA (fake clock). SVIDs, keys, JWTs and bundles are checked
// with node:crypto and the common validators.
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatCertificates, validateJwtSvid, validateX509Svid, type Bundle } from '@spire-ts/common';
import { createClient, type ServiceClientOf, type delegatedIdentityV1 } from '@spire-ts/proto';
import { AdminApiServer } from '../src/admin/index.js';
import { WorkloadAttestation, type Selector, type WorkloadAttestor } from '../src/workload/index.js';
import { bundleOf, collect, makeCa, makeJwtKey, tempDir } from './workload-fixtures.js';
import { MIN, TD, entry, harness, settle, type Harness } from './manager-support.js';

type Client = ServiceClientOf<'spire.api.agent.delegatedidentity.v1.DelegatedIdentity'>;
type X509Res = delegatedIdentityV1.SubscribeToX509SVIDsResponse__Output;
type JwtRes = delegatedIdentityV1.FetchJWTSVIDsResponse__Output;

const DELEGATE_ID = `spiffe://${TD}/delegate`;

/** `proc:uid:<euid>`, `proc:gid:<egid>` and `proc:comm:<comm>` of a pid, from /proc. */
function procAttestor(name = 'proc'): WorkloadAttestor {
  return {
    name,
    async attest(pid: number): Promise<Selector[]> {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const uid = /^Uid:\t\d+\t(\d+)/m.exec(status)?.[1];
      const gid = /^Gid:\t\d+\t(\d+)/m.exec(status)?.[1];
      if (uid === undefined || gid === undefined) throw new Error(`cannot read ids of ${pid}`);
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      return [
        { type: name, value: `uid:${uid}` },
        { type: name, value: `gid:${gid}` },
        { type: name, value: `comm:${comm}` },
      ];
    },
  };
}

const myComm = readFileSync('/proc/self/comm', 'utf8').trim();
const myUid = process.geteuid!();

let h: Harness;
let dir: string;
let sleeper: ChildProcess;
const servers: AdminApiServer[] = [];
const clients: Client[] = [];

async function adminServer(name: string, authorizedDelegates: string[], attestorName = 'proc'): Promise<Client> {
  const admin = new AdminApiServer({
    source: { agentSvidChain: () => [], bundle: () => h.manager.bundle, lastSync: () => h.manager.lastSync, stats: () => h.manager.stats },
    log: h.log,
    startedAt: new Date(),
    delegatedIdentity: {
      source: h.manager,
      attestation: new WorkloadAttestation({ attestors: [procAttestor(attestorName)], log: h.log, timeoutMs: 5_000 }),
      authorizedDelegates,
      svidWaitMs: 2_000,
    },
  });
  const path = join(dir, name, 'admin.sock');
  await admin.start(path);
  servers.push(admin);
  const c = createClient('spire.api.agent.delegatedidentity.v1.DelegatedIdentity', `unix://${path}`, grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}

function fetchJwt(c: Client, req: delegatedIdentityV1.FetchJWTSVIDsRequest): Promise<JwtRes> {
  return new Promise((resolve, reject) => c.FetchJWTSVIDs(req, (err, res) => (err ? reject(err) : resolve(res!))));
}

async function streamError<T>(stream: grpc.ClientReadableStream<T>): Promise<grpc.ServiceError> {
  const s = collect(stream);
  try {
    await s.next(1, 5_000);
  } catch (err) {
    return err as grpc.ServiceError;
  }
  stream.cancel();
  throw new Error(`the stream answered ${JSON.stringify(s.messages[0])} instead of failing`);
}

/** Checks one X509SVIDWithKey against the agent's bundle at the fake time; returns its SPIFFE ID. */
function checkSvid(s: X509Res['x509_svids'][number], bundle: Bundle): string {
  const svid = s.x509_svid!;
  const [leaf, ...rest] = svid.cert_chain;
  const v = validateX509Svid(leaf!, rest, bundle.x509Authorities, h.time.now());
  const id = `spiffe://${svid.id!.trust_domain}${svid.id!.path}`;
  expect(v.spiffeId).toBe(id);
  const cert = new X509Certificate(leaf!);
  expect(cert.checkPrivateKey(createPrivateKey({ key: s.x509_svid_key, format: 'der', type: 'pkcs8' }))).toBe(true);
  expect(svid.expires_at).toBe(Math.floor(new Date(cert.validTo).getTime() / 1000));
  return id;
}

const ids = (res: X509Res): string[] => res.x509_svids.map((s) => `spiffe://${s.x509_svid!.id!.trust_domain}${s.x509_svid!.id!.path}`).sort();

beforeAll(async () => {
  h = await harness({ syncIntervalMs: 60_000 });
  h.server.put(entry('delegate', '/delegate', [`proc:uid:${myUid}`, `proc:comm:${myComm}`]));
  h.server.put(entry('web', '/web', ['k8s:ns:web'], { hint: 'web' }));
  h.server.put(entry('web-sa', '/web/sa', ['k8s:ns:web', 'k8s:sa:default']));
  h.server.put(entry('web-admin', '/web/admin', ['k8s:ns:web'], { admin: true }));
  h.server.put(entry('web-downstream', '/web/downstream', ['k8s:ns:web'], { downstream: true }));
  h.server.put(entry('sleeper', '/sleeper', ['proc:comm:sleep']));
  await h.manager.start();
  dir = tempDir('delegated-');
  sleeper = spawn('sleep', ['120'], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    sleeper.once('spawn', resolve);
    sleeper.once('error', reject);
  });
  // exec has happened once comm reads "sleep".
  for (let i = 0; i < 100 && readFileSync(`/proc/${sleeper.pid}/comm`, 'utf8').trim() !== 'sleep'; i++) await new Promise((r) => setTimeout(r, 10));
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.close();
  sleeper?.kill();
  await h?.manager.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('DelegatedIdentity: authorisation of the caller', () => {
  it('denies a caller whose entries are not authorized delegates', async () => {
    const c = await adminServer('unauthorized', [`spiffe://${TD}/someone-else`]);
    const err = await streamError(c.SubscribeToX509SVIDs({ selectors: [{ type: 'k8s', value: 'ns:web' }] }));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toBe('caller not configured as an authorized delegate');
    await expect(fetchJwt(c, { audience: ['a'], selectors: [{ type: 'k8s', value: 'ns:web' }] })).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: 'caller not configured as an authorized delegate',
    });
    const b = await streamError(c.SubscribeToX509Bundles({}));
    expect(b).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'caller not configured as an authorized delegate' });
    expect(h.log.lines.some((e) => e.msg === 'Permission denied; caller not configured as an authorized delegate.' && e.fields.default_id === DELEGATE_ID)).toBe(true);
  });

  it('denies a caller that matches no entry at all with "no identity issued"', async () => {
    const c = await adminServer('no-identity', [DELEGATE_ID], 'nomatch');
    const err = await streamError(c.SubscribeToJWTBundles({}));
    expect(err).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
  });
});

describe('DelegatedIdentity: an authorized delegate', () => {
  let c: Client;
  beforeAll(async () => {
    c = await adminServer('authorized', [`spiffe://${TD}/unrelated`, DELEGATE_ID]);
  });

  it('rejects requests naming both or neither of selectors and pid, and bad selectors', async () => {
    for (const req of [{}, { pid: 1, selectors: [{ type: 'k8s', value: 'ns:web' }] }]) {
      const err = await streamError(c.SubscribeToX509SVIDs(req));
      expect(err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'must provide either selectors or non-zero PID, but not both' });
    }
    for (const selectors of [[{ type: '', value: 'x' }], [{ type: 'k8s:ns', value: 'web' }], [{ type: 'k8s', value: '' }]]) {
      await expect(fetchJwt(c, { audience: ['a'], selectors })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'could not parse provided selectors' });
    }
    await expect(fetchJwt(c, { audience: [], selectors: [{ type: 'k8s', value: 'ns:web' }] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'audience must be specified' });
    const tooMany = Array.from({ length: 1025 }, (_, i) => ({ type: 'k8s', value: `n:${i}` }));
    await expect(fetchJwt(c, { audience: ['a'], selectors: tooMany })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(fetchJwt(c, { audience: ['a'], pid: -4 })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'invalid PID -4: must be positive' });
  });

  it('streams the X.509-SVIDs of the delegated selectors (no admin or downstream ones), then the rotated ones', async () => {
    const stream = c.SubscribeToX509SVIDs({ selectors: [{ type: 'k8s', value: 'ns:web' }, { type: 'k8s', value: 'sa:default' }] });
    const s = collect(stream);
    try {
      const first = await s.next(1);
      expect(ids(first)).toEqual([`spiffe://${TD}/web`, `spiffe://${TD}/web/sa`]);
      const bundle = h.manager.bundle!;
      for (const svid of first.x509_svids) checkSvid(svid, bundle);
      expect(first.x509_svids.find((x) => x.x509_svid!.id!.path === '/web')!.x509_svid!.hint).toBe('web');
      expect(first.federates_with).toEqual([]);
      const firstSerials = first.x509_svids.map((x) => new X509Certificate(x.x509_svid!.cert_chain[0]!).serialNumber);

      // Past half the 1 h lifetime, the agent rotates both SVIDs and the stream pushes them.
      await h.runFor(35 * MIN);
      const rotated = s.messages.at(-1)!;
      expect(s.messages.length).toBeGreaterThan(1);
      expect(ids(rotated)).toEqual(ids(first));
      for (const svid of rotated.x509_svids) checkSvid(svid, h.manager.bundle!);
      const serials = rotated.x509_svids.map((x) => new X509Certificate(x.x509_svid!.cert_chain[0]!).serialNumber);
      for (const serial of serials) expect(firstSerials).not.toContain(serial);
      expect(s.errors).toEqual([]);
    } finally {
      stream.cancel();
    }
  });

  it('sends an empty update for selectors that match nothing', async () => {
    const stream = c.SubscribeToX509SVIDs({ selectors: [{ type: 'k8s', value: 'ns:nothing' }] });
    const s = collect(stream);
    try {
      expect(await s.next(1)).toEqual({ x509_svids: [], federates_with: [] });
    } finally {
      stream.cancel();
    }
  });

  it('attests a pid it is given and streams that workload’s SVID', async () => {
    const stream = c.SubscribeToX509SVIDs({ pid: sleeper.pid! });
    const s = collect(stream);
    try {
      const first = await s.next(1);
      expect(ids(first)).toEqual([`spiffe://${TD}/sleeper`]);
      checkSvid(first.x509_svids[0]!, h.manager.bundle!);
    } finally {
      stream.cancel();
    }
    const jwt = await fetchJwt(c, { audience: ['spire-test'], pid: sleeper.pid! });
    expect(jwt.svids.map((x) => x.id)).toEqual([{ trust_domain: TD, path: '/sleeper' }]);
  });

  it('answers UNAVAILABLE "workload attestation failed" for a pid that does not exist', async () => {
    const gone = spawn('true');
    const pid = gone.pid!;
    await new Promise((r) => gone.once('exit', r));
    const err = await streamError(c.SubscribeToX509SVIDs({ pid }));
    expect(err).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'workload attestation failed' });
  });

  it('fetches JWT-SVIDs for an audience, one per delegable entry', async () => {
    const res = await fetchJwt(c, { audience: ['spire-test', 'other'], selectors: [{ type: 'k8s', value: 'ns:web' }] });
    expect(res.svids.map((x) => x.id)).toEqual([{ trust_domain: TD, path: '/web' }]);
    const svid = res.svids[0]!;
    expect(svid.hint).toBe('web');
    const v = validateJwtSvid(svid.token, { audience: 'spire-test', bundles: new Map([[TD, h.manager.bundle!]]), now: h.time.now() });
    expect(v.spiffeId.toString()).toBe(`spiffe://${TD}/web`);
    expect(svid.expires_at).toBe(v.claims.exp);
    expect(svid.issued_at).toBe(v.claims.iat);
    expect(svid.issued_at).toBeGreaterThan(0);
    expect(h.server.calls.jwt.at(-1)).toEqual({ entryId: 'web', audience: ['spire-test', 'other'] });
    await expect(fetchJwt(c, { audience: ['a'], selectors: [{ type: 'k8s', value: 'ns:nothing' }] })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
  });

  it('streams X.509 and JWT bundles of every trust domain, and pushes when they change', async () => {
    const x509 = c.SubscribeToX509Bundles({});
    const jwt = c.SubscribeToJWTBundles({});
    const xs = collect(x509);
    const js = collect(jwt);
    try {
      const own = h.manager.bundle!;
      const x1 = (await xs.next(1)) as delegatedIdentityV1.SubscribeToX509BundlesResponse__Output;
      expect(Object.keys(x1.ca_certificates)).toEqual([`spiffe://${TD}`]);
      expect(x1.ca_certificates[`spiffe://${TD}`]).toEqual(concatCertificates(own.x509Authorities));
      const j1 = (await js.next(1)) as delegatedIdentityV1.SubscribeToJWTBundlesResponse__Output;
      const jwks = JSON.parse(Buffer.from(j1.bundles[`spiffe://${TD}`]!).toString('utf8')) as { keys: { kid: string; x?: string; use?: string }[] };
      expect(jwks.keys.map((k) => k.kid)).toEqual(own.jwtAuthorities.map((a) => a.keyId));
      expect(jwks.keys.length).toBeGreaterThan(0);
      // The JWK is the authority's public key.
      const jwk = createPublicKey({ key: jwks.keys[0] as unknown as JsonWebKey, format: 'jwk' });
      expect(jwk.export({ type: 'spki', format: 'der' })).toEqual(Buffer.from(own.jwtAuthorities[0]!.publicKeyDer));

      // A federated trust domain appears when an entry federates with it.
      const fedCa = await makeCa('fed.example');
      const fed = bundleOf(fedCa, [await makeJwtKey()]);
      h.server.federated.set('fed.example', fed);
      h.server.put(entry('fed-web', '/fed-web', ['k8s:ns:fed'], { federatesWith: ['fed.example'] }));
      await h.advance(60_000);
      const x2 = (await xs.next(2)) as delegatedIdentityV1.SubscribeToX509BundlesResponse__Output;
      expect(Object.keys(x2.ca_certificates).sort()).toEqual([`spiffe://${TD}`, 'spiffe://fed.example']);
      expect(x2.ca_certificates['spiffe://fed.example']).toEqual(Buffer.from(fedCa.cert.der));
      const j2 = (await js.next(2)) as delegatedIdentityV1.SubscribeToJWTBundlesResponse__Output;
      const fedJwks = JSON.parse(Buffer.from(j2.bundles['spiffe://fed.example']!).toString('utf8')) as { keys: { kid: string }[] };
      expect(fedJwks.keys.map((k) => k.kid)).toEqual([fed.jwtAuthorities[0]!.keyId]);

      // And the X.509-SVID stream of a federating workload names the trust domain.
      const svids = c.SubscribeToX509SVIDs({ selectors: [{ type: 'k8s', value: 'ns:fed' }] });
      try {
        const first = await collect(svids).next(1);
        expect(ids(first)).toEqual([`spiffe://${TD}/fed-web`]);
        expect(first.federates_with).toEqual(['spiffe://fed.example']);
      } finally {
        svids.cancel();
      }
    } finally {
      x509.cancel();
      jwt.cancel();
    }
  });

  it('ends the streams of a delegate that lost its authorization at the next push', async () => {
    const stream = c.SubscribeToX509SVIDs({ selectors: [{ type: 'k8s', value: 'ns:web' }] });
    const bundles = c.SubscribeToX509Bundles({});
    const s = collect(stream);
    const b = collect(bundles);
    await s.next(1);
    await b.next(1);
    h.server.entries.delete('delegate');
    // A new revision of the web entry (its SVID is re-minted) and a federated bundle change.
    h.server.put(entry('web', '/web', ['k8s:ns:web'], { hint: 'web', revisionNumber: 2 }));
    h.server.federated.set('fed.example', bundleOf(await makeCa('fed.example')));
    await h.advance(60_000);
    await settle(h.manager);
    await expect(s.next(2)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
    await expect(b.next(2)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
    await expect(fetchJwt(c, { audience: ['a'], selectors: [{ type: 'k8s', value: 'ns:web' }] })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });
});
