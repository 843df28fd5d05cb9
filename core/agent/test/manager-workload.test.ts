// The cache manager behind the real Workload API server: a workload on the
// Unix socket gets the X.509-SVID the manager minted from the server CA, a new
// one when it rotates, and JWT-SVIDs that validate.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitCertificates, validateX509Svid } from '@spire-ts/common';
import { WorkloadApiServer, WorkloadAttestation } from '../src/workload/index.js';
import { collect, fetchJwtSvid, header, procAttestor, tempDir, validateJwtSvid, workloadClient, type WorkloadClient } from './workload-fixtures.js';
import { TD, entry, harness, type Harness } from './manager-support.js';

const myUid = process.geteuid!();
let h: Harness;
let dir: string;
let server: WorkloadApiServer;
let client: WorkloadClient;

beforeAll(async () => {
  // Real wall-clock time: the Workload API validates JWT-SVIDs with it.
  h = await harness({ syncIntervalMs: 60_000 }, 60 * 60_000, Date.now());
  h.server.put(entry('web', '/web', [`proc:uid:${myUid}`], { hint: 'web' }));
  h.server.put(entry('other', '/other', ['proc:uid:4242']));
  await h.manager.start();
  dir = tempDir('mgr-wl-');
  server = new WorkloadApiServer({ cache: h.manager, attestation: new WorkloadAttestation({ attestors: [procAttestor()], log: h.log }), trustDomain: TD, log: h.log, shutdownGraceMs: 500 });
  await server.start(join(dir, 'api.sock'));
  client = workloadClient(join(dir, 'api.sock'));
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await h?.manager.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('AgentManager as the Workload API cache', () => {
  // First: the X.509 test moves the manager's clock away from wall-clock time.
  it('mints JWT-SVIDs through the server and validates them', async () => {
    const res = await fetchJwtSvid(client, { audience: ['db'], spiffe_id: '' }, header());
    expect(res.svids.map((s) => [s.spiffe_id, s.hint])).toEqual([[`spiffe://${TD}/web`, 'web']]);
    const again = await fetchJwtSvid(client, { audience: ['db'], spiffe_id: '' }, header());
    expect(again.svids[0]!.svid).toBe(res.svids[0]!.svid);
    expect(h.server.calls.jwt).toHaveLength(1);
    const v = await validateJwtSvid(client, { audience: 'db', svid: res.svids[0]!.svid }, header());
    expect(v.spiffe_id).toBe(`spiffe://${TD}/web`);
  });

  it('streams the minted X.509-SVID, then the rotated one', async () => {
    const stream = collect(client.FetchX509SVID({}, header()));
    const first = await stream.next(1);
    expect(first.svids.map((s) => s.spiffe_id)).toEqual([`spiffe://${TD}/web`]);
    const [leaf, ...rest] = splitCertificates(first.svids[0]!.x509_svid);
    const roots = splitCertificates(first.svids[0]!.bundle);
    expect(validateX509Svid(leaf!, rest, roots, h.time.now()).spiffeId).toBe(`spiffe://${TD}/web`);
    const key = createPrivateKey({ key: Buffer.from(first.svids[0]!.x509_svid_key), format: 'der', type: 'pkcs8' });
    expect(new X509Certificate(leaf!).checkPrivateKey(key)).toBe(true);

    await h.runFor(35 * 60_000);
    const second = await stream.next(2);
    const leaf2 = splitCertificates(second.svids[0]!.x509_svid)[0]!;
    expect(new X509Certificate(leaf2).serialNumber).not.toBe(new X509Certificate(leaf!).serialNumber);
    expect(validateX509Svid(leaf2, [], roots, h.time.now()).spiffeId).toBe(`spiffe://${TD}/web`);
  });
});
