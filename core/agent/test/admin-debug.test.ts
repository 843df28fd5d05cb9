// The agent's admin socket: spire.agent.debug.v1.Debug/GetInfo over a real
// Unix socket, fed by the real AgentManager (server CA, fake clock) and an
// agent SVID signed by that CA.
import { generateKeyPairSync } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ServiceClientOf, type agentDebugV1 } from '@spire-ts/proto';
import { AdminApiServer, checkAdminSocketPath } from '../src/admin/index.js';
import { tempDir } from './workload-fixtures.js';
import { TD, entry, harness, type Harness } from './manager-support.js';

type DebugClient = ServiceClientOf<'spire.agent.debug.v1.Debug'>;

let h: Harness;
let dir: string;
let chain: Uint8Array[];
let startedAt: Date;
let admin: AdminApiServer;
let client: DebugClient;
const AGENT_ID = `spiffe://${TD}/spire/agent/join_token/abc`;

function getInfo(c: DebugClient): Promise<agentDebugV1.GetInfoResponse__Output> {
  return new Promise((resolve, reject) => c.GetInfo({}, (err, res) => (err ? reject(err) : resolve(res!))));
}

beforeAll(async () => {
  h = await harness({ syncIntervalMs: 60_000 });
  h.server.put(entry('web', '/web', ['proc:uid:1']));
  h.server.put(entry('db', '/db', ['proc:uid:2']));
  await h.manager.start();
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const svid = await h.server.ca.ca.signWorkloadX509Svid({ spiffeId: AGENT_ID, publicKeyDer: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) });
  chain = [svid.certificate, ...svid.chain];
  startedAt = new Date(h.time.now().getTime() - 42_000);
  dir = tempDir('admin-');
  admin = new AdminApiServer({
    source: { agentSvidChain: () => chain, bundle: () => h.manager.bundle, lastSync: () => h.manager.lastSync, stats: () => h.manager.stats },
    log: h.log,
    startedAt,
    workloadSocketPath: join(dir, 'public', 'api.sock'),
    now: () => h.time.now(),
  });
  await admin.start(join(dir, 'private', 'admin.sock'));
  client = createClient('spire.agent.debug.v1.Debug', `unix://${join(dir, 'private', 'admin.sock')}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await admin?.close();
  await h?.manager.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('admin API: Debug.GetInfo', () => {
  it('reports the verified agent SVID chain (leaf to root), uptime, last sync and cache sizes', async () => {
    expect(statSync(join(dir, 'private', 'admin.sock')).mode & 0o777).toBe(0o770);
    const info = await getInfo(client);
    const root = h.manager.bundle!.x509Authorities;
    expect(info.svid_chain.length).toBe(chain.length + 1);
    expect(info.svid_chain[0]).toMatchObject({ id: { trust_domain: TD, path: '/spire/agent/join_token/abc' } });
    expect(info.svid_chain[info.svid_chain.length - 1]!.id).toEqual({ trust_domain: TD, path: '' });
    expect(root.length).toBeGreaterThan(0);
    expect(info.svid_chain[0]!.subject).toMatch(/O=SPIRE,C=US$/);
    expect(info.svid_chain[0]!.expires_at).toBeGreaterThan(Math.floor(h.time.now().getTime() / 1000));
    expect(info.uptime).toBe(42);
    expect(info.last_sync_success).toBe(Math.floor(h.manager.lastSync!.getTime() / 1000));
    expect(info.cached_x509_svids_count).toBe(2);
    expect(info.svids_count).toBe(2);
    expect(info.cached_jwt_svids_count).toBe(0);
    expect(info.cached_svidstore_x509_svids_count).toBe(0);
  });

  it('reuses an answer for 5 seconds', async () => {
    const a = await getInfo(client);
    h.time.advance(4_000);
    expect((await getInfo(client)).uptime).toBe(a.uptime);
    h.time.advance(1_000);
    expect((await getInfo(client)).uptime).toBe(a.uptime + 5);
  });

  it('an agent SVID that does not verify against the bundle is INTERNAL', async () => {
    const saved = chain;
    chain = [saved[0]!.slice(0, saved[0]!.length - 1)];
    h.time.advance(5_000);
    try {
      await expect(getInfo(client)).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: expect.stringMatching(/^failed to verify agent SVID: /) });
    } finally {
      chain = saved;
    }
  });

  it('the admin socket cannot be beside or under the Workload API socket', () => {
    const msg = 'admin socket cannot be in the same directory or a subdirectory as that containing the Workload API socket';
    expect(() => checkAdminSocketPath('/run/spire/admin.sock', '/run/spire/api.sock')).toThrow(msg);
    expect(() => checkAdminSocketPath('/run/spire/private/admin.sock', '/run/spire/api.sock')).toThrow(msg);
    expect(() => checkAdminSocketPath('/run/spire-admin/admin.sock', '/run/spire/api.sock')).not.toThrow();
    expect(() => checkAdminSocketPath('/run/spire/admin.sock', undefined)).not.toThrow();
  });
});
