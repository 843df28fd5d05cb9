/**
 * spire-server end to end: `run` with the real plugins, then an agent's life
 * over real TLS (join token attestation, sync, SVIDs, renewal, ban) and a
 * restart that keeps the CA and the entries. Every X.509-SVID is checked by
 * node:crypto, `openssl verify` and our SPIFFE validator.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateJwtSvid, validateX509Svid, type JwtAuthority } from '@spire-ts/common';
import type { apiTypes } from '@spire-ts/proto';
import { decodeDeniedReason } from '@spire-ts/server';
import { newKeyAndCsr, pemChain, startServer, TD, unary, type ClientIdentity, type Harness } from './server-harness.js';

let h: Harness;
const dir = mkdtempSync(join(tmpdir(), 'spire-server-e2e-'));

beforeAll(async () => {
  h = await startServer({ dir });
}, 60_000);

afterAll(async () => {
  await h?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Checks an X.509-SVID three ways against the current bundle; returns its SPIFFE ID. */
async function checkSvid(chain: readonly Uint8Array[]): Promise<string> {
  const rootsPem = await h.bundlePem();
  const roots = rootsPem.split(/(?<=-----END CERTIFICATE-----\n)/).filter(Boolean).map((p) => new Uint8Array(new X509Certificate(p).raw));
  const [leaf, ...rest] = chain;
  const v = validateX509Svid(leaf!, rest, roots, new Date());
  const x = new X509Certificate(leaf!);
  expect(x.ca).toBe(false);
  expect(roots.some((r) => x.checkIssued(new X509Certificate(r)) || rest.length > 0)).toBe(true);
  const tmp = mkdtempSync(join(tmpdir(), 'svid-'));
  try {
    writeFileSync(join(tmp, 'roots.pem'), rootsPem);
    writeFileSync(join(tmp, 'leaf.pem'), pemChain([leaf!]));
    writeFileSync(join(tmp, 'chain.pem'), rest.length ? pemChain(rest) : rootsPem);
    execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(tmp, 'roots.pem'), '-untrusted', join(tmp, 'chain.pem'), join(tmp, 'leaf.pem')], { stdio: 'pipe' });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return v.spiffeId;
}

interface Attested {
  id: string;
  identity: ClientIdentity;
  chain: Uint8Array[];
}

/** AttestAgent with a join token over TLS without a client certificate. */
function attest(token: string): Promise<Attested> {
  const client = h.tls('spire.api.server.agent.v1.Agent');
  const { keyPem, csrDer } = newKeyAndCsr();
  return new Promise((resolve, reject) => {
    const call = client.AttestAgent();
    call.on('data', (res: { result?: { svid?: apiTypes.X509SVID__Output } }) => {
      const svid = res.result?.svid;
      if (!svid) return;
      const chain = svid.cert_chain.map((c) => new Uint8Array(c));
      resolve({ id: `spiffe://${svid.id?.trust_domain}${svid.id?.path}`, identity: { keyPem, certChainPem: pemChain(chain) }, chain });
      call.end();
    });
    call.on('error', reject);
    call.write({ params: { data: { type: 'join_token', payload: Buffer.from(token) }, params: { csr: csrDer } } });
  });
}

async function joinToken(ttl = 600): Promise<string> {
  const c = h.local('spire.api.server.agent.v1.Agent');
  const t = await unary(c.CreateJoinToken.bind(c), { ttl });
  return t.value;
}

function code(err: unknown): number | undefined {
  return (err as grpc.ServiceError).code;
}

describe('spire-server run', () => {
  let agent: Attested;
  let entryId: string;

  it('attests an agent with a join token and issues a valid agent SVID', async () => {
    const token = await joinToken();
    agent = await attest(token);
    expect(agent.id).toBe(`spiffe://${TD}/spire/agent/join_token/${token}`);
    expect(await checkSvid(agent.chain)).toBe(agent.id);
  });

  it('refuses a join token used twice, and an unknown one', async () => {
    const token = await joinToken();
    await attest(token);
    await expect(attest(token)).rejects.toMatchObject({ code: 3 });
    await expect(attest('no-such-token')).rejects.toMatchObject({ code: 3 });
  });

  it('serves an entry created on the admin socket to the agent within one sync', async () => {
    const entries = h.local('spire.api.server.entry.v1.Entry');
    const res = await unary(entries.BatchCreateEntry.bind(entries), {
      entries: [{ spiffe_id: { trust_domain: TD, path: '/workload' }, parent_id: { trust_domain: TD, path: new URL(agent.id).pathname }, selectors: [{ type: 'unix', value: 'uid:1000' }], dns_names: ['web.example.org'] }],
    });
    expect(res.results[0]?.status?.code).toBe(0);
    entryId = res.results[0]!.entry!.id;
    const asAgent = h.tls('spire.api.server.entry.v1.Entry', agent.identity);
    const deadline = Date.now() + 5000;
    for (;;) {
      const got = await unary(asAgent.GetAuthorizedEntries.bind(asAgent), {});
      if (got.entries.some((e) => e.id === entryId)) break;
      if (Date.now() > deadline) throw new Error('entry never reached the agent');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('signs workload X.509-SVIDs and JWT-SVIDs for the agent\'s entries only', async () => {
    const svid = h.tls('spire.api.server.svid.v1.SVID', agent.identity);
    const { csrDer } = newKeyAndCsr();
    const res = await unary(svid.BatchNewX509SVID.bind(svid), { params: [{ entry_id: entryId, csr: csrDer }, { entry_id: 'not-an-entry', csr: csrDer }] });
    expect(res.results[0]?.status?.code).toBe(0);
    expect(res.results[1]?.status?.code).not.toBe(0);
    const chain = res.results[0]!.svid!.cert_chain.map((c) => new Uint8Array(c));
    expect(await checkSvid(chain)).toBe(`spiffe://${TD}/workload`);
    expect(new X509Certificate(chain[0]!).subjectAltName).toContain('DNS:web.example.org');

    const jwt = await unary(svid.NewJWTSVID.bind(svid), { entry_id: entryId, audience: ['db'] });
    const bundle = h.local('spire.api.server.bundle.v1.Bundle');
    const b = await unary(bundle.GetBundle.bind(bundle), {});
    const keys: JwtAuthority[] = b.jwt_authorities.map((k) => ({ keyId: k.key_id, publicKeyDer: new Uint8Array(k.public_key), expiresAt: Number(k.expires_at) }));
    const v = validateJwtSvid(jwt.svid!.token, { bundles: new Map([[TD, keys]]), audience: ['db'] });
    expect(v.spiffeId.toString()).toBe(`spiffe://${TD}/workload`);
  });

  it('renews the agent: the new SVID works and then the old one is refused', async () => {
    const asAgent = h.tls('spire.api.server.agent.v1.Agent', agent.identity);
    const { keyPem, csrDer } = newKeyAndCsr();
    const res = await unary(asAgent.RenewAgent.bind(asAgent), { params: { csr: csrDer } });
    const chain = res.svid!.cert_chain.map((c) => new Uint8Array(c));
    expect(await checkSvid(chain)).toBe(agent.id);
    const renewed: Attested = { id: agent.id, chain, identity: { keyPem, certChainPem: pemChain(chain) } };
    const entriesNew = h.tls('spire.api.server.entry.v1.Entry', renewed.identity);
    await unary(entriesNew.GetAuthorizedEntries.bind(entriesNew), {});
    const entriesOld = h.tls('spire.api.server.entry.v1.Entry', agent.identity);
    const err = await unary(entriesOld.GetAuthorizedEntries.bind(entriesOld), {}).catch((e: unknown) => e);
    expect(code(err)).toBe(7);
    const details = (err as grpc.ServiceError).metadata.get('grpc-status-details-bin')[0] as Buffer;
    expect(decodeDeniedReason(details)).toBe('AGENT_NOT_ACTIVE');
    agent = renewed;
  });

  it('a banned agent is refused with AGENT_BANNED', async () => {
    const token = await joinToken();
    const other = await attest(token);
    const admin = h.local('spire.api.server.agent.v1.Agent');
    await unary(admin.BanAgent.bind(admin), { id: { trust_domain: TD, path: new URL(other.id).pathname } });
    const entries = h.tls('spire.api.server.entry.v1.Entry', other.identity);
    const err = await unary(entries.GetAuthorizedEntries.bind(entries), {}).catch((e: unknown) => e);
    expect(code(err)).toBe(7);
    expect(decodeDeniedReason((err as grpc.ServiceError).metadata.get('grpc-status-details-bin')[0] as Buffer)).toBe('AGENT_BANNED');
  });

  it('keeps its CA, entries and agents across a restart', async () => {
    const rootsBefore = await h.bundlePem();
    expect(await h.stop()).toBe(0);
    h = await startServer({ dir });
    expect(await h.bundlePem()).toBe(rootsBefore);
    const entries = h.local('spire.api.server.entry.v1.Entry');
    const got = await unary(entries.GetEntry.bind(entries), { id: entryId });
    expect(got.spiffe_id?.path).toBe('/workload');
    const asAgent = h.tls('spire.api.server.entry.v1.Entry', agent.identity);
    const auth = await unary(asAgent.GetAuthorizedEntries.bind(asAgent), {});
    expect(auth.entries.map((e) => e.id)).toContain(entryId);
  }, 60_000);

  it('answers the grpc health check on the admin socket', async () => {
    const c = h.local('grpc.health.v1.Health');
    const r = await unary(c.Check.bind(c), { service: '' });
    expect(r.status).toBe('SERVING');
  });
});

describe('spire-server run: rate limits (server.ratelimit, SPIRE defaults)', () => {
  it('one attestation per second per client IP: back-to-back attestations from 127.0.0.1 are spaced by the limiter', async () => {
    const tokens = await Promise.all([joinToken(), joinToken(), joinToken()]);
    // Let the bucket refill after the attestations above.
    await new Promise((r) => setTimeout(r, 1100));
    const t0 = Date.now();
    const done: number[] = [];
    await Promise.all(tokens.map((t) => attest(t).then(() => done.push(Date.now() - t0))));
    done.sort((a, b) => a - b);
    // The first goes through at once; the others wait for their token (1 s, then 2 s).
    expect(done[2]! - done[0]!).toBeGreaterThanOrEqual(1800);
    // Admin calls on the socket are never limited.
    const t1 = Date.now();
    await Promise.all([joinToken(), joinToken(), joinToken(), joinToken()]);
    expect(Date.now() - t1).toBeLessThan(1000);
  }, 30_000);
});
