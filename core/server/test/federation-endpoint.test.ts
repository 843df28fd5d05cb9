// The federation bundle endpoint and the federated bundle client/refresher
// over real parts: two CA managers (a.test, b.test) on memory KeyManager
// plugins with real server SVIDs, a real HTTPS bundle endpoint, Web PKI
// certificates built here, and the SQL DataStore plugin for the refresher.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createServer as createNetServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCertificate, decodeSpiffeBundle, keyObjectSigner, memoryLogger, nullLogger, parseCertificate, type Bundle } from '@spire-ts/common';
import { BundleEndpointServer, BundleRefreshManager, CAManager, KeyManagerV1, ServerSvidRotator, fetchFederatedBundle } from '../src/index.js';
import type { ServerSvid } from '../src/index.js';
import { memoryKeyManager, sqlDataStoreForFile } from './plugins.js';

const clock = { now: () => new Date() };
const { ds } = sqlDataStoreForFile('federation-endpoint-');

interface Side {
  manager: CAManager;
  svid: ServerSvid;
  rotator: ServerSvidRotator;
  stop(): Promise<void>;
}

async function side(td: string): Promise<Side> {
  const km = memoryKeyManager();
  await km.start();
  const manager = await CAManager.create({ trustDomain: td, clock, keyManager: new KeyManagerV1(km), caTtlMs: 3_600_000 });
  const rotator = new ServerSvidRotator({ ca: manager.ca, clock, log: nullLogger });
  const svid = await rotator.start();
  return { manager, svid, rotator, stop: async () => { rotator.stop(); await km.stop(); } };
}

/** A Web PKI CA and a leaf for `dnsName`, PEM. */
async function webPki(dnsName: string): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const now = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 3_600_000);
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caDer = await buildCertificate(
    { subject: { commonName: 'Test Web CA', organization: ['spire-ts tests'] }, notBefore: now, notAfter, basicConstraints: { ca: true }, keyUsage: ['keyCertSign', 'cRLSign'] },
    { publicKeyDer: ca.publicKey.export({ format: 'der', type: 'spki' }), signer: keyObjectSigner(ca.privateKey) },
  );
  const leaf = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leafDer = await buildCertificate(
    { subject: { commonName: dnsName }, notBefore: now, notAfter, keyUsage: ['digitalSignature'], extKeyUsage: ['serverAuth'], dnsNames: [dnsName] },
    { publicKeyDer: leaf.publicKey.export({ format: 'der', type: 'spki' }), signer: keyObjectSigner(ca.privateKey), issuer: parseCertificate(caDer) },
  );
  return {
    caPem: new X509Certificate(Buffer.from(caDer)).toString(),
    certPem: new X509Certificate(Buffer.from(leafDer)).toString(),
    keyPem: leaf.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  };
}

/** A raw HTTPS request to the endpoint (no authentication): status, content type, body, served leaf. */
function rawRequest(port: number, method: string, path: string): Promise<{ status: number; type: string; body: string; leaf: X509Certificate }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, rejectUnauthorized: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const leaf = new X509Certificate((res.socket as TLSSocket).getPeerCertificate().raw);
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString(), leaf }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

const der64 = (d: Uint8Array): string => Buffer.from(d).toString('base64');

let a: Side;
let b: Side;
let endpoint: BundleEndpointServer;
let port: number;
const A_ID = 'spiffe://a.test/spire/server';

beforeAll(async () => {
  [a, b] = await Promise.all([side('a.test'), side('b.test')]);
  endpoint = new BundleEndpointServer({
    host: '127.0.0.1',
    port: 0,
    refreshHintMs: 300_000,
    getBundle: () => Promise.resolve(a.manager.bundle()),
    auth: { kind: 'https_spiffe', identity: a.svid },
    log: nullLogger,
  });
  await endpoint.start();
  port = endpoint.address!.port;
}, 60_000);

afterAll(async () => {
  await endpoint?.close();
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('bundle endpoint (https_spiffe)', () => {
  it('serves the trust domain bundle as a SPIFFE bundle with the configured refresh hint', async () => {
    const res = await rawRequest(port, 'GET', '/');
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/json');
    const doc = JSON.parse(res.body) as { keys: { use: string }[]; spiffe_refresh_hint: number };
    expect(doc.spiffe_refresh_hint).toBe(300);
    expect(doc.keys.map((k) => k.use)).toContain('x509-svid');
    expect(doc.keys.map((k) => k.use)).toContain('jwt-svid');
    const decoded = decodeSpiffeBundle('a.test', res.body);
    expect(decoded.x509Authorities.map(der64)).toEqual(a.manager.bundle().x509Authorities.map(der64));
    expect(decoded.jwtAuthorities.map((k) => k.keyId)).toEqual(a.manager.bundle().jwtAuthorities.map((k) => k.keyId));
    // The server presents its own X509-SVID.
    expect(res.leaf.subjectAltName).toBe(`URI:${A_ID}`);
  });

  it('answers 405 to other methods and 404 to other paths', async () => {
    const post = await rawRequest(port, 'POST', '/');
    expect(post.status).toBe(405);
    expect(post.body).toContain('method not allowed');
    expect((await rawRequest(port, 'PUT', '/')).status).toBe(405);
    expect((await rawRequest(port, 'GET', '/bundle')).status).toBe(404);
  });

  it('is fetched and authenticated by the client with the endpoint SPIFFE ID', async () => {
    const bundle = await fetchFederatedBundle({
      trustDomain: 'a.test',
      url: `https://127.0.0.1:${port}/`,
      spiffeAuth: { endpointSpiffeId: A_ID, roots: a.manager.bundle().x509Authorities },
    });
    expect(bundle.trustDomain).toBe('a.test');
    expect(bundle.refreshHint).toBe(300);
    expect(bundle.x509Authorities.map(der64)).toEqual(a.manager.bundle().x509Authorities.map(der64));
  });

  it('client: refuses an endpoint presenting another SPIFFE ID', async () => {
    await expect(
      fetchFederatedBundle({ trustDomain: 'a.test', url: `https://127.0.0.1:${port}/`, spiffeAuth: { endpointSpiffeId: 'spiffe://a.test/not-the-server', roots: a.manager.bundle().x509Authorities } }),
    ).rejects.toThrow(/unexpected ID "spiffe:\/\/a\.test\/spire\/server".*must present "spiffe:\/\/a\.test\/not-the-server"/);
  });

  it('client: refuses an endpoint whose SVID does not chain to the local bundle', async () => {
    await expect(
      fetchFederatedBundle({ trustDomain: 'a.test', url: `https://127.0.0.1:${port}/`, spiffeAuth: { endpointSpiffeId: A_ID, roots: b.manager.bundle().x509Authorities } }),
    ).rejects.toThrow(/failed to fetch bundle/);
  });

  it('client: refuses a bundle for another trust domain', async () => {
    // a.test's endpoint asked for b.test's bundle (authenticated as a.test's server): its CA names a.test.
    await expect(
      fetchFederatedBundle({ trustDomain: 'b.test', url: `https://127.0.0.1:${port}/`, spiffeAuth: { endpointSpiffeId: A_ID, roots: a.manager.bundle().x509Authorities } }),
    ).rejects.toThrow('bundle from the endpoint is not for trust domain "b.test": X.509 authority 0 belongs to "a.test"');
  });

  it('client: rejects non-https URLs and an empty endpoint SPIFFE ID', async () => {
    await expect(fetchFederatedBundle({ trustDomain: 'a.test', url: `http://127.0.0.1:${port}/` })).rejects.toThrow(/must use the https scheme/);
    await expect(
      fetchFederatedBundle({ trustDomain: 'a.test', url: `https://127.0.0.1:${port}/`, spiffeAuth: { endpointSpiffeId: '', roots: a.manager.bundle().x509Authorities } }),
    ).rejects.toThrow('no SPIFFE ID specified for federation with "a.test"');
  });

  it('client: follows https redirects with the same authentication, refuses a redirect to http', async () => {
    let target = '';
    const redirector = https.createServer({ cert: a.svid.certChainPem, key: a.svid.keyPem }, (_req, res) => res.writeHead(302, { Location: target }).end());
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    const rport = (redirector.address() as { port: number }).port;
    try {
      const auth = { endpointSpiffeId: A_ID, roots: a.manager.bundle().x509Authorities };
      target = `https://127.0.0.1:${port}/`;
      const got = await fetchFederatedBundle({ trustDomain: 'a.test', url: `https://127.0.0.1:${rport}/`, spiffeAuth: auth });
      expect(got.refreshHint).toBe(300);
      target = `http://127.0.0.1:${port}/`;
      await expect(fetchFederatedBundle({ trustDomain: 'a.test', url: `https://127.0.0.1:${rport}/`, spiffeAuth: auth })).rejects.toThrow(/only https is allowed/);
      target = `https://127.0.0.1:${rport}/`;
      await expect(fetchFederatedBundle({ trustDomain: 'a.test', url: `https://127.0.0.1:${rport}/`, spiffeAuth: auth })).rejects.toThrow(/stopped after 5 redirects/);
    } finally {
      redirector.closeAllConnections();
      await new Promise((resolve) => redirector.close(resolve));
    }
  });

  it('client: bounds the answer size and refuses documents that are not SPIFFE bundles', async () => {
    let body = '';
    const fake = https.createServer({ cert: a.svid.certChainPem, key: a.svid.keyPem }, (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(body));
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(fake.address() as { port: number }).port}/`;
    const auth = { endpointSpiffeId: A_ID, roots: a.manager.bundle().x509Authorities };
    try {
      body = 'x'.repeat(5 * 1024 * 1024);
      await expect(fetchFederatedBundle({ trustDomain: 'a.test', url, spiffeAuth: auth })).rejects.toThrow(/exceeds 4194304 bytes/);
      body = '{"not":"a bundle"}';
      await expect(fetchFederatedBundle({ trustDomain: 'a.test', url, spiffeAuth: auth })).rejects.toThrow(/failed to decode bundle from the endpoint: .*"keys"/);
    } finally {
      fake.closeAllConnections();
      await new Promise((resolve) => fake.close(resolve));
    }
  });

  it('client: https_web does not trust an X509-SVID and suggests https_spiffe', async () => {
    await expect(fetchFederatedBundle({ trustDomain: 'a.test', url: `https://127.0.0.1:${port}/` })).rejects.toThrow(/failed to fetch bundle/);
  });

  it('follows server SVID rotation (new connections get the new SVID)', async () => {
    const before = (await rawRequest(port, 'GET', '/')).leaf.serialNumber;
    const rotated = await new ServerSvidRotator({ ca: a.manager.ca, clock, log: nullLogger }).start();
    endpoint.setIdentity(rotated);
    const after = (await rawRequest(port, 'GET', '/')).leaf;
    expect(after.serialNumber).not.toBe(before);
    expect(after.serialNumber).toBe(new X509Certificate(rotated.certChainPem).serialNumber);
  });
});

describe('bundle endpoint (https_web with serving_cert_file)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'federation-web-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves with the certificate files, is verified with Web PKI, and reloads changed files', async () => {
    const { address } = await lookup('localhost');
    const first = await webPki('localhost');
    const certFilePath = join(dir, 'cert.pem');
    const keyFilePath = join(dir, 'key.pem');
    writeFileSync(certFilePath, first.certPem);
    writeFileSync(keyFilePath, first.keyPem);
    const log = memoryLogger();
    const web = new BundleEndpointServer({
      host: address,
      port: 0,
      refreshHintMs: 60_000,
      getBundle: () => Promise.resolve(a.manager.bundle()),
      auth: { kind: 'https_web', certFilePath, keyFilePath, fileSyncIntervalMs: 1_000 },
      log,
    });
    await web.start();
    try {
      const url = `https://localhost:${web.address!.port}/`;
      const got = await fetchFederatedBundle({ trustDomain: 'a.test', url, extraWebCasPem: first.caPem });
      expect(got.refreshHint).toBe(60);
      expect(got.x509Authorities.map(der64)).toEqual(a.manager.bundle().x509Authorities.map(der64));
      // Without the CA, Web PKI verification fails.
      await expect(fetchFederatedBundle({ trustDomain: 'a.test', url })).rejects.toThrow(/failed to fetch bundle/);

      // New files from another CA: picked up within the sync interval.
      const second = await webPki('localhost');
      writeFileSync(certFilePath, second.certPem);
      writeFileSync(keyFilePath, second.keyPem);
      const deadline = Date.now() + 5_000;
      let ok = false;
      while (!ok && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        ok = await fetchFederatedBundle({ trustDomain: 'a.test', url, extraWebCasPem: second.caPem }).then(() => true, () => false);
      }
      expect(ok).toBe(true);
      expect(log.lines.some((e) => e.msg === 'Bundle endpoint serving certificate reloaded')).toBe(true);
    } finally {
      await web.close();
    }
  });

  it('refuses to start with a key that does not match the certificate', async () => {
    const one = await webPki('localhost');
    const two = await webPki('localhost');
    writeFileSync(join(dir, 'c.pem'), one.certPem);
    writeFileSync(join(dir, 'k.pem'), two.keyPem);
    const bad = new BundleEndpointServer({
      host: '127.0.0.1', port: 0, refreshHintMs: 60_000, getBundle: () => Promise.resolve(a.manager.bundle()),
      auth: { kind: 'https_web', certFilePath: join(dir, 'c.pem'), keyFilePath: join(dir, 'k.pem'), fileSyncIntervalMs: 1_000 }, log: nullLogger,
    });
    await expect(bad.start()).rejects.toThrow(/does not match the certificate/);
  });
});

describe('bundle refresh manager (b.test federating with a.test)', () => {
  const stored = async (): Promise<Bundle | undefined> => ds.fetchBundle('a.test');
  const url = (): string => `https://127.0.0.1:${port}/`;
  const configured = (): Map<string, { bundleEndpointUrl: string; profile: { type: 'https_spiffe'; endpointSpiffeId: string } }> =>
    new Map([['a.test', { bundleEndpointUrl: url(), profile: { type: 'https_spiffe', endpointSpiffeId: A_ID } }]]);

  it('without a bootstrap bundle: logs that SPIFFE authentication is impossible and stores nothing', async () => {
    const log = memoryLogger();
    const m = new BundleRefreshManager({ trustDomain: 'b.test', ds, log, configured: configured(), configRefreshMs: 60_000 });
    await m.start();
    try {
      expect(m.managed).toEqual(['a.test']);
      await expect(m.refreshBundleFor('a.test')).rejects.toThrow(/can't perform SPIFFE Authentication: local copy of bundle for "a.test" not found/);
      expect(await stored()).toBeUndefined();
      expect(await m.refreshBundleFor('c.test')).toBe(false);
    } finally {
      await m.close();
    }
  });

  it('after bootstrap: fetches and stores the bundle, leaves an unchanged one alone, keeps it when the endpoint is down', async () => {
    // Bootstrap with the CA only (what `bundle set` with a PEM gives): different from what the endpoint serves.
    const own = a.manager.bundle();
    await ds.setBundle({ trustDomain: 'a.test', x509Authorities: own.x509Authorities, jwtAuthorities: [], refreshHint: 0, sequenceNumber: 0 });
    const log = memoryLogger();
    const m = new BundleRefreshManager({ trustDomain: 'b.test', ds, log, configured: configured(), configRefreshMs: 60_000 });
    await m.start();
    try {
      await expect(m.refreshBundleFor('a.test')).resolves.toBe(true);
      const got = await stored();
      expect(got?.refreshHint).toBe(300);
      expect(got?.jwtAuthorities.map((k) => k.keyId)).toEqual(own.jwtAuthorities.map((k) => k.keyId));
      expect(log.lines.some((e) => e.msg === 'Bundle refreshed' && e.fields.trust_domain === 'a.test')).toBe(true);

      const again = await m.updateBundle('a.test', configured().get('a.test')!);
      expect(again.fetched).toBeUndefined();
      expect(again.local).toBeDefined();

      // Endpoint on a port nobody listens on: the stored bundle stays.
      const down = { bundleEndpointUrl: 'https://127.0.0.1:1/', profile: { type: 'https_spiffe' as const, endpointSpiffeId: A_ID } };
      await expect(m.updateBundle('a.test', down)).rejects.toThrow(/failed to fetch federated bundle from endpoint/);
      const kept = await stored();
      expect(kept?.x509Authorities.map(der64)).toEqual(got?.x509Authorities.map(der64));
      expect(kept?.refreshHint).toBe(300);
    } finally {
      await m.close();
    }
  });

  it('picks up relationships from the DataStore (config wins) and drops deleted ones', async () => {
    const log = memoryLogger();
    const m = new BundleRefreshManager({ trustDomain: 'b.test', ds, log, configured: new Map(), configRefreshMs: 60_000 });
    await m.start();
    try {
      expect(m.managed).toEqual([]);
      await ds.createFederationRelationship({ trustDomain: 'a.test', bundleEndpointUrl: url(), bundleEndpointProfile: { type: 'https_spiffe', endpointSpiffeId: A_ID } });
      await m.reloadConfigs();
      expect(m.managed).toEqual(['a.test']);
      await expect(m.refreshBundleFor('a.test')).resolves.toBe(true);
      await ds.deleteFederationRelationship('a.test');
      await m.reloadConfigs();
      expect(m.managed).toEqual([]);
      expect(log.lines.some((e) => e.msg === 'Trust domain no longer managed')).toBe(true);
    } finally {
      await m.close();
    }
  });

  it('close() aborts a fetch hanging on a silent endpoint instead of waiting for its timeout', async () => {
    const silent = createNetServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const sport = (silent.address() as { port: number }).port;
    const log = memoryLogger();
    const m = new BundleRefreshManager({
      trustDomain: 'b.test', ds, log, configRefreshMs: 60_000,
      configured: new Map([['a.test', { bundleEndpointUrl: `https://127.0.0.1:${sport}/`, profile: { type: 'https_spiffe', endpointSpiffeId: A_ID } }]]),
    });
    try {
      await m.start();
      const pending = m.refreshBundleFor('a.test').then(() => 'resolved', (err: Error) => err.message);
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      await m.close();
      expect(Date.now() - t0).toBeLessThan(3_000);
      expect(await pending).toMatch(/bundle fetch aborted/);
    } finally {
      silent.close();
    }
  });

  it('schedules a quarter of the refresh hint, at least 15 s, 5 min without a hint', () => {
    const m = new BundleRefreshManager({ trustDomain: 'b.test', ds, log: nullLogger, configured: new Map() });
    const bundle = (refreshHint: number): Bundle => ({ trustDomain: 'a.test', x509Authorities: [], jwtAuthorities: [], refreshHint, sequenceNumber: 0 });
    expect(m.nextUpdateMs(bundle(300))).toBe(75_000);
    expect(m.nextUpdateMs(bundle(5))).toBe(15_000);
    expect(m.nextUpdateMs(bundle(0))).toBe(300_000);
  });
});
