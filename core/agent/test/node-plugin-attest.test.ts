/**
 * Node attestation through an agent NodeAttestor plugin against a real
 * spire-server running the matching server NodeAttestor plugin: payload and
 * two challenge rounds relayed over AttestAgent, a reattestable agent, and
 * re-attestation (directly, and when RenewAgent answers AGENT_MUST_REATTEST).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedPlugin, nullLogger } from '@spire-ts/common';
import { NodeAttestorV1 } from '../src/node/nodeattestor-v1.js';
import { DATA_FILE } from '../src/node/storage.js';
import { bundleFile, identity, startServerWithPlugins, tempDir, TD, unary, type Server } from './node-fixtures.js';

const AGENT_PLUGIN = fileURLToPath(new URL('./fixtures/node-attestor-plugin.mjs', import.meta.url));
const SERVER_PLUGIN = fileURLToPath(new URL('./fixtures/node-server-attestor-plugin.mjs', import.meta.url));
const AGENT_ID = `spiffe://${TD}/spire/agent/test_attestor/host1`;

let h: Server;
let plugin: ManagedPlugin<'spire.plugin.agent.nodeattestor.v1.NodeAttestor'>;
const dataDir = tempDir();

beforeAll(async () => {
  h = await startServerWithPlugins(`  NodeAttestor "test_attestor" {\n    plugin_cmd = "${process.execPath}"\n    plugin_args = ["${SERVER_PLUGIN}"]\n  }`);
  plugin = new ManagedPlugin({
    launch: { type: 'NodeAttestor', name: 'test_attestor', command: process.execPath, args: [AGENT_PLUGIN, 'ok'] },
    service: 'spire.plugin.agent.nodeattestor.v1.NodeAttestor',
    trustDomain: TD,
    log: nullLogger,
    restart: false,
  });
  await plugin.start();
}, 60_000);

afterAll(async () => {
  await plugin?.stop();
  await h?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const serial = (chain: readonly Uint8Array[]): string => new X509Certificate(chain[0]!).serialNumber;

describe('attestation with a NodeAttestor plugin', () => {
  it('relays the payload and the server challenges; the agent is reattestable', async () => {
    const id = identity(h, { dataDir, attestor: new NodeAttestorV1(plugin), trustBundle: { kind: 'path', path: await bundleFile(h, dataDir), format: 'pem' } });
    await id.start();
    try {
      expect(id.svid.spiffeId).toBe(AGENT_ID);
      expect(id.reattestable).toBe(true);
      expect(JSON.parse(readFileSync(join(dataDir, DATA_FILE), 'utf8'))).toMatchObject({ reattestable: true });
      const admin = h.local('spire.api.server.agent.v1.Agent');
      const agent = await unary(admin.GetAgent.bind(admin), { id: { trust_domain: TD, path: '/spire/agent/test_attestor/host1' } });
      expect(agent.attestation_type).toBe('test_attestor');
      expect(agent.can_reattest).toBe(true);
      expect(agent.selectors).toContainEqual({ type: 'test_attestor', value: 'host:1' });
      // Rotation of a reattestable agent is a new attestation over the mTLS connection.
      const before = serial(id.svid.chain);
      await id.rotate();
      expect(serial(id.svid.chain)).not.toBe(before);
      expect(id.svid.spiffeId).toBe(AGENT_ID);
      await id.api.syncAuthorizedEntries();
    } finally {
      await id.stop();
    }
  });

  it('re-attests when RenewAgent answers AGENT_MUST_REATTEST', async () => {
    // Persisted state claiming the agent is not reattestable: the agent tries RenewAgent first.
    const dataPath = join(dataDir, DATA_FILE);
    writeFileSync(dataPath, JSON.stringify({ ...JSON.parse(readFileSync(dataPath, 'utf8')), reattestable: false }));
    const id = identity(h, { dataDir, attestor: new NodeAttestorV1(plugin), trustBundle: { kind: 'path', path: join(dataDir, 'bootstrap.pem'), format: 'pem' } });
    await id.start();
    try {
      expect(id.reattestable).toBe(false);
      const before = serial(id.svid.chain);
      await id.rotate();
      expect(id.logs.lines.some((l) => /requires re-attestation/.test(l.msg))).toBe(true);
      expect(serial(id.svid.chain)).not.toBe(before);
      expect(id.reattestable).toBe(true);
      await id.api.getBundle();
    } finally {
      await id.stop();
    }
  });

  it('re-attests when the server answers AGENT_NOT_ACTIVE (another attestation of the node replaced its SVID), as SPIRE', async () => {
    const other = tempDir();
    const bootstrap = { kind: 'path' as const, path: await bundleFile(h, other), format: 'pem' as const };
    const a = identity(h, { dataDir: other, attestor: new NodeAttestorV1(plugin), trustBundle: bootstrap });
    await a.start();
    const b = identity(h, { dataDir: tempDir(), attestor: new NodeAttestorV1(plugin), trustBundle: bootstrap });
    try {
      // The same node attests again elsewhere: the server now knows only b's serial.
      await b.start();
      const stale = serial(a.svid.chain);
      await expect(a.api.syncAuthorizedEntries()).rejects.toMatchObject({ code: 7 });
      // a re-attests on its own and serves again.
      const deadline = Date.now() + 15_000;
      while (serial(a.svid.chain) === stale && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(serial(a.svid.chain)).not.toBe(stale);
      expect(a.terminal).toBeUndefined();
      expect(a.logs.lines.some((l) => /Agent needs to re-attest; will attempt to re-attest/.test(l.msg))).toBe(true);
      await a.api.syncAuthorizedEntries();
    } finally {
      await a.stop();
      await b.stop();
      rmSync(other, { recursive: true, force: true });
    }
  });
});
