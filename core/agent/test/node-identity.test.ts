/**
 * The agent's node identity against a real spire-server (run in-process with
 * the SQLite DataStore and disk KeyManager): join token attestation over TLS,
 * persistence and reuse across restarts, renewal at half-life, ban, refusal
 * of a wrong bootstrap bundle, insecure bootstrap, and the refusals at start
 * (used join token with an expired SVID, trust domain change, no token after
 * an eviction); a ban met by the sync manager said once.
 */
import { X509Certificate } from 'node:crypto';
import { cpSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatCertificates, memoryLogger, type PluginDeclaration } from '@spire-ts/common';
import type { RuntimeConfig } from '../src/config/runtime.js';
import { AgentManager, DEGRADED_MESSAGE } from '../src/manager/index.js';
import { NodeIdentityError } from '../src/node/errors.js';
import { nodeIdentityOptions, type NodeIdentity } from '../src/node/identity.js';
import { BUNDLE_FILE, DATA_FILE, KEY_FILE, SVID_FILE } from '../src/node/storage.js';
import { bundleFile, identity, joinToken, selfSigned, startServer, tempDir, TD, unary, type Harness } from './node-fixtures.js';

let h: Harness;
const dirs: string[] = [];
const running: NodeIdentity[] = [];

function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  h = await startServer({ extra: '  agent_ttl = "20s"' });
}, 60_000);

afterAll(async () => {
  for (const r of running) await r.stop();
  await h?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function serial(chain: readonly Uint8Array[]): string {
  return new X509Certificate(chain[0]!).serialNumber;
}

async function agentOnServer(spiffeId: string) {
  const c = h.local('spire.api.server.agent.v1.Agent');
  return unary(c.GetAgent.bind(c), { id: { trust_domain: TD, path: new URL(spiffeId).pathname } });
}

describe('node identity', () => {
  let dataDir: string;
  let token: string;
  let firstSerial: string;

  it('attests with a join token, verifying the server against the bootstrap bundle, and persists the identity', async () => {
    dataDir = dir();
    token = await joinToken(h);
    const id = identity(h, { dataDir, joinToken: token, trustBundle: { kind: 'path', path: await bundleFile(h, dataDir), format: 'pem' } });
    await id.start();
    try {
      expect(id.svid.spiffeId).toBe(`spiffe://${TD}/spire/agent/join_token/${token}`);
      expect(id.reattestable).toBe(false);
      firstSerial = serial(id.svid.chain);
      expect(BigInt((await agentOnServer(id.svid.spiffeId)).x509svid_serial_number)).toBe(BigInt(`0x${firstSerial}`));
      // Files: chain, key (0600), bundle, data.
      expect(readFileSync(join(dataDir, SVID_FILE))).toEqual(concatCertificates(id.svid.chain));
      expect(statSync(join(dataDir, KEY_FILE)).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(dataDir, BUNDLE_FILE))).toEqual(concatCertificates(id.bundle.x509Authorities));
      expect(JSON.parse(readFileSync(join(dataDir, DATA_FILE), 'utf8'))).toEqual({ trust_domain: TD, reattestable: false, spiffe_id: id.svid.spiffeId });
      // The mTLS connection works for agent-only RPCs.
      expect(await id.api.syncAuthorizedEntries()).toEqual([]);
      expect((await id.api.getBundle()).x509Authorities.length).toBeGreaterThan(0);
    } finally {
      await id.stop();
    }
  });

  it('reuses the persisted SVID on restart without attesting again (the token is already used)', async () => {
    const id = identity(h, { dataDir, joinToken: token, trustBundle: { kind: 'path', path: join(dataDir, 'bootstrap.pem'), format: 'pem' } });
    await id.start();
    try {
      expect(serial(id.svid.chain)).toBe(firstSerial);
      expect(id.logs.lines.some((l) => l.msg === 'SVID loaded')).toBe(true);
      expect(id.logs.lines.some((l) => l.msg.includes('Node attestation was successful'))).toBe(false);
      expect(await id.api.syncAuthorizedEntries()).toEqual([]);
    } finally {
      await id.stop();
    }
  });

  it('refuses a data_dir of another trust domain', async () => {
    const other = dir();
    cpSync(dataDir, other, { recursive: true });
    const id = identity(h, { dataDir: other, trustDomain: 'other.org', joinToken: 'x' });
    const err = await id.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeIdentityError);
    expect((err as Error).message).toMatch(/holds the identity of an agent of trust domain "example.org" .*but trust_domain is "other.org"/);
    await id.stop();
  });

  it('refuses a valid persisted SVID without a cached bundle when insecure bootstrap gives none', async () => {
    const other = dir();
    cpSync(dataDir, other, { recursive: true });
    rmSync(join(other, BUNDLE_FILE));
    const id = identity(h, { dataDir: other, joinToken: token, trustBundle: { kind: 'insecure' } });
    const err = await id.start().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/is valid but there is no cached trust bundle .*restore the bundle file or configure trust_bundle_path/);
    await id.stop();
  });

  it('reports an unreachable server as a failed attestation', async () => {
    const d = dir();
    const id = identity(h, { dataDir: d, serverPort: 1, joinToken: 'whatever', trustBundle: { kind: 'path', path: await bundleFile(h, d), format: 'pem' } });
    const err = await id.start().catch((e: unknown) => e);
    expect((err as NodeIdentityError).code).toBe('ERR_NODE_ATTEST');
    // What happened to the connection, not grpc-js's bookkeeping ("No connection established. Last error: ... Resolution note: ").
    expect((err as Error).message).toBe('node attestation with join_token failed: connection to 127.0.0.1:1 failed: connect ECONNREFUSED');
    await id.stop();
  });

  it('refuses to start when the persisted SVID expired and the configured join token was already used', async () => {
    const d = dir();
    const used = 'already-used-token';
    const expired = await selfSigned(`spiffe://${TD}/spire/agent/join_token/${used}`, new Date(Date.now() - 7200_000), new Date(Date.now() - 3600_000));
    writeFileSync(join(d, SVID_FILE), expired.der);
    writeFileSync(join(d, KEY_FILE), expired.key.export({ type: 'pkcs8', format: 'der' }));
    writeFileSync(join(d, DATA_FILE), JSON.stringify({ trust_domain: TD, reattestable: false, spiffe_id: '' }));
    const id = identity(h, { dataDir: d, joinToken: used, trustBundle: { kind: 'path', path: await bundleFile(h, d), format: 'pem' } });
    const err = await id.start().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/agent SVID expired and join token already-used-token already used.*create a new token with `spire-server token generate` and pass -joinToken/);
    await id.stop();
    // With a new token it attests again.
    const fresh = identity(h, { dataDir: d, joinToken: await joinToken(h), trustBundle: { kind: 'path', path: join(d, 'bootstrap.pem'), format: 'pem' } });
    await fresh.start();
    expect(fresh.svid.notAfter).toBeGreaterThan(Date.now());
    await fresh.stop();
  });

  it('refuses to talk to a server that does not verify against the bootstrap bundle', async () => {
    const d = dir();
    const wrong = await selfSigned(`spiffe://${TD}`, new Date(Date.now() - 60_000), new Date(Date.now() + 3600_000), true);
    const path = join(d, 'wrong.pem');
    writeFileSync(path, wrong.pem);
    const t = await joinToken(h);
    const id = identity(h, { dataDir: d, joinToken: t, trustBundle: { kind: 'path', path, format: 'pem' } });
    const err = await id.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeIdentityError);
    expect((err as NodeIdentityError).code).toBe('ERR_NODE_SERVER_AUTH');
    expect((err as Error).message).toBe(
      `cannot authenticate the SPIRE server at 127.0.0.1:${h.port} as spiffe://${TD}/spire/server with the trust bundle from trust_bundle_path ${path}: unable to verify the first certificate`,
    );
    expect(existsSync(join(d, SVID_FILE))).toBe(false);
    await id.stop();
    // The token was not spent: a correct bundle still attests with it.
    const ok = identity(h, { dataDir: d, joinToken: t, trustBundle: { kind: 'path', path: await bundleFile(h, d), format: 'pem' } });
    await ok.start();
    await ok.stop();
  });

  it('refuses a server whose SVID verifies but is not spiffe://<td>/spire/server of the configured trust domain', async () => {
    const d = dir();
    const id = identity(h, { dataDir: d, trustDomain: 'other.org', joinToken: 'unused', trustBundle: { kind: 'path', path: await bundleFile(h, d), format: 'pem' } });
    const err = await id.start().catch((e: unknown) => e);
    expect((err as NodeIdentityError).code).toBe('ERR_NODE_SERVER_AUTH');
    expect((err as Error).message).toContain(`the server presented SPIFFE ID spiffe://${TD}/spire/server, expected spiffe://other.org/spire/server`);
    await id.stop();
  });

  it('insecure bootstrap attests without verifying the server, warns, then pins the server bundle', async () => {
    const d = dir();
    const id = identity(h, { dataDir: d, joinToken: await joinToken(h), trustBundle: { kind: 'insecure' } });
    await id.start();
    try {
      expect(id.logs.lines.some((l) => l.level === 'warn' && /insecure bootstrap/i.test(l.msg))).toBe(true);
      expect(readFileSync(join(d, BUNDLE_FILE))).toEqual(concatCertificates(id.bundle.x509Authorities));
      expect(id.connection.credentials?.roots).toBeDefined();
      await id.api.getBundle();
    } finally {
      await id.stop();
    }
  });

  it('renews the agent SVID at half its life with a new key, persists it, and uses it', async () => {
    const d = dir();
    const id = identity(h, { dataDir: d, joinToken: await joinToken(h), trustBundle: { kind: 'path', path: await bundleFile(h, d), format: 'pem' } });
    running.push(id);
    await id.start();
    const before = id.svid;
    expect(before.notAfter - before.notBefore).toBeLessThanOrEqual(31_000);
    const renewed = await new Promise<typeof before>((resolve) => id.onSvid(resolve));
    expect(serial(renewed.chain)).not.toBe(serial(before.chain));
    expect(renewed.key).not.toBe(before.key);
    expect(Date.now()).toBeGreaterThanOrEqual(id.renewalDue(before) - 1000);
    expect(readFileSync(join(d, SVID_FILE))).toEqual(concatCertificates(renewed.chain));
    // The server activates the new serial when the agent first uses the new SVID (SPIRE's new_x509svid_serial_number).
    await id.api.syncAuthorizedEntries();
    const onServer = await agentOnServer(renewed.spiffeId);
    expect(BigInt(onServer.x509svid_serial_number)).toBe(BigInt(`0x${serial(renewed.chain)}`));
    expect(id.terminal).toBeUndefined();
  }, 40_000);

  it.each([
    ['a banned agent gets a terminal "agent is banned" event', 'BanAgent', 'ERR_NODE_BANNED', /^agent is banned/],
    ['an evicted agent gets a terminal "agent was evicted" event', 'DeleteAgent', 'ERR_NODE_EVICTED', /^agent was evicted/],
  ] as const)('%s', async (_name, rpc, code, message) => {
    const d = dir();
    const id = identity(h, { dataDir: d, joinToken: await joinToken(h), trustBundle: { kind: 'path', path: await bundleFile(h, d), format: 'pem' }, bundleRefreshMs: 300 });
    running.push(id);
    await id.start();
    const terminal = new Promise<NodeIdentityError>((resolve) => id.onTerminal(resolve));
    const admin = h.local('spire.api.server.agent.v1.Agent');
    await unary(admin[rpc].bind(admin), { id: { trust_domain: TD, path: new URL(id.svid.spiffeId).pathname } });
    expect(existsSync(join(d, SVID_FILE))).toBe(true);
    const err = await terminal;
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(id.terminal).toBe(err);
    // As SPIRE's agent: the refused SVID and its key are removed (the bundle stays), so a restart attests again.
    expect(existsSync(join(d, SVID_FILE))).toBe(false);
    expect(existsSync(join(d, KEY_FILE))).toBe(false);
    expect(existsSync(join(d, BUNDLE_FILE))).toBe(true);
  });

  it('a ban met by the sync manager is said once, by the node identity, and no sync failure follows it', async () => {
    const d = dir();
    const log = memoryLogger();
    const id = identity(h, { dataDir: d, joinToken: await joinToken(h), trustBundle: { kind: 'path', path: await bundleFile(h, d), format: 'pem' }, log, bundleRefreshMs: 600_000 });
    running.push(id);
    await id.start();
    const manager = new AgentManager({ api: id.api, trustDomain: TD, log, syncIntervalMs: 100 });
    await manager.start();
    const terminal = new Promise<NodeIdentityError>((resolve) => id.onTerminal(resolve));
    const admin = h.local('spire.api.server.agent.v1.Agent');
    await unary(admin.BanAgent.bind(admin), { id: { trust_domain: TD, path: new URL(id.svid.spiffeId).pathname } });
    expect((await terminal).code).toBe('ERR_NODE_BANNED');
    await new Promise((r) => setTimeout(r, 500));
    await manager.stop();
    const errors = log.lines.filter((l) => l.level === 'error' || l.level === 'warn').map((l) => l.msg);
    expect(errors).toEqual(['Agent is banned: removing SVID and shutting down']);
    expect(log.lines.some((l) => l.msg === DEGRADED_MESSAGE)).toBe(false);
  });

  it('after an eviction, a restart with NodeAttestor "join_token" and no token says the agent must attest again with a new token', async () => {
    const d = dir();
    const bootstrap = { kind: 'path' as const, path: await bundleFile(h, d), format: 'pem' as const };
    const id = identity(h, { dataDir: d, joinToken: await joinToken(h), trustBundle: bootstrap, joinTokenAttestor: true });
    running.push(id);
    await id.start();
    const spiffeId = id.svid.spiffeId;
    const terminal = new Promise<NodeIdentityError>((resolve) => id.onTerminal(resolve));
    const admin = h.local('spire.api.server.agent.v1.Agent');
    await unary(admin.DeleteAgent.bind(admin), { id: { trust_domain: TD, path: new URL(spiffeId).pathname } });
    await id.api.syncAuthorizedEntries().catch(() => undefined);
    expect((await terminal).code).toBe('ERR_NODE_EVICTED');
    await id.stop();

    // As the operator restarts it: the same configuration, the token (spent) no longer passed.
    const again = identity(h, { dataDir: d, trustBundle: bootstrap, joinTokenAttestor: true });
    const err = await again.start().catch((e: unknown) => e);
    await again.stop();
    expect(err).toBeInstanceOf(NodeIdentityError);
    expect((err as NodeIdentityError).code).toBe('ERR_NODE_START');
    expect((err as Error).message).toMatch(
      new RegExp(
        `^the server no longer knows this agent \\(${spiffeId}\\): it was evicted and its SVID removed at \\S+; the agent must attest again, ` +
          'and join_token attestation needs a new token: create one with `spire-server token generate` and set join_token \\(or -joinToken\\)$',
      ),
    );
    expect((err as Error).message).not.toMatch(/configure a NodeAttestor plugin/);

    // A new token attests again, and the record of the eviction goes.
    const fresh = identity(h, { dataDir: d, trustBundle: bootstrap, joinToken: await joinToken(h), joinTokenAttestor: true });
    running.push(fresh);
    await fresh.start();
    expect(JSON.parse(readFileSync(join(d, DATA_FILE), 'utf8'))).toEqual({ trust_domain: TD, reattestable: false, spiffe_id: fresh.svid.spiffeId });
  });

  it('without any SVID, NodeAttestor "join_token" without a token asks for one', async () => {
    const d = dir();
    const err = await identity(h, { dataDir: d, joinTokenAttestor: true }).start().catch((e: unknown) => e);
    expect((err as Error).message).toBe('the agent has no SVID yet and NodeAttestor "join_token" has no token: create one with `spire-server token generate` and set join_token (or -joinToken)');
    const none = await identity(h, { dataDir: d }).start().catch((e: unknown) => e);
    expect((none as Error).message).toBe('the agent has no SVID and nothing to attest with: set join_token (or -joinToken) or configure a NodeAttestor plugin');
    // From the configuration: the built-in join_token NodeAttestor declared (and not disabled).
    const cfg = (plugins: PluginDeclaration[]) =>
      ({ trustDomain: TD, serverAddress: '127.0.0.1', serverPort: h.port, dataDir: d, trustBundle: { kind: 'insecure' }, joinToken: undefined, plugins }) as unknown as RuntimeConfig;
    const log = memoryLogger();
    expect((await nodeIdentityOptions(cfg([{ type: 'NodeAttestor', name: 'join_token' }]), { log })).joinTokenAttestor).toBe(true);
    expect((await nodeIdentityOptions(cfg([{ type: 'NodeAttestor', name: 'join_token', enabled: false }]), { log })).joinTokenAttestor).toBe(false);
    expect((await nodeIdentityOptions(cfg([{ type: 'NodeAttestor', name: 'x', pluginCmd: '/bin/x' }]), { log })).joinTokenAttestor).toBe(false);
  });
});
