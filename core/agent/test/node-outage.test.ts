/**
 * The agent through a SPIRE server outage, against a real spire-server run
 * in-process, stopped and started again on the same port with the same data:
 * the sync manager serves from cache and says so once, Workload API
 * FetchJWTSVID fails with SPIRE's "could not fetch JWT-SVID: <why>" (the
 * message reaching the client, in words an operator can act on), the agent
 * syncs again within seconds of the server's return (not when grpc-js's
 * reconnect backoff ends), and a failing renewal of the agent's own SVID is
 * said when it starts and when the SVID nears expiry, not on every retry.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '@spire-ts/common';
import { runServerInProcess } from '../../server/test/server-harness.js';
import { AgentManager, DEGRADED_MESSAGE, RECOVERED_MESSAGE } from '../src/manager/index.js';
import type { NodeIdentity } from '../src/node/identity.js';
import type { NodeIdentityError } from '../src/node/errors.js';
import { WorkloadApiServer, type WorkloadAttestation } from '../src/workload/index.js';
import { bundleFile, identity, joinToken, startServer, tempDir, TD, unary, type Harness } from './node-fixtures.js';
import { fetchJwtSvid, header, workloadClient, type WorkloadClient } from './workload-fixtures.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

describe('a server outage', () => {
  const serverDir = tempDir('spire-server-outage-');
  const dataDir = tempDir();
  const wlDir = tempDir('spire-agent-wl-');
  const log = memoryLogger();
  const UID = 'uid:4242';
  let h: Harness;
  let restarted: { stop(): Promise<number> } | undefined;
  let agent: NodeIdentity;
  let manager: AgentManager;
  let workload: WorkloadApiServer;
  let client: WorkloadClient;

  beforeAll(async () => {
    h = await startServer({ dir: serverDir });
    agent = identity(h, { dataDir, joinToken: await joinToken(h), trustBundle: { kind: 'path', path: await bundleFile(h, dataDir), format: 'pem' }, log, bundleRefreshMs: 600_000 });
    await agent.start();
    const entries = h.local('spire.api.server.entry.v1.Entry');
    const res = await unary(entries.BatchCreateEntry.bind(entries), {
      entries: [{ spiffe_id: { trust_domain: TD, path: '/outage' }, parent_id: { trust_domain: TD, path: new URL(agent.svid.spiffeId).pathname }, selectors: [{ type: 'unix', value: UID }] }],
    });
    expect(res.results[0]?.status?.code).toBe(0);
    manager = new AgentManager({ api: agent.api, trustDomain: TD, log, syncIntervalMs: 250, maxSyncBackoffMs: 500 });
    await manager.start();
    await until('the entry is synced', () => manager.matchingEntries([{ type: 'unix', value: UID }]).length === 1, 15_000);
    const attestation = { attest: () => Promise.resolve([{ type: 'unix', value: UID }]) } as unknown as WorkloadAttestation;
    workload = new WorkloadApiServer({ cache: manager, attestation, trustDomain: TD, log });
    await workload.start(join(wlDir, 'api.sock'));
    client = workloadClient(join(wlDir, 'api.sock'));
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await workload?.close();
    await manager?.stop();
    await agent?.stop();
    await restarted?.stop();
    for (const d of [serverDir, dataDir, wlDir]) rmSync(d, { recursive: true, force: true });
  });

  it('serves from cache, tells workloads why a JWT-SVID cannot be had, and syncs again within seconds of the server coming back', async () => {
    const before = await fetchJwtSvid(client, { audience: ['before'] }, header());
    expect(before.svids).toHaveLength(1);
    const port = h.port;
    await h.stop();
    await until('the manager notices', () => manager.degraded, 10_000);

    // SPIRE: "could not fetch JWT-SVID: <error>", the error as an operator reads it.
    const refused = `connection to 127.0.0.1:${port} failed: connect ECONNREFUSED`;
    const err = (await fetchJwtSvid(client, { audience: ['during'] }, header()).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toBe(`could not fetch JWT-SVID: ${refused}`);
    expect(log.lines.filter((l) => l.msg === DEGRADED_MESSAGE).map((l) => l.fields.error)).toEqual([refused]);

    // Long enough for grpc-js's own reconnect backoff (1 s growing 1.6x, up to 120 s) to be well past 5 s.
    await sleep(20_000);
    expect(log.lines.filter((l) => l.msg === DEGRADED_MESSAGE)).toHaveLength(1);
    restarted = await runServerInProcess(join(serverDir, 'server.conf'), serverDir);
    const ready = Date.now();
    await until('a sync succeeds', () => !manager.degraded, 10_000);
    // Within one retry step of the manager (500 ms here) and a dial, not the channel's backoff.
    expect(Date.now() - ready).toBeLessThan(2_500);
    expect(log.lines.filter((l) => l.msg === RECOVERED_MESSAGE)).toHaveLength(1);
    const after = await fetchJwtSvid(client, { audience: ['after'] }, header());
    expect(after.svids).toHaveLength(1);

    for (const l of log.lines) expect(JSON.stringify(l)).not.toMatch(/Resolution note|No connection established|Last error/);
  }, 60_000);
});

describe('an outage longer than the agent SVID', () => {
  let h: Harness;
  const dataDir = tempDir();

  beforeAll(async () => {
    h = await startServer({ extra: '  agent_ttl = "10s"' });
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('says once that the agent SVID is past its renewal time, once that it nears expiry, not on every retry', async () => {
    const log = memoryLogger();
    const agent = identity(h, { dataDir, joinToken: await joinToken(h), trustBundle: { kind: 'path', path: await bundleFile(h, dataDir), format: 'pem' }, log, retryMs: 200, bundleRefreshMs: 600_000 });
    await agent.start();
    const terminal = new Promise<NodeIdentityError>((resolve) => agent.onTerminal(resolve));
    const { notBefore, notAfter } = agent.svid;
    await h.stop();
    const lost = await terminal;
    await agent.stop();
    expect(lost.code).toBe('ERR_NODE_IDENTITY_LOST');
    expect(Date.now()).toBeGreaterThanOrEqual(notAfter);

    const about = log.lines.filter((l) => /^Agent SVID /.test(l.msg));
    expect(about.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'Agent SVID is past its renewal time and could not be renewed; retrying'],
      ['error', 'Agent SVID is about to expire and could not be renewed; the agent stops serving when it expires'],
    ]);
    expect(about[0]!.fields).toMatchObject({ spiffe_id: agent.svid.spiffeId, expires_at: new Date(notAfter).toISOString(), error: `connection to 127.0.0.1:${h.port} failed: connect ECONNREFUSED` });
    // Renewal was retried every 200 ms over the second half of the SVID's life, silently.
    expect(notAfter - notBefore).toBeGreaterThanOrEqual(8_000);
    expect(log.lines.filter((l) => /Could not renew/.test(l.msg))).toEqual([]);
  }, 40_000);
});
