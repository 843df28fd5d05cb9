// The Workload API over a real Unix socket: callers identified by SO_PEERCRED
// and attested by the real `unix` WorkloadAttestor plugin (a child process),
// answered from a StaticWorkloadCache, called with a grpc-js client.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ManagedPlugin,
  memoryLogger,
  parseJwtBundleMap,
  parseX509BundleMap,
  resolveBuiltIn,
  splitCertificates,
  validateX509Svid,
} from '@spire-ts/common';
import {
  StaticWorkloadCache,
  WorkloadApiServer,
  WorkloadAttestation,
  WorkloadAttestorV1,
} from '../src/workload/index.js';
import {
  NOBODY,
  bundleOf,
  collect,
  firstMessage,
  header,
  isRoot,
  jwtMinter,
  makeCa,
  makeJwtKey,
  makeSvid,
  runClient,
  tempDir,
  unixEntry,
  fetchJwtSvid,
  validateJwtSvid,
  workloadClient,
  type JwtKey,
  type TestCa,
  type WorkloadClient,
} from './workload-fixtures.js';

const SERVICE = 'spire.plugin.agent.workloadattestor.v1.WorkloadAttestor';
const TD = 'example.org';
const myUid = process.geteuid!();

let dir: string;
let socketPath: string;
let plugin: ManagedPlugin<typeof SERVICE>;
let server: WorkloadApiServer;
let cache: StaticWorkloadCache;
let ca: TestCa;
let fedCa: TestCa;
let jwtKey: JwtKey;
let fedJwtKey: JwtKey;
const log = memoryLogger();
const clients: WorkloadClient[] = [];

function client(): WorkloadClient {
  const c = workloadClient(socketPath);
  clients.push(c);
  return c;
}

const entry = unixEntry;

beforeAll(async () => {
  const bin = resolveBuiltIn('agent', 'WorkloadAttestor', 'unix');
  if (!bin) throw new Error('the unix WorkloadAttestor is not built');
  plugin = new ManagedPlugin({
    launch: { type: 'WorkloadAttestor', name: 'unix', command: bin.command, args: bin.args },
    service: SERVICE,
    trustDomain: TD,
    log: log,
    restart: false,
  });
  await plugin.start();
  [ca, fedCa, jwtKey, fedJwtKey] = await Promise.all([makeCa(TD), makeCa('federated.test'), makeJwtKey(), makeJwtKey()]);
  cache = new StaticWorkloadCache({ trustDomain: TD, mintJwtSvid: jwtMinter(jwtKey) });
  cache.setBundle(bundleOf(ca, [jwtKey]));
  cache.setBundle(bundleOf(fedCa, [fedJwtKey]));
  dir = tempDir('wlapi-');
  socketPath = join(dir, 'public', 'api.sock');
  server = new WorkloadApiServer({
    cache,
    attestation: new WorkloadAttestation({ attestors: [new WorkloadAttestorV1(plugin)], log, timeoutMs: 10_000 }),
    trustDomain: TD,
    log,
  });
  await server.start(socketPath);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.close();
  await plugin?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Workload API: security header and caller identity', () => {
  it('a call without the security header is INVALID_ARGUMENT, on every RPC', async () => {
    const c = client();
    const noHeader = header({}, false);
    await expect(firstMessage(c.FetchX509SVID({}, noHeader))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' });
    await expect(firstMessage(c.FetchJWTBundles({}, noHeader))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(fetchJwtSvid(c, { audience: ['a'] }, noHeader)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' });
    await expect(fetchJwtSvid(c, { audience: ['a'] }, header({ 'workload.spiffe.io': 'yes' }, false))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it('a caller no entry matches gets PERMISSION_DENIED "no identity issued"', async () => {
    const c = client();
    await expect(firstMessage(c.FetchX509SVID({}, header()))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
    await expect(firstMessage(c.FetchX509Bundles({}, header()))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
    await expect(fetchJwtSvid(c, { audience: ['api'] }, header())).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
  });

  it.skipIf(!isRoot)('metadata cannot change who the caller is: identity follows the kernel credentials', async () => {
    cache.setEntry(entry('nobody', 'spiffe://example.org/nobody', `uid:${NOBODY}`), await makeSvid(ca, 'spiffe://example.org/nobody'));
    try {
      const other = runClient(socketPath, { uid: NOBODY, gid: NOBODY });
      expect(await other.firstLine).toMatchObject({ svids: ['spiffe://example.org/nobody'] });
      // This process (root) claims to be the nobody process in every way a client could.
      const forged = header({ pid: String(other.child.pid), uid: String(NOBODY), 'x-forwarded-for': 'peercred-00000000:1', 'x-spiffe-id': 'spiffe://example.org/nobody' });
      const c = client();
      await expect(firstMessage(c.FetchX509SVID({}, forged))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
    } finally {
      cache.removeEntry('nobody');
    }
  });
});

describe('Workload API: X.509', () => {
  it('serves the SVID, its PKCS#8 key, the bundle and federated bundles, and pushes rotations', async () => {
    const svid = await makeSvid(ca, 'spiffe://example.org/me');
    cache.setEntry(entry('me', 'spiffe://example.org/me', `uid:${myUid}`, { hint: 'internal', federatesWith: ['federated.test'] }), svid);
    const c = client();
    const call = c.FetchX509SVID({}, header());
    const stream = collect(call);
    try {
      const first = await stream.next(1);
      expect(first.svids).toHaveLength(1);
      const s = first.svids[0]!;
      expect(s.spiffe_id).toBe('spiffe://example.org/me');
      expect(s.hint).toBe('internal');
      const chain = splitCertificates(s.x509_svid);
      expect(chain.map((d) => Buffer.from(d))).toEqual([Buffer.from(svid.certChainDer[0]!)]);
      expect(validateX509Svid(chain[0]!, chain.slice(1), splitCertificates(s.bundle), new Date()).spiffeId.toString()).toBe('spiffe://example.org/me');
      // The key is PKCS#8 DER and belongs to the leaf.
      const key = createPrivateKey({ key: s.x509_svid_key, format: 'der', type: 'pkcs8' });
      expect(new X509Certificate(chain[0]!).checkPrivateKey(key)).toBe(true);
      expect([...parseX509BundleMap(first.federated_bundles).keys()]).toEqual(['federated.test']);
      expect(Object.keys(first.federated_bundles)).toEqual(['spiffe://federated.test']);

      const rotated = await makeSvid(ca, 'spiffe://example.org/me');
      cache.setX509Svid('me', rotated);
      const second = await stream.next(2);
      expect(Buffer.from(second.svids[0]!.x509_svid)).toEqual(Buffer.from(rotated.certChainDer[0]!));

      // An entry removed: the stream ends with PERMISSION_DENIED, as in SPIRE.
      cache.removeEntry('me');
      await expect(stream.next(3)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
      expect(stream.messages).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 50));
      expect(cache.subscriberCount).toBe(0);
    } finally {
      call.cancel();
    }
  });

  it('FetchX509Bundles keys bundles by spiffe://td and only re-sends on change', async () => {
    cache.setEntry(entry('b', 'spiffe://example.org/b', `uid:${myUid}`, { federatesWith: ['federated.test'] }), await makeSvid(ca, 'spiffe://example.org/b'));
    const call = client().FetchX509Bundles({}, header());
    const stream = collect(call);
    try {
      const first = await stream.next(1);
      expect(Object.keys(first.bundles).sort()).toEqual(['spiffe://example.org', 'spiffe://federated.test']);
      expect(parseX509BundleMap(first.bundles).get(TD)!.map((d) => Buffer.from(d))).toEqual([Buffer.from(ca.cert.der)]);
      // An SVID rotation does not change bundles: nothing is sent.
      cache.setX509Svid('b', await makeSvid(ca, 'spiffe://example.org/b'));
      const extraCa = await makeCa(TD);
      cache.setBundle({ ...bundleOf(ca, [jwtKey]), x509Authorities: [ca.cert.der, extraCa.cert.der] });
      const second = await stream.next(2);
      expect(parseX509BundleMap(second.bundles).get(TD)).toHaveLength(2);
      expect(stream.messages).toHaveLength(2);
    } finally {
      call.cancel();
      cache.setBundle(bundleOf(ca, [jwtKey]));
      cache.removeEntry('b');
    }
  });
});

describe('Workload API: JWT', () => {
  it('FetchJWTSVID → ValidateJWTSVID round trip with ES256 keys, and the JWT bundles', async () => {
    cache.setEntry(entry('j1', 'spiffe://example.org/j1', `uid:${myUid}`, { createdAt: 1 }), await makeSvid(ca, 'spiffe://example.org/j1'));
    cache.setEntry(entry('j2', 'spiffe://example.org/j2', `gid:${process.getegid!()}`, { createdAt: 2, federatesWith: ['federated.test'] }));
    try {
      const c = client();
      const res = await fetchJwtSvid(c, { audience: ['spiffe://example.org/api', 'other'] }, header());
      expect(res.svids.map((s) => s.spiffe_id)).toEqual(['spiffe://example.org/j1', 'spiffe://example.org/j2']);

      const only = await fetchJwtSvid(c, { audience: ['x'], spiffe_id: 'spiffe://example.org/j2' }, header());
      expect(only.svids.map((s) => s.spiffe_id)).toEqual(['spiffe://example.org/j2']);
      await expect(fetchJwtSvid(c, { audience: ['x'], spiffe_id: 'spiffe://example.org/not-mine' }, header())).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
      await expect(fetchJwtSvid(c, { audience: ['x'], spiffe_id: 'not an id' }, header())).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      await expect(fetchJwtSvid(c, { audience: [] }, header())).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'audience must be specified' });

      const token = res.svids[0]!.svid;
      expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'ES256', kid: jwtKey.kid, typ: 'JWT' });
      const v = await validateJwtSvid(c, { audience: 'other', svid: token }, header());
      expect(v.spiffe_id).toBe('spiffe://example.org/j1');
      const claims = v.claims!.fields;
      expect(claims.sub).toMatchObject({ stringValue: 'spiffe://example.org/j1' });
      expect(claims.aud!.listValue!.values.map((x) => x.stringValue)).toEqual(['spiffe://example.org/api', 'other']);
      expect(typeof claims.exp!.numberValue).toBe('number');

      await expect(validateJwtSvid(c, { audience: 'wrong', svid: token }, header())).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      await expect(validateJwtSvid(c, { audience: 'other', svid: `${token.slice(0, -4)}AAAA` }, header())).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'token signature is invalid' });
      await expect(validateJwtSvid(c, { audience: '', svid: token }, header())).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'audience must be specified' });
      await expect(validateJwtSvid(c, { audience: 'a', svid: '' }, header())).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'svid must be specified' });

      const call = c.FetchJWTBundles({}, header());
      try {
        const jwks = await firstMessage(call);
        expect(Object.keys(jwks.bundles).sort()).toEqual(['spiffe://example.org', 'spiffe://federated.test']);
        const parsed = JSON.parse(Buffer.from(jwks.bundles['spiffe://example.org']!).toString()) as { keys: Array<Record<string, unknown>> };
        expect(parsed.keys).toHaveLength(1);
        expect(parsed.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: jwtKey.kid });
        expect(parseJwtBundleMap(jwks.bundles).get('federated.test')!.map((k) => k.keyId)).toEqual([fedJwtKey.kid]);
      } finally {
        call.cancel();
      }
    } finally {
      cache.removeEntry('j1');
      cache.removeEntry('j2');
    }
  });

  it('foreign-trust-domain tokens keep only sub, exp and aud', async () => {
    cache.setEntry(entry('f', 'spiffe://example.org/f', `uid:${myUid}`, { federatesWith: ['federated.test'] }));
    try {
      const foreign = await jwtMinter(fedJwtKey)(
        { entryId: 'x', spiffeId: 'spiffe://federated.test/svc', selectors: [], hint: '', federatesWith: [], createdAt: 0 },
        ['aud1'],
      );
      const c = client();
      const v = await validateJwtSvid(c, { audience: 'aud1', svid: foreign.token }, header());
      expect(v.spiffe_id).toBe('spiffe://federated.test/svc');
      expect(Object.keys(v.claims!.fields).sort()).toEqual(['aud', 'exp', 'sub']);
    } finally {
      cache.removeEntry('f');
    }
  });

  it('WIT-SVIDs are UNIMPLEMENTED (after the header check)', async () => {
    const c = client();
    await expect(firstMessage(c.FetchWITSVID({ spiffe_id: '' }, header()))).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
    await expect(firstMessage(c.FetchWITBundles({}, header({}, false)))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });
});
