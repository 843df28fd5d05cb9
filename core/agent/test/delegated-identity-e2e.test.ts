// The Delegated Identity API end to end: a real spire-server and spire-agent
// (the built CLIs) with `admin_socket_path` and `authorized_delegates` set,
// entries made with the server CLI, and this test process calling the admin
// socket as the delegate (attested by the real unix WorkloadAttestor plugin).
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pemDecode, validateJwtSvid, validateX509Svid, type Bundle } from '@spire-ts/common';
import { createClient, type ServiceClientOf, type delegatedIdentityV1 } from '@spire-ts/proto';
import { E2eEnv, TD } from './e2e-harness.js';
import { collect } from './workload-fixtures.js';

type Client = ServiceClientOf<'spire.api.agent.delegatedidentity.v1.DelegatedIdentity'>;

const myUid = process.geteuid!();
const DELEGATE = `spiffe://${TD}/delegate`;
const DB = `spiffe://${TD}/db`;
const notBuilt = E2eEnv.check();
const env = new E2eEnv({ agentSyncInterval: '1s' });
const adminSocket = join(env.dir, 'private', 'admin.sock');
let client: Client;
let sleeper: ChildProcess | undefined;
let failed = false;

function roots(): Uint8Array[] {
  return pemDecode(readFileSync(env.bundlePath, 'utf8'), 'CERTIFICATE');
}

describe.skipIf(notBuilt !== undefined)('Delegated Identity API end to end (real server and agent processes)', () => {
  beforeAll(async () => {
    try {
      await env.startServer();
      await env.prepareAgent();
      const conf = join(env.dir, 'agent.conf');
      writeFileSync(conf, readFileSync(conf, 'utf8').replace('agent {\n', `agent {\n  admin_socket_path = "${adminSocket}"\n  authorized_delegates = ["${DELEGATE}"]\n`));
      await env.serverCli('entry', 'create', '-spiffeID', DELEGATE, '-parentID', `spiffe://${TD}/host`, '-selector', `unix:uid:${myUid}`);
      await env.serverCli('entry', 'create', '-spiffeID', DB, '-parentID', `spiffe://${TD}/host`, '-selector', 'unix:uid:4242', '-hint', 'db');
      await env.startAgent();
      client = createClient('spire.api.agent.delegatedidentity.v1.DelegatedIdentity', `unix://${adminSocket}`, grpc.credentials.createInsecure());
    } catch (err) {
      failed = true;
      throw new Error(`${(err as Error).message}\n${env.logs()}`);
    }
  }, 60_000);

  afterAll(async () => {
    client?.close();
    sleeper?.kill();
    if (failed || process.env.E2E_LOGS) process.stderr.write(`delegated-identity-e2e logs${failed ? ` (kept in ${env.dir})` : ''}:\n${env.logs()}\n`);
    await env.killAll(failed);
  }, 30_000);

  const step = (name: string, fn: () => Promise<void>): void => {
    it(name, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    }, 20_000);
  };

  step('streams the X.509-SVID of workload selectors to the authorized delegate', async () => {
    const stream = client.SubscribeToX509SVIDs({ selectors: [{ type: 'unix', value: 'uid:4242' }] });
    try {
      const s = collect(stream);
      let res = await s.next(1, 15_000);
      for (let n = 2; res.x509_svids.length === 0; n++) res = await s.next(n, 15_000);
      expect(res.x509_svids).toHaveLength(1);
      const svid = res.x509_svids[0]!;
      expect(svid.x509_svid!.id).toEqual({ trust_domain: TD, path: '/db' });
      expect(svid.x509_svid!.hint).toBe('db');
      const [leaf, ...rest] = svid.x509_svid!.cert_chain;
      expect(validateX509Svid(leaf!, rest, roots(), new Date()).spiffeId).toBe(DB);
      expect(new X509Certificate(leaf!).checkPrivateKey(createPrivateKey({ key: svid.x509_svid_key, format: 'der', type: 'pkcs8' }))).toBe(true);
    } finally {
      stream.cancel();
    }
  });

  step('fetches a JWT-SVID for the workload by pid and by selectors', async () => {
    sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    await new Promise((r) => sleeper!.once('spawn', r));
    const fetch = (req: delegatedIdentityV1.FetchJWTSVIDsRequest): Promise<delegatedIdentityV1.FetchJWTSVIDsResponse__Output> =>
      new Promise((resolve, reject) => client.FetchJWTSVIDs(req, (err, res) => (err ? reject(err) : resolve(res!))));
    const byPid = await fetch({ audience: ['db-clients'], pid: sleeper.pid! });
    expect(byPid.svids.map((s) => s.id)).toEqual([{ trust_domain: TD, path: '/delegate' }]);
    const bySelectors = await fetch({ audience: ['db-clients'], selectors: [{ type: 'unix', value: 'uid:4242' }] });
    expect(bySelectors.svids.map((s) => s.id)).toEqual([{ trust_domain: TD, path: '/db' }]);

    const bundles = client.SubscribeToJWTBundles({});
    try {
      const jwks = (await collect(bundles).next(1)).bundles[`spiffe://${TD}`]!;
      const keys = (JSON.parse(Buffer.from(jwks).toString('utf8')) as { keys: { kid: string; crv: string; x: string; y: string; kty: string }[] }).keys;
      expect(keys.length).toBeGreaterThan(0);
      const bundle: Bundle = {
        trustDomain: TD,
        x509Authorities: [],
        jwtAuthorities: keys.map((k) => ({ keyId: k.kid, publicKeyDer: new Uint8Array(createPublicDer(k)), expiresAt: 0 })),
        refreshHint: 0,
        sequenceNumber: 0,
      };
      const v = validateJwtSvid(bySelectors.svids[0]!.token, { audience: 'db-clients', bundles: new Map([[TD, bundle]]) });
      expect(v.spiffeId.toString()).toBe(DB);
    } finally {
      bundles.cancel();
    }
  });

  step('streams the X.509 bundle', async () => {
    const stream = client.SubscribeToX509Bundles({});
    try {
      const res = await collect(stream).next(1);
      expect(Object.keys(res.ca_certificates)).toEqual([`spiffe://${TD}`]);
      expect(Buffer.from(res.ca_certificates[`spiffe://${TD}`]!)).toEqual(Buffer.concat(roots().map((d) => Buffer.from(d))));
    } finally {
      stream.cancel();
    }
  });
});

/** The SPKI DER of a JWK, as the bundle holds JWT authorities. */
function createPublicDer(jwk: object): Buffer {
  return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}
